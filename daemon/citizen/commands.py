"""Commands a handler gives by mail on a citizen case (filled in by the citizen workflow)."""

COMMANDS = ()
