"""How the C allocator treats freed memory during training (glibc on Linux).

A training step frees and re-allocates the same large tensors every step. glibc serves each block above its mmap
threshold with a fresh ``mmap`` and gives it back with ``munmap`` when it is freed, so the next step touches new
pages again: ~1.6 M page faults per det step, ~3 M per rec step, about a fifth of a step's CPU time on these CPUs.
Kept in the heap instead (no mmap for large blocks, no trimming of the heap's top), freed blocks are reused.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger("ocrtrain")

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
KEEP_FREED = {
    M_MMAP_MAX: 0,  # large blocks come from the heap, where freed memory is reused
    M_TRIM_THRESHOLD: 2**31
    - 1,  # the largest value mallopt takes: the heap's free top is (almost) never returned
    M_TOP_PAD: 2**30,  # grow the heap 1 GiB at a time: fewer brk calls while it grows to a step's size
}


def keep_freed_memory() -> bool:
    """Keep freed memory in this process for reuse; True if the allocator took the settings (glibc), else nothing
    changes. Peak RSS stays what the largest step needs; the memory is not returned to the system until exit."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries: keep their defaults
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    taken = all(mallopt(param, value) == 1 for param, value in KEEP_FREED.items())
    if not taken:
        log.warning("the C allocator refused the keep-freed-memory settings; training runs with its defaults")
    return taken
