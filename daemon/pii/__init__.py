"""Patient data in text: identity numbers (`numbers`, `disguises`), health data (`health`,
`words`), and what leaves the organisation with the record of what was removed (`disclosure`).

The identity-number functions are imported from here, as they were when this was one module.
"""

from .disguises import (
    DEFAULT_REPLACEMENT,
    contains_identity_number,
    find_identity_numbers,
    identity_number_spans,
    mask_identity_numbers,
    redact_identity_numbers,
    redact_identity_numbers_counted,
)
from .numbers import identity_number_kind, is_identity_number, mask_identity_number, normalise_identity_number

__all__ = [
    "DEFAULT_REPLACEMENT",
    "contains_identity_number",
    "find_identity_numbers",
    "identity_number_kind",
    "identity_number_spans",
    "is_identity_number",
    "mask_identity_number",
    "mask_identity_numbers",
    "normalise_identity_number",
    "redact_identity_numbers",
    "redact_identity_numbers_counted",
]
