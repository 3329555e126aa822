"""Read-only views the pipeline's rules ask of the registry: which case a mail belongs to.

Decides threading: the `[SAK-YYYY-NNNNNN]` tag in the subject first (an existing case only),
then our tokened Message-IDs in In-Reply-To/References, then any stored Message-ID that has a
case. Never writes.
"""

from __future__ import annotations

import functools
import re

from sqlmodel import Session, select

from ..outbound.tokens import Tokens
from .models import Case, Message
from . import sql
from .sql import Prepared

CASE_TAG = re.compile(r"\[(SAK-\d{4}-\d{6})\]")


class Lookup:
    def __init__(self, session: Session, config, tokens: Tokens):
        self.session = session
        self.config = config
        self.tokens = tokens

    def case_exists(self, case_id: str) -> bool:
        return sql.get(self.session, Case, case_id) is not None

    def case_for_tag(self, subject: str) -> str | None:
        for case_id in CASE_TAG.findall(subject or ""):
            if self.case_exists(case_id):
                return case_id
        return None

    def case_for_thread(self, mail) -> str | None:
        ids = mail.thread_ids
        for mid in ids:
            case_id = self.tokens.case_of(mid)
            if case_id and self.case_exists(case_id):
                return case_id
        if not ids:
            return None
        ids = ids[:THREAD_IDS]
        return _case_of_message_ids(len(ids)).scalar(self.session, sql.one_of_params(ids))


THREAD_IDS = 50  # of a mail's In-Reply-To and References, the first this many are looked up


@functools.cache
def _case_of_message_ids(n: int) -> Prepared:
    """The case of any stored message whose Message-ID is one of N given ones."""
    return Prepared(lambda: select(Message.case_id).where(
        sql.one_of(Message.message_id, n), Message.case_id.is_not(None)).limit(1))
