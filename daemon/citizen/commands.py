"""Commands a handler gives by mail on a citizen case (Norwegian names, English aliases).

Each returns, in bokmål, what changed; the reply handler confirms it to the sender by mail.
The steps themselves are the workflow's (`citizen.workflow`, `citizen.deadlines`), shared with
the command line.
"""

from __future__ import annotations

import re

from ..pipeline.commands import Command, CommandError
from . import deadlines, notices, workflow
from .deadlines import NotAllowed, nb_date

CITIZEN = ("citizen_form",)


def _form(ctx):
    return workflow.form_of(ctx.session, ctx.case)


def _run(step, *args, **kwargs):
    try:
        return step(*args, **kwargs)
    except NotAllowed as exc:
        raise CommandError(str(exc)) from None


def answered_by_post(ctx, argument):
    word = argument.split()[0] if argument.split() else ""
    try:
        on = deadlines.parse_date(word) if word else deadlines.today()
    except ValueError:
        raise CommandError(f"ukjent dato {word!r}: skriv ÅÅÅÅ-MM-DD eller DD.MM.ÅÅÅÅ") from None
    _run(workflow.answer, ctx.session, ctx.rt, ctx.case, _form(ctx), on=on, who=ctx.who,
         today_=deadlines.today(), message_pk=ctx.message.id)
    return f"besvart per post {nb_date(on)}; saken er lukket"


def refuse(ctx, argument):
    if not argument.strip():
        raise CommandError("et avslag krever en begrunnelse: #avslag BEGRUNNELSE")
    _run(workflow.record_refusal, ctx.session, ctx.case, _form(ctx), refused=True, reason=argument.strip(),
         who=ctx.who, message_pk=ctx.message.id)
    return "avslag med begrunnelse registrert; svaret må opplyse om klageretten (#klagerett)"


def complaint_notice(ctx, argument):
    _run(workflow.record_refusal, ctx.session, ctx.case, _form(ctx), statsforvalter_notice=True, who=ctx.who,
         message_pk=ctx.message.id)
    return "registrert at svaret opplyser om retten til å klage til Statsforvalteren"


_MONTHS = re.compile(r"^\s*(\d+)\s*(?:mnd\.?|måned(?:er)?|maaned(?:er)?|months?)?\s+(.*)$", re.IGNORECASE | re.DOTALL)


def extend(ctx, argument):
    m = _MONTHS.match(argument)
    months, reason = (int(m.group(1)), m.group(2)) if m else (None, argument)
    new = _run(deadlines.extend, ctx.session, ctx.rt, ctx.case, _form(ctx), months=months, reason=reason,
               who=ctx.who, today_=deadlines.today(), message_pk=ctx.message.id)
    told = ("innbyggeren har fått melding på e-post, uten begrunnelsen; den står i saken og kommer i "
            "brevet om forlengelsen") if _form(ctx).reply_address else \
        "innbyggeren må få melding om forlengelsen per post"
    return f"fristen er forlenget til {nb_date(new)}; {told}"


def ask(ctx, argument):
    actor_id, _, question = argument.strip().partition(" ")
    address = _run(workflow.ask_actor, ctx.session, ctx.rt, ctx.case, _form(ctx), actor_id, question,
                   who=ctx.who, message_pk=ctx.message.id)
    return f"spørsmålet er sendt til {address}; svaret kommer på saken"


def confirmed(ctx, argument):
    _run(workflow.confirm_source, ctx.session, ctx.rt, ctx.case, _form(ctx), argument.strip(), who=ctx.who,
         message_pk=ctx.message.id)
    return "kildens bekreftelse av sperringen er registrert; saken kan besvares per post"


def form_type(ctx, argument):
    words = argument.split()
    if not words:
        raise CommandError("mangler skjematype: #skjema kopi|tilgangslogg|sperring|endring|oppslag")
    chosen = _run(notices.form_type_word, words[0])
    missing = _run(workflow.complete, ctx.session, ctx.rt, ctx.case, _form(ctx), form_type=chosen, fields={},
                   who=ctx.who)
    said = f"skjematypen er satt til «{deadlines.title(chosen)}»; fristen er {nb_date(ctx.case.deadline)}"
    return said + (f"; skjemaet mangler fortsatt: {', '.join(missing)}" if missing else "")


def owner(ctx, argument):
    actor_id, _, reason = argument.strip().partition(" ")
    actor = ctx.rt.config.actor_by_id(actor_id)
    if actor is None:
        raise CommandError(f"ukjent aktør {actor_id!r} (kjente: {', '.join(a.id for a in ctx.rt.config.actor)})")
    old = ctx.case.owner_actor
    _run(workflow.set_owner, ctx.session, ctx.rt, ctx.case, actor.id, reason.strip(), who=ctx.who,
         message_pk=ctx.message.id)
    return f"eier endret fra {old or '-'} til {actor.id}"


COMMANDS = (
    Command("besvart-per-post", ("answered-by-post",), CITIZEN, answered_by_post, False,
            "svaret er sendt per post (DATO, standard i dag); lukker saken"),
    Command("avslag", ("refuse",), CITIZEN, refuse, True, "svaret er et avslag, med begrunnelse"),
    Command("klagerett", ("complaint-notice",), CITIZEN, complaint_notice, False,
            "svaret opplyser om retten til å klage til Statsforvalteren"),
    Command("forleng", ("extend",), CITIZEN, extend, True,
            "forleng fristen med inntil to måneder: #forleng [MÅNEDER] BEGRUNNELSE"),
    Command("spør", ("spor", "ask"), CITIZEN, ask, True, "spør en annen aktør om saken: #spør AKTØR TEKST"),
    Command("bekreftet", ("confirmed",), CITIZEN, confirmed, False, "kilden bekrefter sperringen"),
    Command("eier", ("owner",), CITIZEN, owner, True, "bytt eier (kilde) med begrunnelse"),
    Command("skjema", ("form-type",), CITIZEN, form_type, True,
            "sett skjematypen: #skjema kopi|tilgangslogg|sperring|endring|oppslag"),
)
