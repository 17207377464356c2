"""Device strings (``cpu``, ``gpu``, ``gpu:1``, ``npu:0``, ``xpu:0``, ``mlu:0``, ``dcu:0``, ...) parsed in one place.

Every device is a real code path: CUDA/ROCm and XPU go through paddle's built-in support, anything else through
paddle's custom-device plugins (``paddle-custom-npu``, ``paddle-custom-mlu``, ...). A device the installed paddle
cannot drive fails here, with one message naming the device and what the installed paddle has.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

_DEVICE_RE = re.compile(r"^(?P<kind>[a-z_]+)(?::(?P<index>\d+))?$")


class DeviceUnavailableError(RuntimeError):
    """The requested device is not supported by the installed paddlepaddle build."""


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu", "gpu", "dcu", "xpu" or a custom-device type such as "npu", "mlu"
    index: int = 0

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"{self.kind}:{self.index}"

    @property
    def paddle_name(self) -> str:
        """The name ``paddle.set_device`` takes (DCUs are driven as ROCm 'gpu' devices)."""
        if self.kind == "cpu":
            return "cpu"
        return f"gpu:{self.index}" if self.kind == "dcu" else f"{self.kind}:{self.index}"


def parse_device(spec: str | None) -> Device:
    """Parse a device string; ``None``/empty means cpu. Raises ValueError for malformed strings."""
    text = (spec or "cpu").strip().lower()
    m = _DEVICE_RE.match(text)
    if m is None:
        raise ValueError(
            f"invalid device {spec!r}: expected 'cpu', 'gpu', 'gpu:0', 'npu:0', 'xpu:0', 'mlu:0', ..."
        )
    kind, index = m["kind"], int(m["index"] or 0)
    if kind == "cuda":  # torch's name for what paddle calls gpu
        raise ValueError(f"invalid device {spec!r}: paddle calls CUDA devices 'gpu': use device=gpu:{index}")
    if kind == "cpu" and m["index"] is not None:
        raise ValueError(f"invalid device {spec!r}: the cpu takes no index")
    return Device(kind, index)


def installed_paddle_summary() -> str:
    """What the installed paddle can drive, for error messages."""
    import paddle

    parts = []
    if paddle.is_compiled_with_cuda():
        parts.append("ROCm (dcu)" if paddle.is_compiled_with_rocm() else "CUDA (gpu)")
    if paddle.is_compiled_with_xpu():
        parts.append("XPU")
    custom = paddle.device.get_all_custom_device_type() or []
    parts += [f"custom device '{c}'" for c in custom]
    kinds = ", ".join(parts) if parts else "CPU only"
    return f"paddlepaddle {paddle.__version__} ({kinds})"


def _device_count(device: Device) -> int:
    import paddle

    if device.kind in ("gpu", "dcu"):
        return paddle.device.cuda.device_count()
    if device.kind == "xpu":
        return paddle.device.xpu.device_count() if hasattr(paddle.device, "xpu") else 0
    available = paddle.device.get_available_custom_device() or []
    return sum(1 for name in available if name.split(":")[0] == device.kind)


def check_device(device: Device) -> None:
    """Raise DeviceUnavailableError unless the installed paddle supports ``device``."""
    if device.kind == "cpu":
        return
    import paddle

    if device.kind == "gpu":
        supported = paddle.is_compiled_with_cuda() and not paddle.is_compiled_with_rocm()
        hint = "install a CUDA build of paddlepaddle (paddlepaddle-gpu)"
    elif device.kind == "dcu":
        supported = paddle.is_compiled_with_rocm()
        hint = "install the ROCm/DCU build of paddlepaddle"
    elif device.kind == "xpu":
        supported = paddle.is_compiled_with_xpu()
        hint = "install the XPU build of paddlepaddle"
    else:
        supported = device.kind in (paddle.device.get_all_custom_device_type() or [])
        hint = f"install paddle's custom-device plugin for '{device.kind}' (e.g. paddle-custom-{device.kind})"
    if not supported:
        raise DeviceUnavailableError(
            f"device '{device}' was requested, but the installed {installed_paddle_summary()} cannot use it: "
            f"{hint}, or use device=cpu"
        )
    count = _device_count(device)
    if device.index >= count:
        raise DeviceUnavailableError(
            f"device '{device}' was requested, but only {count} {device.kind} device(s) are visible"
        )


def configure_inference(
    config: Any, device: Device, cpu_threads: int = 2, enable_mkldnn: bool = True
) -> None:
    """Set up a ``paddle.inference.Config`` for ``device`` (checked first)."""
    check_device(device)
    if device.kind == "cpu":
        config.disable_gpu()
        if enable_mkldnn:
            config.enable_mkldnn()
            config.set_mkldnn_cache_capacity(10)  # bounded cache of shapes: det inputs vary per image
        else:
            config.disable_mkldnn()
        config.set_cpu_math_library_num_threads(max(1, cpu_threads))
    elif device.kind in ("gpu", "dcu"):
        config.enable_use_gpu(256, device.index)
    elif device.kind == "xpu":
        config.enable_xpu()
        config.set_xpu_device_id(device.index)
    else:
        config.enable_custom_device(device.kind, device.index)


def cpu_threads() -> int:
    """The intra-op threads paddle's CPU kernels use in this process: ``OMP_NUM_THREADS`` (a data-parallel launch
    sets it to the cores per process), else every core the process may run on."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:  # unset, or not a number: paddle's runtime then takes every core
        return len(os.sched_getaffinity(0))


def set_paddle_device(device: Device) -> None:
    """Make ``device`` paddle's current device for dygraph work (training, evaluation)."""
    import paddle

    check_device(device)
    paddle.set_device(device.paddle_name)
