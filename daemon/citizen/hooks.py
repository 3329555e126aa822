"""What the citizen workflow gives the pipeline (`pipeline.hooks`), registered on import
(`daemon.workflows.load()`): its commands, the `citizen_form` rule (asked just before
`auto_reply`), the handler of a citizen's form and of replies on citizen cases."""

from __future__ import annotations

from ..pipeline import hooks
from ..pipeline.rules import auto_reply
from ..pipeline.verdict import CITIZEN_FORM
from . import commands, handlers, rule

hooks.commands(*commands.COMMANDS)
hooks.rule(rule, before=auto_reply)
hooks.handler(CITIZEN_FORM, handlers.new_form)
hooks.reply("citizen_form", handlers.reply)
