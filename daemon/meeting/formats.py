"""The meeting report written out: one self-contained HTML page, Markdown, or CSV.

Decides what each format shows. The HTML page (`templates/nb/meeting_report.html`, tables from
`_meeting_tables.html`, styles inline, the chart as inline SVG) has no script and loads nothing
from elsewhere, so it can be put on a screen or printed. The meeting has every actor in the
room, so a case's subject (the reporter's words, which can name a patient) is shown only when
asked for (`subjects`); the service and the last `#status` (written for the working group) are
shown, identity numbers redacted. The mailed digest uses the same tables with `for_mail` set:
no free text at all, only case numbers, severity, lead, NHN's reference and classification,
ages, dates and states. CSV is for spreadsheets: one row per case, a `section` column, ISO 8601
times (UTC) and durations in hours. What senders wrote is made inert for its reader (`inert`): a
CSV cell is never a formula, a Markdown cell never a link, an image or HTML.
"""

from __future__ import annotations

import io
from datetime import timedelta

from ..inert import SpreadsheetWriter, markdown_text
from .chart import open_cases_svg
from .report import STATE_NB, MeetingReport, duration, local_day, local_time

FORMATS = ("html", "md", "csv")


def context(report: MeetingReport, *, for_mail: bool, subjects: bool = False) -> dict:
    """What the report's templates are given (the HTML page and the digest mail alike)."""
    counts = report.open_by_severity_and_age()
    return {"report": report, "chart": open_cases_svg(counts), "chart_counts": counts,
            "for_mail": for_mail, "subjects": subjects and not for_mail, "state_nb": STATE_NB, "duration": duration, "local_time": local_time,
            "local_day": local_day, "period": f"{local_time(report.since)} – {local_time(report.now)}"}


def html(report: MeetingReport, renderer, subjects: bool = False) -> str:
    return renderer.env.get_template(f"{renderer.language}/meeting_report.html").render(
        context(report, for_mail=False, subjects=subjects))


def _cell(value) -> str:
    return markdown_text(value) if value not in (None, "") else "-"


def _table(header: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["Ingen.", ""]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows), ""]


def markdown(report: MeetingReport, subjects: bool = False) -> str:
    lines = [f"# Forvaltningsmøte: saksoversikt {local_time(report.now)}", "",
             f"Åpne saker: {len(report.open)}. Lukket i perioden {local_time(report.since)} – "
             f"{local_time(report.now)}: {len(report.closed)}. Innbyggersaker nær eller over fristen: "
             f"{len(report.citizen)}.", "", "## Åpne saker", ""]
    subject = ["Emne"] if subjects else []
    lines += _table(["Sak", "Grad", "Ledende aktør", "Tilstand", "NHN-ref.", "NHN-klass.", "Alder", "Tjeneste",
                     "Siste status", "Neste steg", *subject],
                    [[c.id, c.severity, c.lead, STATE_NB.get(c.state, c.state), c.nhn_reference,
                      c.nhn_classification, duration(c.age), c.service,
                      f"{local_time(c.last_status_at)}: {c.last_status}" if c.last_status_at else "",
                      c.next_step, *([c.subject] if subjects else [])] for c in report.open])
    lines += ["## Lukket i perioden", ""]
    lines += _table(["Sak", "Grad", "Ledende aktør", "NHN-ref.", "Mottatt", "Lukket", "Til NHN", "Til retting",
                     "Til lukking", "Retting bekreftet av", "Tjeneste", *subject],
                    [[c.id, c.severity, c.lead, c.nhn_reference, local_time(c.created_at), local_time(c.closed_at),
                      duration(c.to_nhn), duration(c.to_fix), duration(c.to_close), c.confirmed_by, c.service,
                      *([c.subject] if subjects else [])] for c in report.closed])
    lines += ["## Innbyggerhenvendelser nær eller over fristen", ""]
    lines += _table(["Sak", "Skjema", "Eier", "Frist", "Dager igjen", "Tilstand"],
                    [[c.id, c.title, c.owner, local_day(c.deadline), c.days_left, STATE_NB.get(c.state, c.state)]
                     for c in report.citizen])
    return "\n".join(lines)


CSV_COLUMNS = ["section", "case", "severity", "lead", "state", "nhn_reference", "nhn_classification",
               "received_at", "age_hours", "last_status_at", "last_status", "next_step", "closed_at",
               "hours_to_nhn", "hours_to_fix", "hours_to_close", "confirmed_by", "form", "owner", "deadline",
               "days_left", "service", "subject"]


def _iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z") if moment else ""


def _hours(value: timedelta | None) -> str:
    return f"{value.total_seconds() / 3600:.1f}" if value is not None else ""


def csv_text(report: MeetingReport, subjects: bool = False) -> str:
    out = io.StringIO()
    writer = SpreadsheetWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for c in report.open:
        writer.writerow({"section": "open", "case": c.id, "severity": c.severity, "lead": c.lead, "state": c.state,
                         "nhn_reference": c.nhn_reference, "nhn_classification": c.nhn_classification,
                         "received_at": _iso(c.created_at), "age_hours": _hours(c.age),
                         "last_status_at": _iso(c.last_status_at), "last_status": c.last_status,
                         "next_step": c.next_step, "service": c.service,
                         "subject": c.subject if subjects else ""})
    for c in report.closed:
        writer.writerow({"section": "closed", "case": c.id, "severity": c.severity, "lead": c.lead,
                         "state": "closed", "nhn_reference": c.nhn_reference,
                         "nhn_classification": c.nhn_classification, "received_at": _iso(c.created_at),
                         "closed_at": _iso(c.closed_at), "hours_to_nhn": _hours(c.to_nhn),
                         "hours_to_fix": _hours(c.to_fix), "hours_to_close": _hours(c.to_close),
                         "confirmed_by": c.confirmed_by, "service": c.service,
                         "subject": c.subject if subjects else ""})
    for c in report.citizen:
        writer.writerow({"section": "citizen", "case": c.id, "state": c.state, "form": c.title, "owner": c.owner,
                         "deadline": c.deadline.isoformat(), "days_left": c.days_left})
    return out.getvalue()


def write(report: MeetingReport, fmt: str, renderer, subjects: bool = False) -> str:
    if fmt == "html":
        return html(report, renderer, subjects)
    if fmt == "md":
        return markdown(report, subjects)
    return csv_text(report, subjects)
