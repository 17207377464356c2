"""Let paddle's bundled MKL run its fast kernels on AMD processors.

paddle's CPU wheels bundle MKL 2019 (``libmklml_intel``), which picks its matrix-multiply code path by CPU vendor:
on an AMD processor it takes a generic path even where the CPU has AVX2 and FMA. MKL of that generation honours
``MKL_DEBUG_CPU_TYPE=5`` (take the AVX2 path), read at its first call. Every convolution and matrix product paddle
runs on the CPU goes through it: on a 2-core AMD EPYC (AVX-512) a 240 x 240 x 61,440 product runs at 23 GFLOP/s
without it and 62 GFLOP/s with it (numpy's OpenBLAS: 86), and a PP-OCRv4 training step takes 0.66x (rec) to 0.74x
(det) of the time. The arithmetic is the same (another kernel's summation order: float32 rounding). Newer MKL
releases ignore the variable and dispatch well on AMD; Intel processors are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "MKL_DEBUG_CPU_TYPE"
AVX2_PATH = "5"


def mkl_cpu_type(cpuinfo: str) -> str | None:
    """The ``MKL_DEBUG_CPU_TYPE`` this CPU should run with (``/proc/cpuinfo`` text), or None to leave MKL's choice:
    the AVX2 path on an AMD processor with AVX2 and FMA."""
    vendor, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
        if vendor and flags:  # the first processor's block says it: the rest repeats it per core
            break
    return AVX2_PATH if vendor == "AuthenticAMD" and {"avx2", "fma"} <= flags else None


def select_mkl_code_path(cpuinfo_file: Path = Path("/proc/cpuinfo")) -> str | None:
    """Set ``MKL_DEBUG_CPU_TYPE`` for this process and the processes it starts, unless the user set it; must run
    before paddle's first matrix product (``import ocrtrain`` does it). Returns the value in effect."""
    if VARIABLE in os.environ:
        return os.environ[VARIABLE]
    try:
        cpu_type = mkl_cpu_type(cpuinfo_file.read_text(errors="replace"))
    except OSError:  # not Linux
        return None
    if cpu_type is not None:
        os.environ[VARIABLE] = cpu_type
    return cpu_type
