"""What a citizen's form must say before it can be answered.

Answers go by post, so every form needs the citizen's name, a valid identity number (to find
the record) and a postal address; a correction or a lookup question also needs its text, and a
lookup question something to find the lookup by. See :func:`missing_fields`.
"""

from __future__ import annotations

__all__ = ["PERIOD_OR_INSTITUTION", "missing_fields"]

_REQUIRED_ALL = ("name", "identity_number", "address")
_REQUIRED_EXTRA: dict[str, tuple[str, ...]] = {
    "correction": ("free_text",),
    "lookup_question": ("free_text",),
}
PERIOD_OR_INSTITUTION = "period_or_institution"


def missing_fields(form_type: str | None, fields: dict[str, str]) -> list[str]:
    """What the form lacks before it can be handled, as field keys, in a stable order.

    * Every form (and an unrecognised one): ``name``, a valid ``identity_number`` (to find the
      record) and a postal ``address`` (the answer goes by post; identity numbers and health
      information are never sent by e-mail).
    * ``correction``: also ``free_text``: what is wrong and what it should say.
    * ``lookup_question``: also ``free_text`` (the question) and something to find the lookup
      by: a ``period`` or an ``institution``, reported as the pseudo-key
      ``"period_or_institution"`` when both are absent.
    * ``copy_of_record``, ``access_log`` and ``blocking`` need nothing more: without a period
      or institution they cover the whole record / log / all sharing, which is what a citizen
      asking without limits is entitled to.
    """
    def present(key: str) -> bool:
        return bool((fields.get(key) or "").strip())

    wanted = list(_REQUIRED_ALL) + list(_REQUIRED_EXTRA.get(form_type or "", ()))
    missing = [key for key in wanted if not present(key)]
    if form_type == "lookup_question" and not (present("period") or present("institution")):
        missing.append(PERIOD_OR_INSTITUTION)
    return missing


