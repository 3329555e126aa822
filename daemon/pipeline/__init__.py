"""The pipeline: parse a stored message, classify it with small named rules, apply the verdict.

Reading order: `parse` -> `classify` (the rules in `rules/`, top to bottom) -> `process`
(hands the verdict to the registry inside one transaction and marks the message done or failed).
"""
