"""Classification rules, in the order they are asked. The first rule that returns a verdict wins.

Each rule is one module with a `name`, a one-line `description` and `check(mail, ctx)` that
returns a `Verdict` or None. Rules only look: they never write, send or commit. A workflow adds
its own rules (`pipeline.hooks.rule`): the citizen workflow's `citizen_form` is asked just
before `auto_reply`.
"""

from . import (
    not_mail,
    own_mail,
    bounce,
    nhn_mail,
    auto_reply,
    known_case,
    new_report,
)

RULES = [not_mail, own_mail, bounce, nhn_mail, auto_reply, known_case, new_report]
