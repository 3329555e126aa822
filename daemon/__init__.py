"""sakspost: a chat-free e-mail and case integration daemon for Norwegian health-sector document sharing.

Mail flows: receive (store raw, nothing else) -> pipeline (parse, classify, apply) ->
registry (the one state machine, audit trail, outbox in the same transaction) -> outbound
(render, send with retries).
"""

__version__ = "0.1.0"
