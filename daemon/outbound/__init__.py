"""Outbound mail: render templates into messages, queue them in the outbox, deliver them."""
