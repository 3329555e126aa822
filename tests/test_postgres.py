"""Several daemons sharing one registry on PostgreSQL (127.0.0.1:5432, database `test`, trust):
no message processed twice, no case number handed out twice, one acknowledgement per case."""

from __future__ import annotations

import threading

from conftest import incident_mail, relay_config, wait_until


def test_two_daemons_share_one_registry(sakspost, relay, pg_database, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("shared-secret-for-both-daemons")
    config = {**relay_config(relay), "database": {"url": pg_database},
              "identity": {"address": "brukerstotte@sykehus.example", "secret_file": str(secret)}}
    first = sakspost(config)
    second = sakspost(config)
    mails = [incident_mail(subject=f"Feil {i}", message_id=f"<pg{i}@sykehus.example>",
                           sender=f"lege{i}@sykehus.example") for i in range(40)]

    def deliver(daemon, batch):
        for raw in batch:
            daemon.send(raw)

    threads = [threading.Thread(target=deliver, args=(first, mails[0::2])),
               threading.Thread(target=deliver, args=(second, mails[1::2])),
               threading.Thread(target=deliver, args=(second, mails[:10]))]  # redelivered via the other MX
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    cases = first.wait_cases(40, timeout=30)
    assert len(cases) == 40
    assert len({c["id"] for c in cases}) == 40
    assert sorted(c["subject"] for c in cases) == sorted(f"Feil {i}" for i in range(40))
    relay.wait_for(40, timeout=30)
    wait_until(lambda: second.stats()["outbox"]["by_status"] == {"sent": 40}, 20, what="all sent")
    assert sorted(r for m in relay.messages for r in m["rcpt_tos"]) == sorted(f"lege{i}@sykehus.example"
                                                                             for i in range(40))
    stats = second.stats()
    assert stats["messages"]["total"] == 40 and stats["messages"]["by_status"] == {"processed": 40}
    # a reply threads by the acknowledgement's token whichever daemon receives it
    ack = relay.to("lege3@sykehus.example")[0]["msg"]
    first.send(incident_mail(subject="SV: takk", message_id="<pg-reply@sykehus.example>",
                             in_reply_to=ack["Message-ID"], sender="lege3@sykehus.example"))
    case_id = ack["X-Sakspost-Case"]
    wait_until(lambda: len(second.case(case_id)["messages"]) == 3, what="reply on the case")
