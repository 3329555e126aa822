"""The incident workflow: what a report must document, escalation to NHN, the working group,
commands by mail and closure. Decisions live here; the rows are written by registry.cases."""
