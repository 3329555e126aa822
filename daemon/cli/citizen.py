"""Commands of the citizen workflow: forms register/complete, cases answer/extend/letter,
reminders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlmodel import Session

from .. import views
from .common import date_arg, open_runtime, acting_user


def _citizen_step(args, step) -> int:
    """Run STEP(session, rt, case, form) on the citizen case args.id and commit; 1 if refused."""
    from ..citizen import workflow
    from ..citizen.deadlines import NotAllowed
    from ..registry.models import Case

    rt = open_runtime(args)
    try:
        with rt.writer.turn(), Session(rt.engine, expire_on_commit=False) as session:
            case = session.get(Case, args.id)
            if case is None or case.kind != "citizen_form":
                print(f"no citizen case {args.id}", file=sys.stderr)
                return 1
            try:
                said = step(session, rt, case, workflow.form_of(session, case))
            except NotAllowed as exc:
                print(f"{args.id}: {exc}", file=sys.stderr)
                return 1
            session.commit()
        print(said)
        return 0
    finally:
        rt.close()


def cmd_cases_answer(args) -> int:
    from ..citizen import workflow
    from ..citizen.deadlines import today

    on = date_arg(args.date, "--date")
    if on is None:
        return 2

    letter = None
    if args.letter:
        try:
            letter = Path(args.letter).read_bytes()
        except OSError as exc:
            print(f"--letter {args.letter}: cannot read: {exc.strerror}", file=sys.stderr)
            return 1

    def step(session, rt, case, form):
        from ..citizen import letters

        workflow.answer(session, rt, case, form, on=on, who=acting_user(), today_=today(), refused=args.refused,
                        reason=args.reason or "", statsforvalter_notice=args.statsforvalter_notice)
        if letter is not None:
            letters.keep(session, case, letter, Path(args.letter).name, who=acting_user())
        kept = f"; the letter {Path(args.letter).name} is kept on the case" if letter is not None else ""
        return f"{case.id}: answered by post on {on.isoformat()}; closed{kept}"
    return _citizen_step(args, step)


def cmd_cases_letter(args) -> int:
    day = date_arg(args.today, "--today")
    if day is None:
        return 2

    def step(session, rt, case, form):
        from ..citizen import letters
        from ..citizen.deadlines import NotAllowed
        from ..registry import cases

        kind, data = letters.write(rt, case, form, args.kind, text=args.text or "", today_=day)
        try:
            Path(args.pdf).write_bytes(data)
        except OSError as exc:
            raise NotAllowed(f"--pdf {args.pdf}: cannot write: {exc.strerror}") from None
        cases.note(session, case, "letter_written", who=acting_user(), detail={"kind": kind, "file": args.pdf})
        then = f", then record it: sakspost cases answer {case.id} --by post --letter {args.pdf}" \
            if kind == "answer" and case.state != "closed" else ""
        return f"{case.id}: {kind} letter written to {args.pdf} ({len(data)} bytes); post it{then}"
    return _citizen_step(args, step)




def cmd_cases_extend(args) -> int:
    from ..citizen import deadlines

    day = date_arg(args.today, "--today")
    if day is None:
        return 2

    def step(session, rt, case, form):
        new = deadlines.extend(session, rt, case, form, months=args.months, reason=args.reason, who=acting_user(),
                               today_=day)
        told = "notice queued to the citizen" if form.reply_address else "notice due by post"
        return f"{case.id}: deadline extended to {new.isoformat()} ({told})"
    return _citizen_step(args, step)


def cmd_forms_register(args) -> int:
    from ..citizen import workflow
    from ..citizen.deadlines import NotAllowed, today

    received = date_arg(args.received, "--received")
    if received is None:
        return 2
    try:
        fields = workflow.field_arguments(args.field or [])
    except NotAllowed as exc:
        print(f"sakspost: {exc}", file=sys.stderr)
        return 2
    scan = None
    if args.scan:
        try:
            scan = (Path(args.scan).name, Path(args.scan).read_bytes())
        except OSError as exc:
            print(f"--scan {args.scan}: cannot read: {exc.strerror}", file=sys.stderr)
            return 1
    rt = open_runtime(args)
    try:
        with rt.writer.turn(), Session(rt.engine, expire_on_commit=False) as session:
            try:
                case, linked = workflow.register_paper(session, rt, form_type=args.type, received=received,
                                                       fields=fields, scan=scan, who=acting_user(), today_=today())
            except NotAllowed as exc:
                print(f"sakspost: {exc}", file=sys.stderr)
                return 1
            session.commit()
            data = views.case_json(case, args.show_pii)
        if args.json:
            print(json.dumps({**data, "linked": linked}, ensure_ascii=False, indent=2))
        elif linked:
            print(f"{case.id}: the same form was registered within "
                  f"{rt.config.citizen.duplicate_window_hours:g} hours; linked to it, no new case")
        else:
            print(f"{case.id}: {case.form_type}, owner {case.owner_actor or '-'}, deadline {case.deadline}"
                  f"{', flags ' + case.flags if case.flags else ''}")
        return 0
    finally:
        rt.close()


def cmd_forms_complete(args) -> int:
    from ..citizen import workflow

    try:
        fields = workflow.field_arguments(args.field or [])
    except workflow.NotAllowed as exc:
        print(f"sakspost: {exc}", file=sys.stderr)
        return 2

    def step(session, rt, case, form):
        missing = workflow.complete(session, rt, case, form, form_type=args.type, fields=fields, who=acting_user())
        return f"{case.id}: " + (f"still missing {', '.join(missing)}" if missing else "complete")
    return _citizen_step(args, step)


def cmd_reminders_send(args) -> int:
    from ..citizen.deadlines import send_due_reminders

    day = date_arg(args.today, "--today")
    if day is None:
        return 2
    rt = open_runtime(args)
    try:
        sent = send_due_reminders(rt, day)
    finally:
        rt.close()
    if args.json:
        print(json.dumps([{"id": case_id, "days_before": days} for case_id, days in sent], indent=2))
    else:
        for case_id, days in sent:
            print(f"{case_id}: " + ("the deadline has passed: overdue notice queued, escalated" if days < 0 else
                                    f"reminder {days} day(s) before the deadline queued"))
        print(f"{len(sent)} reminder(s) queued for {day.isoformat()}")
    return 0
