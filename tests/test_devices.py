"""Device strings are parsed in one place; devices the installed paddle lacks fail with one clear error."""

from __future__ import annotations

import paddle
import pytest

from ocrtrain.devices import Device, DeviceUnavailableError, check_device, parse_device


@pytest.mark.parametrize(
    ("spec", "device"),
    [
        ("cpu", Device("cpu", 0)),
        (None, Device("cpu", 0)),
        ("gpu", Device("gpu", 0)),
        ("GPU:1", Device("gpu", 1)),
        ("npu:0", Device("npu", 0)),
        ("xpu:3", Device("xpu", 3)),
        ("mlu:0", Device("mlu", 0)),
        ("dcu:0", Device("dcu", 0)),
    ],
)
def test_parse(spec, device):
    assert parse_device(spec) == device


@pytest.mark.parametrize("spec", ["gpu:-1", "cuda 0", "cpu:1", ":0", "npu:x"])
def test_malformed(spec):
    with pytest.raises(ValueError, match="invalid device"):
        parse_device(spec)


@pytest.mark.parametrize(("spec", "meant"), [("cuda", "gpu:0"), ("cuda:1", "gpu:1")])
def test_torchs_device_name_points_to_paddles(spec, meant):
    with pytest.raises(ValueError, match=f"paddle calls CUDA devices 'gpu': use device={meant}"):
        parse_device(spec)


def test_dcu_is_driven_as_a_rocm_gpu():
    assert parse_device("dcu:1").paddle_name == "gpu:1"
    assert parse_device("npu:2").paddle_name == "npu:2"


@pytest.mark.skipif(paddle.is_compiled_with_cuda(), reason="needs a CPU-only paddle build")
@pytest.mark.parametrize("spec", ["gpu:0", "npu:0", "xpu:0", "mlu:0", "dcu:0"])
def test_missing_device_names_device_and_installed_paddle(spec):
    with pytest.raises(DeviceUnavailableError) as err:
        check_device(parse_device(spec))
    message = str(err.value)
    assert f"'{spec}'" in message and paddle.__version__ in message and "CPU only" in message
    assert "device=cpu" in message


@pytest.mark.skipif(paddle.is_compiled_with_cuda(), reason="needs a CPU-only paddle build")
def test_pipeline_on_missing_device_fails_before_loading():
    from ocrtrain import create_pipeline

    with pytest.raises(DeviceUnavailableError, match="'npu:0'"):
        create_pipeline("OCR", device="npu:0")
    with pytest.raises(DeviceUnavailableError, match="'gpu:0'"):
        create_pipeline("OCR", rec_device="gpu:0")
