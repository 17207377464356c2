"""Freed host memory stays in the trainer's process (what saves a step from faulting its pages in again): a large
block freed keeps its pages resident with the setting and is handed back to the kernel without it."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import os, sys
import numpy as np
from ocrtrain.engine.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = resident_mib()
block = np.ones(2**26, np.float32)  # 256 MiB, written (as a step's activations are), then freed
del block
print(applied, resident_mib() - before)
"""


def held_after_free(mode: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    applied, mib = out.stdout.split()
    return applied, float(mib)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_freed_block_stays_resident_for_the_next_step():
    applied, kept = held_after_free("keep")
    _, default = held_after_free("default")
    assert applied == "True"
    assert kept > 250 and default < 10
