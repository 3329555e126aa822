"""The outgoing runner: delivers what the outbox holds (`outbound/sender.py`).

Woken after every pipeline transaction that queued mail. It takes what has been queued every
GATHER_SECONDS at most, and while the pipeline has messages waiting it waits for the pipeline
up to DEFER_SECONDS: under a burst, registering the cases goes first, and acknowledgements
follow in batches. A batch ends between two mails when the daemon stops.
"""

from __future__ import annotations

from ..outbound.sender import seconds_until_next, send_due
from .loop import Runner

GATHER_SECONDS = 0.25
DEFER_SECONDS = 2.0


class OutgoingRunner(Runner):
    def __init__(self, rt):
        poll = rt.config.outbox.poll_seconds
        super().__init__("outgoing", lambda: send_due(rt, self.stopping), rt.wake_sender, interval=poll,
                         next_wait=lambda: seconds_until_next(rt, poll), gather=GATHER_SECONDS,
                         defer_to=rt.pipeline_idle, defer_seconds=DEFER_SECONDS)
