"""The allocator setting training starts with: freed tensor memory is reused, not faulted in again every step."""

from __future__ import annotations

import subprocess
import sys

import pytest

# allocates and fills 256 MiB twice (as a training step's tensors come and go), printing the page faults
# of each round
ROUNDS = """
import ctypes, resource, sys
from ocrtrain.engine.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
faults = []
for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(2**28)  # 256 MiB, every page written (plain malloc: numpy asks for huge pages)
    ctypes.memset(block, 1, 2**28)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""


def page_faults(mode: str) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True)
    first, second = map(int, done.stdout.split())
    return first, second


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_new_page_faults():
    first, default_second = page_faults("default")
    assert default_second > first // 2  # glibc's default: unmapped on free, faulted in again
    _, kept_second = page_faults("keep")
    assert kept_second < default_second // 20  # kept: the second round reuses the first's pages
