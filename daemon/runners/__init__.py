"""The runners: the daemon's loops, each a named object with `start()` and `stop()`, wired by
`app.py`: the pipeline, the outgoing mail, the mailboxes, the clock, and this instance's
presence among others sharing the registry."""
