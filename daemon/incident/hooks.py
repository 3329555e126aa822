"""What the incident workflow gives the pipeline (`pipeline.hooks`), registered on import
(`daemon.workflows.load()`): its commands, the handlers of new reports and NHN's mail, replies
on incident cases (and on a case of any kind no other workflow takes), and the reader the parse
helper runs for every mail (what its text documents as a report)."""

from __future__ import annotations

from ..pipeline import hooks
from ..pipeline.verdict import NEW_REPORT, NHN_MAIL
from . import commands, handlers
from .fields import document

hooks.commands(*commands.COMMANDS)
hooks.handler(NEW_REPORT, handlers.new_report)
hooks.handler(NHN_MAIL, handlers.nhn_mail)
hooks.reply("incident", handlers.reply, default=True)
hooks.reader(document)
