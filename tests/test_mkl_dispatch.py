"""MKL's code path on AMD processors: chosen from /proc/cpuinfo at `import ocrtrain`, the user's own setting kept,
the arithmetic unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ocrtrain.mkl_dispatch import VARIABLE, mkl_cpu_type, select_mkl_code_path

AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n"
INTEL = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n"
OLD_AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx\n"
CPUINFO = Path("/proc/cpuinfo")
THIS_CPU = mkl_cpu_type(CPUINFO.read_text() if CPUINFO.is_file() else "")


def test_the_avx2_path_only_for_amd_processors_that_have_it():
    assert mkl_cpu_type(AMD) == "5"
    assert mkl_cpu_type(AMD + AMD.replace("processor\t: 0", "processor\t: 1")) == "5"
    assert mkl_cpu_type(INTEL) is None  # MKL picks Intel's own paths itself
    assert mkl_cpu_type(OLD_AMD) is None  # the AVX2 path would stop on an illegal instruction
    assert mkl_cpu_type("") is None


def test_a_value_the_user_set_is_kept(tmp_path: Path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(AMD)
    monkeypatch.setenv(VARIABLE, "2")
    assert select_mkl_code_path(cpuinfo) == "2"
    assert os.environ[VARIABLE] == "2"
    monkeypatch.delenv(VARIABLE)
    assert select_mkl_code_path(cpuinfo) == "5"
    assert os.environ[VARIABLE] == "5"
    monkeypatch.delenv(VARIABLE)
    cpuinfo.write_text(INTEL)
    assert select_mkl_code_path(cpuinfo) is None
    assert VARIABLE not in os.environ
    assert select_mkl_code_path(tmp_path / "missing") is None


def _in_fresh_process(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != VARIABLE}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_import_ocrtrain_sets_it_for_this_machine_and_its_child_processes():
    code = (
        "import os, subprocess, sys, ocrtrain; print(subprocess.run([sys.executable, '-c', "
        f"'import os; print(os.environ.get(\"{VARIABLE}\"))'], capture_output=True, text=True).stdout.strip())"
    )
    assert _in_fresh_process(code) == str(THIS_CPU)
    assert _in_fresh_process(code, **{VARIABLE: "4"}) == "4"


PRODUCTS = """
import json, numpy as np, paddle, paddle.nn.functional as F
rng = np.random.default_rng(0)
x = paddle.to_tensor(rng.standard_normal((4, 32, 24, 40)).astype("float32"))
w = paddle.to_tensor(rng.standard_normal((48, 32, 3, 3)).astype("float32") / 10)
a = paddle.to_tensor(rng.standard_normal((200, 300)).astype("float32"))
print(json.dumps([F.conv2d(x, w, padding=1).numpy().ravel()[::97].tolist(), (a @ a.T).numpy().ravel()[::89].tolist()]))
"""


@pytest.mark.skipif(THIS_CPU is None, reason="MKL's path is only chosen on AMD processors")
def test_the_avx2_path_computes_the_same_convolutions_and_products():
    default = json.loads(_in_fresh_process(PRODUCTS))
    avx2 = json.loads(_in_fresh_process(PRODUCTS, **{VARIABLE: "5"}))
    for ours, theirs in zip(avx2, default, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
