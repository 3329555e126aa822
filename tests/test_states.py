"""The state machine is one table, and the README's diagram is drawn from it."""

import pytest

from conftest import ROOT
from daemon.registry import states


def test_readme_diagram_is_the_transition_table():
    assert states.mermaid() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_transition_outside_the_table_is_refused():
    states.check(states.OPEN, states.RESOLVED)
    with pytest.raises(states.TransitionError):
        states.check(states.NEW, states.RESOLVED)
    with pytest.raises(states.TransitionError):
        states.check(states.CLOSED, states.RESOLVED)
