"""Keeping freed host memory in the process instead of handing it back to the kernel after every step.

A training step allocates and frees the same few GB of activations and gradients each time. glibc's malloc serves
large blocks (above a threshold that adapts up to 32 MiB) with their own ``mmap`` and trims the heap top after frees,
so every step maps those pages again and the kernel zero-fills them on first touch: about a fifth of a CPU step went
to page faults (1.6 M per det step, 3 M per rec step). Set once at start-up, freed pages stay mapped and the next
step re-uses them. The process keeps its high-water mark, fragmented (rec batch 64 peaks at 6.6 instead of 4.8 GB;
``trainer.keep_freed_memory=false`` turns it off). The data workers are forked before the heap grows
(``BatchLoader.start``), so they do not share its pages copy-on-write.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("ocrtrain")

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from the heap and never trim it; False where libc is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # no libc found, or one without mallopt (musl, macOS)
        return False
    applied = (
        mallopt(M_MMAP_MAX, 0) == 1
        and mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
        and mallopt(M_TOP_PAD, 2**30) == 1
    )
    if not applied:
        log.warning("could not keep freed memory in the process (mallopt refused); training is slower")
    return applied
