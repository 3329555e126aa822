"""The pipeline runner: applies stored messages (`pipeline/process.py`) whenever the writer has
stored some, and every few seconds in any case (a claim whose daemon died expires)."""

from __future__ import annotations

from ..pipeline.process import run_until_empty
from .loop import Runner

INTERVAL_SECONDS = 5.0


class PipelineRunner(Runner):
    def __init__(self, rt):
        super().__init__("pipeline", lambda: run_until_empty(rt), rt.wake_pipeline, interval=INTERVAL_SECONDS)
