"""Training kernels on CPU where paddle's are slow (``_cpu_kernels.c``, compiled by ``pip install``).

Paddle's CPU kernels for a depthwise convolution (~2.5 GFLOP/s forward and backward) and for hard-swish's gradient
(~7x its forward) were 60% of a PP-OCRv4 rec training step (paddle.profiler, batch 32, one thread). The C kernels
compute the same values (tests/models/test_cpu_kernels.py); ``depthwise_conv.py`` and ``hardswish.py`` route
training on CPU through them. Where the module was not built (no C compiler at install), paddle's kernels run and
a one-time warning says so.
"""

from __future__ import annotations

import logging

try:
    from ocrtrain.models import _cpu_kernels as native
except ImportError:
    native = None

log = logging.getLogger(__name__)
_fallback_noted = False


def available() -> bool:
    return native is not None


def note_fallback() -> None:
    """Warn once that training takes paddle's slower kernels."""
    global _fallback_noted
    if not _fallback_noted:
        _fallback_noted = True
        log.warning(
            "ocrtrain: its CPU training kernels were not built (no C compiler when ocrtrain was installed); "
            "training runs paddle's own: a PP-OCRv4 rec step takes ~2.5x as long, a det step ~1.3x"
        )
