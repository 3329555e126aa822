"""How the daemon gives memory back to the system after a large message.

glibc serves a large allocation with its own mmap and unmaps it when freed, but after freeing
one it raises that threshold to the freed size (up to 32 MiB): after one 25 MB message, the next
ones are carved from the heap, which is rarely returned, and the daemon's resident memory stays
up by the size of the largest message it has seen. Fixing the threshold (any explicit setting
turns the adjustment off) keeps every allocation of a megabyte or more returnable.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 20


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold at THRESHOLD; False where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False
