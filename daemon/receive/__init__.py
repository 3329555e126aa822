"""Receivers: they accept mail and store it durably (`daemon.registry.store`), nothing more."""
