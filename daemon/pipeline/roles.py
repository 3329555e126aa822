"""Whether a mail may act in the role it claims, and what becomes of one that may not.

A mail acts in a role when it is taken as NHN's (its reference, classification and logs
recorded, its answer passed to the working group), as the reporter's (a reopen or a held
closure during verification, further details forwarded to NHN) or as a working-group member's
or vendor's (its answer passed to the group). It does so only when it proves its sender by the
same means as a command (`proof.prove`: our border's aligned `dmarc=pass` or `dkim=pass`, or
the recipient's own reply address of a mail we sent about the case), or when a handler has
accepted it (`#godta`, `sakspost cases accept`). `dmarc=fail` is never proof.

An unproven mail in a role is stored on its case, audited (`message_unproven`, and
`forgery_attempt` when its Authentication-Results were a forgery attempt) and shown to our
handlers marked as unproven, at most once an hour a case with the hour's count; nothing in it is
acted on or sent to another organisation until a handler accepts it (`held_messages` lists
what waits).

Without `[security] trusted_authserv_id` (the embedded default) there is no border to ask:
From is taken as a claim, as `check-config` and the start-up log say (`CLAIM_ONLY`).
"""

from __future__ import annotations

from sqlmodel import Session, select

from .. import notify
from ..registry import cases, limits, transaction
from ..registry.models import AuditEvent, Case
from .handlers import held
from .proof import Proof, authentication_results, prove

UNPROVEN = "message_unproven"
ACCEPTED = "message_accepted"
CLAIM_ONLY = ("no [security] trusted_authserv_id: a mail's From is taken as a claim, "
              "and mail acting as NHN, a reporter or a working-group member is believed unproven")
ROLE_NB = {"nhn": "NHN", "reporter": "melderen", "member": "medlem av arbeidsgruppen",
           "vendor": "leverandør i arbeidsgruppen"}


def claim_only(config) -> bool:
    """Whether From is only a claim here: no border whose Authentication-Results we trust."""
    return not config.security.trusted_authserv_id


def proven(mail, rt, case_id: str | None) -> Proof:
    """Whether MAIL proves its sender well enough to act in a role on CASE_ID (None: no case yet)."""
    if mail.accepted:
        return Proof(how="accepted by a handler")
    if claim_only(rt.config):
        return Proof(how="From taken as a claim ([security] trusted_authserv_id is not set)")
    return prove(mail, rt.config, rt.tokens, case_id or "")


def border_says_fail(mail, config) -> bool:
    """Whether our border says MAIL's From is forged: `dmarc=fail` for its domain in our
    Authentication-Results, or a forged spelling of them (`proof`). Such a report gets no
    acknowledgement and waits for a handler."""
    if claim_only(config):
        return False
    verdict = authentication_results(mail, config.security.trusted_authserv_id)
    return verdict.dmarc_failed or bool(verdict.forged)


def audit_forgery(session: Session, case: Case, message, mail, proof: Proof) -> None:
    """A forgery attempt in MAIL's Authentication-Results (see `proof`), on CASE's record."""
    forged = getattr(proof, "forged", "")
    if forged:
        cases.note(session, case, "forgery_attempt", who=mail.from_addr or "unknown", message_pk=message.id,
                   detail={"from": mail.from_addr, "what": forged})


def hold(session: Session, rt, case: Case, message, mail, role: str, proof: Proof) -> None:
    """MESSAGE, unproven in ROLE, stays on CASE and does nothing else: audited, and shown to our
    handlers marked as unproven (once an hour a case, with the hour's count)."""
    sender = mail.from_addr or "unknown"
    cases.note(session, case, UNPROVEN, who=sender, message_pk=message.id,
               detail={"role": role, "from": sender, "reason": proof.problem})
    if not held.has_flag(case, held.UNPROVEN_WAITS):
        cases.change(session, case, action="unproven_held",
                     flags=held.flags_with(case.flags, **{held.UNPROVEN_WAITS: True}))
    audit_forgery(session, case, message, mail, proof)
    count = limits.seen(session, "unproven_seen", case.id)
    if not limits.once_an_hour(session, "unproven_notice", case.id):
        return
    more = f" ({count} ubekreftede e-poster i saken den siste timen)" if count > 1 else ""
    text = (f"ADVARSEL: Avsenderen er ikke bekreftet. E-posten sier at den er fra {sender}\n"
            f"({ROLE_NB.get(role, role)}), men den bestod ikke avsenderkontrollen hos vår e-postserver\n"
            "og kom ikke til en svaradresse vi har gitt avsenderen. Ingenting i den er fulgt opp\n"
            "eller sendt videre til andre virksomheter.\n\n"
            "Er den ekte, svar på denne e-posten med #godta, eller kjør\n"
            f"«sakspost cases accept {case.id}».\n\n--- Ubekreftet innhold ---\n{mail.text[:8000]}")
    notify.news(session, rt, case, f"Ubekreftet avsender: e-post fra {sender}{more}", text,
                purpose="handler_unproven", sender=sender, reply_to_message=message)


def held_messages(session: Session, case: Case, also: tuple[str, ...] = ()) -> list[int]:
    """The messages held on CASE as unproven (or by one of the audit actions ALSO) that no
    handler has accepted yet, oldest first."""
    holding = (UNPROVEN, *also)
    events = list(session.exec(select(AuditEvent.action, AuditEvent.message_pk).where(
        AuditEvent.case_id == case.id, AuditEvent.action.in_((*holding, ACCEPTED))).order_by(AuditEvent.id)))
    events += [(row["action"], row["message_pk"]) for row in transaction.pending_events(session, case.id)
               if row["action"] in (*holding, ACCEPTED)]
    waiting: dict[int, None] = {}
    for action, pk in events:
        if pk is None:
            continue
        if action in holding:
            waiting[pk] = None
        else:
            waiting.pop(pk, None)
    return list(waiting)
