"""Commands a handler gives by mail on an incident case (Norwegian names, English aliases).

Each returns, in bokmål, what changed; the reply handler confirms it to the sender by mail.
"""

from __future__ import annotations

from ..pipeline.commands import Command, CommandError
from ..registry import cases, states
from ..outbound.wording import actor_name, state_name
from . import group, release, workflow
from .fields import SEVERITIES

INCIDENT = ("incident",)
BRIEFED = {True: "; orientering med historikk er sendt", False: ""}


def _actor(ctx, argument: str) -> tuple[str, str]:
    """(actor id, the rest of the argument as a reason)."""
    word, _, rest = argument.partition(" ")
    if not word:
        raise CommandError("mangler aktør (en [[actor]] id)")
    actor = ctx.rt.config.actor_by_id(word) or next(
        (a for a in ctx.rt.config.actor if a.id.lower() == word.lower()), None)
    if actor is None:
        known = ", ".join(a.id for a in ctx.rt.config.actor) or "ingen"
        raise CommandError(f"ukjent aktør {word!r} (kjente: {known})")
    return actor.id, rest.strip()


def severity(ctx, argument):
    value = argument.strip().upper()[:1]
    if value not in SEVERITIES:
        raise CommandError("alvorlighetsgrad må være A, B, C eller D")
    old = ctx.case.severity
    if old == value:
        return f"alvorlighetsgrad er allerede {value}"
    escalated_before = ctx.case.escalated_at is not None
    cases.change(ctx.session, ctx.case, who=ctx.who, message_pk=ctx.message.id, severity=value)
    workflow.severity_changed(ctx.session, ctx.rt, ctx.case, who=ctx.who, old=old)
    if ctx.case.state == states.AWAITING_INFO and not workflow.missing(ctx.rt, ctx.case):
        cases.transition(ctx.session, ctx.case, states.OPEN, who=ctx.who, reason="documented")
    if not escalated_before and ctx.case.escalated_at is not None:
        return f"alvorlighetsgrad endret fra {old or '-'} til {value}; saken er meldt til NHNs kundesenter"
    if escalated_before:
        return f"alvorlighetsgrad endret fra {old or '-'} til {value}; NHN har fått oppdateringen i samme tråd"
    return f"alvorlighetsgrad endret fra {old or '-'} til {value}"


def lead(ctx, argument):
    actor_id, reason = _actor(ctx, argument)
    if not reason:
        raise CommandError("bytte av leder krever en begrunnelse: #leder AKTØR BEGRUNNELSE")
    old = ctx.case.lead_actor
    if old == actor_id:
        return f"{actor_name(ctx.rt.config, actor_id)} leder allerede saken"
    cases.change(ctx.session, ctx.case, who=ctx.who, message_pk=ctx.message.id, action="lead_changed",
                 reason=reason, lead_actor=actor_id)
    if old:
        cases.add_actor(ctx.session, ctx.case, old, "member", who=ctx.who, message_pk=ctx.message.id)
    return (f"ledende aktør endret fra {actor_name(ctx.rt.config, old) or '-'} til "
            f"{actor_name(ctx.rt.config, actor_id)} ({reason})")


def member(ctx, argument):
    actor_id, _ = _actor(ctx, argument)
    added = cases.add_actor(ctx.session, ctx.case, actor_id, "member", who=ctx.who, message_pk=ctx.message.id)
    if not added:
        return f"{actor_name(ctx.rt.config, actor_id)} er allerede med i arbeidsgruppen"
    briefed = group.brief(ctx.session, ctx.rt, ctx.case, actor_id, "member", who=ctx.who)
    return f"{actor_name(ctx.rt.config, actor_id)} lagt til i arbeidsgruppen{BRIEFED[briefed]}"


def vendor(ctx, argument):
    actor_id, _ = _actor(ctx, argument)
    added = cases.add_actor(ctx.session, ctx.case, actor_id, "vendor", who=ctx.who, message_pk=ctx.message.id)
    if not added:
        return f"leverandør {actor_name(ctx.rt.config, actor_id)} er allerede med i arbeidsgruppen"
    briefed = group.brief(ctx.session, ctx.rt, ctx.case, actor_id, "vendor", who=ctx.who)
    return f"leverandør {actor_name(ctx.rt.config, actor_id)} lagt til i arbeidsgruppen{BRIEFED[briefed]}"


def escalate(ctx, argument):
    if not workflow.escalate_to_nhn(ctx.session, ctx.rt, ctx.case, who=ctx.who,
                                    reason=argument or "meldt av saksbehandler", released=True):
        if ctx.case.escalated_at is not None:
            return "saken var allerede meldt til NHN"
        raise CommandError("kan ikke melde til NHN: ingen [nhn].intake_address er satt opp")
    return "saken er meldt til NHNs kundesenter"


def channel(ctx, argument):
    if not argument:
        raise CommandError("mangler tekst: #kanal TEKST")
    cases.change(ctx.session, ctx.case, who=ctx.who, message_pk=ctx.message.id, channel=argument)
    workflow.share_with_group(ctx.session, ctx.rt, ctx.case, "Avtalt kanal", f"Videre dialog går via: {argument}",
                              who=ctx.who, purpose="channel_notice")
    return f"videre dialog går via: {argument} (sendt til arbeidsgruppen)"


def status(ctx, argument):
    if not argument:
        raise CommandError("mangler tekst: #status TEKST")
    cases.note(ctx.session, ctx.case, "status", who=ctx.who, detail={"text": argument}, message_pk=ctx.message.id)
    workflow.share_with_group(ctx.session, ctx.rt, ctx.case, "Status", argument, who=ctx.who,
                              purpose="status_update", include_reporter=True)
    return "status sendt til arbeidsgruppen og melderen"


def resolved(ctx, argument):
    if not argument:
        raise CommandError("beskriv hva som ble gjort: #løst TEKST")
    if ctx.case.state not in (states.OPEN, states.AWAITING_INFO):
        raise CommandError(f"saken er {state_name(ctx.case.state)} og kan ikke markeres løst")
    workflow.resolve(ctx.session, ctx.rt, ctx.case, argument, who=ctx.who, message_pk=ctx.message.id)
    return f"saken er markert løst; tjenesten overvåkes i {ctx.rt.config.incident.verification_hours:g} timer"


def reopen(ctx, argument):
    if ctx.case.state not in (states.RESOLVED, states.CLOSED):
        raise CommandError(f"saken er {state_name(ctx.case.state)}, ikke løst eller lukket")
    cases.transition(ctx.session, ctx.case, states.OPEN, who=ctx.who, reason=argument or "gjenåpnet",
                     message_pk=ctx.message.id)
    return "saken er gjenåpnet"


def close(ctx, argument):
    if ctx.case.state == states.CLOSED:
        return "saken var allerede lukket"
    workflow.close(ctx.session, ctx.rt, ctx.case, who=ctx.who, message_pk=ctx.message.id, reason=argument,
                   confirmed_by=ctx.who)
    return "saken er lukket; lukkemelding er sendt til melderen og arbeidsgruppen"


def accept(ctx, argument):
    outcome = release.accept(ctx.session, ctx.rt, ctx.case, who=ctx.who)
    if not outcome:
        raise CommandError("ingenting i saken venter på å bli godtatt")
    return outcome


def note(ctx, argument):
    if not argument:
        raise CommandError("mangler tekst: #notat TEKST")
    cases.note(ctx.session, ctx.case, "internal_note", who=ctx.who, detail={"text": argument},
               message_pk=ctx.message.id)
    return "internt notat lagret (sendes ikke til melderen)"


COMMANDS = (
    Command("alvorlighetsgrad", ("severity",), INCIDENT, severity, True, "sett alvorlighetsgrad A–D"),
    Command("leder", ("lead",), INCIDENT, lead, True, "bytt ledende aktør (med begrunnelse)"),
    Command("medlem", ("member",), INCIDENT, member, True, "legg en aktør til arbeidsgruppen"),
    Command("leverandør", ("leverandor", "vendor"), INCIDENT, vendor, True, "hent inn en leverandør"),
    Command("meld-nhn", ("escalate",), INCIDENT, escalate, False, "meld saken til NHNs kundesenter"),
    Command("kanal", ("channel",), INCIDENT, channel, True, "hvilken kanal videre dialog går i"),
    Command("status", (), INCIDENT, status, True, "send status til alle i arbeidsgruppen"),
    Command("løst", ("lost", "resolved"), INCIDENT, resolved, True, "feilen er rettet; overvåk før lukking"),
    Command("gjenåpne", ("gjenapne", "reopen"), INCIDENT, reopen, False, "gjenåpne saken"),
    Command("lukk", ("close",), INCIDENT, close, False, "lukk saken og send lukkemelding"),
    Command("godta", ("accept", "frigi", "release"), INCIDENT, accept, False,
            "godta det som er holdt tilbake: ubekreftet e-post, en melding eller et varsel til NHN"),
    Command("notat", ("note",), ("incident", "citizen_form"), note, True, "internt notat"),
)
