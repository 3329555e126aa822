"""The README's "How a mail flows" is the path one mail really takes: its numbered files (at most
twelve) are the ones a report passes from the SMTP socket to the outbox, first entered in that
order. Traced on a real receiver, writer and pipeline in this process."""

from __future__ import annotations

import asyncio
import re
import smtplib
import sys
import threading

from conftest import ROOT, free_port, incident_mail
from daemon import config as config_mod
from daemon.receive import smtp
from daemon.pipeline.process import run_until_empty
from daemon.runtime import Runtime

FLOW_STEP = re.compile(r"^\d+\. .*?`(daemon/[\w/]+\.py)`", re.M)


def readme_flow() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How a mail flows", 1)[1].split("\n## ", 1)[0]
    return FLOW_STEP.findall(section)


def test_the_readme_names_at_most_twelve_files_that_exist():
    flow = readme_flow()
    assert 5 <= len(flow) <= 12, flow
    assert len(set(flow)) == len(flow)
    for path in flow:
        assert (ROOT / path).is_file(), path


def test_one_mail_passes_the_readmes_files_in_its_order(tmp_path):
    flow = readme_flow()
    port = free_port()
    cfg = config_mod.parse({"database": {"url": f"sqlite:///{tmp_path}/sakspost.db"},
                            "paths": {"var_dir": str(tmp_path / "var")},
                            "receiver": {"host": "127.0.0.1", "port": port},
                            "pipeline": {"parse_helper": False}})
    rt = Runtime.open(cfg)
    entered: list[str] = []
    root = str(ROOT) + "/"

    def profile(frame, event, arg):
        if event == "call":
            name = frame.f_code.co_filename
            if name.startswith(root):
                rel = name[len(root):]
                if rel not in entered:
                    entered.append(rel)
        return None

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(smtp.start(cfg, rt.writer))
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    try:
        threading.setprofile(profile)  # the receiver's loop and the writer's thread, started below
        sys.setprofile(profile)  # this thread, which runs the pipeline as its runner would
        serving.start()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("kari.nordmann@sykehus.example", ["brukerstotte@sykehus.example"],
                            incident_mail(subject="Sporet melding", message_id="<traced@sykehus.example>"))
        outcome = run_until_empty(rt)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        serving.join(5)
        rt.close()
    assert list(outcome.values()) == ["new_report"]
    missing = [path for path in flow if path not in entered]
    assert not missing, f"the README names files this mail never entered: {missing}"
    assert [path for path in entered if path in flow] == flow, f"the mail took {entered}"
