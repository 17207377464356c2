"""Predictors: one model on one device behind one inference engine, built by :func:`load_predictor` only."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np

from ocrtrain.devices import Device, DeviceUnavailableError, configure_inference, parse_device
from ocrtrain.pipeline.model_files import ModelSource, ModelSourceError

Predictor = Callable[[np.ndarray], np.ndarray]  # float32 N x C x H x W batch -> the model's first output


class InferenceModel:
    """Runs an exported (PIR ``inference.json``) or legacy (``inference.pdmodel``) model with paddle.inference."""

    def __init__(
        self, source: ModelSource, device: Device, cpu_threads: int = 2, enable_mkldnn: bool = True
    ) -> None:
        from paddle import inference

        if source.model_file is None or source.params_file is None:
            raise ModelSourceError(
                f"{source.spec}: has only an ONNX model ({source.onnx_file}): run it with backend=onnxruntime, "
                "or export it with format=paddle,onnx"
            )
        self.source = source
        config = inference.Config(str(source.model_file), str(source.params_file))
        configure_inference(config, device, cpu_threads=cpu_threads, enable_mkldnn=enable_mkldnn)
        if source.model_file.suffix == ".pdmodel":
            # legacy programs only: paddle 3.3 fails to create PIR predictors with this pass enabled
            config.enable_memory_optim()
        config.disable_glog_info()
        config.switch_ir_optim(True)
        try:
            self._predictor = inference.create_predictor(config)
        except (RuntimeError, ValueError) as e:  # the files were checked; this is what the checks cannot see
            reason = str(e).strip().splitlines()[0]
            raise ModelSourceError(
                f"{source.params_file}: paddle could not load the model: {reason}"
            ) from None
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output_name = self._predictor.get_output_names()[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 N x C x H x W batch and return the first output."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self._input.reshape(list(batch.shape))
        self._input.copy_from_cpu(batch)
        self._predictor.run()
        return self._predictor.get_output_handle(self._output_name).copy_to_cpu()


def require_onnx_graph(source: ModelSource, backend: str) -> None:
    """An ONNX engine needs the model's ONNX graph: say how to get one when it has none."""
    if source.onnx_file is None:
        raise ModelSourceError(
            f"{source.spec}: has no ONNX model (inference.onnx) for backend={backend}: export one from its "
            "checkpoint with `python -m ocrtrain.export format=paddle,onnx`, or use backend=paddle"
        )


class OnnxRuntimeModel:
    """Runs a model's ONNX graph (``inference.onnx``, or the graph a zoo model ships) with ONNX Runtime."""

    def __init__(
        self, source: ModelSource, device: Device, cpu_threads: int = 2, enable_mkldnn: bool = True
    ) -> None:
        require_onnx_graph(source, "onnxruntime")
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelSourceError(
                "backend=onnxruntime needs the onnxruntime package: pip install 'ocrtrain[onnx]'"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
        providers: list[str | tuple[str, dict]] = ["CPUExecutionProvider"]
        if device.kind == "gpu":
            available = ort.get_available_providers()
            if "CUDAExecutionProvider" not in available:
                raise DeviceUnavailableError(
                    f"device={device}: this onnxruntime build has no CUDA ({', '.join(available)}); install "
                    "onnxruntime-gpu, or use device=cpu or backend=paddle"
                )
            providers = [("CUDAExecutionProvider", {"device_id": device.index}), "CPUExecutionProvider"]
        elif device.kind != "cpu":
            raise DeviceUnavailableError(
                f"device={device}: backend=onnxruntime runs on cpu and gpu only; use backend=paddle for {device.kind}"
            )
        self.source = source
        try:
            self._session = ort.InferenceSession(str(source.onnx_file), options, providers=providers)
        except Exception as e:  # onnxruntime raises its own error types for a graph it cannot load
            reason = str(e).strip().splitlines()[0]
            raise ModelSourceError(
                f"{source.onnx_file}: onnxruntime could not load the model: {reason}"
            ) from None
        self._input_name = self._session.get_inputs()[0].name
        self._output_name = self._session.get_outputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 N x C x H x W batch and return the first output."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self._session.run([self._output_name], {self._input_name: batch})[0]


class OpenVinoModel:
    """Runs a model's ONNX graph with OpenVINO on the CPU (latency hint, ``cpu_threads`` inference threads)."""

    def __init__(
        self, source: ModelSource, device: Device, cpu_threads: int = 2, enable_mkldnn: bool = True
    ) -> None:
        require_onnx_graph(source, "openvino")
        if device.kind != "cpu":
            raise DeviceUnavailableError(
                f"device={device}: backend=openvino runs on cpu here; use backend=paddle or onnxruntime for {device}"
            )
        try:
            import openvino
        except ImportError:
            raise ModelSourceError(
                "backend=openvino needs the openvino package: pip install 'ocrtrain[onnx]'"
            ) from None
        self.source = source
        core = openvino.Core()
        try:
            self._model = core.compile_model(
                core.read_model(str(source.onnx_file)),
                "CPU",
                {
                    "INFERENCE_NUM_THREADS": cpu_threads,
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_PRECISION_HINT": "f32",  # the CPU default is bf16 where the ISA has it
                },
            )
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[0]
            raise ModelSourceError(
                f"{source.onnx_file}: openvino could not load the model: {reason}"
            ) from None
        self._request = self._model.create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 N x C x H x W batch and return the first output."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self._request.infer({0: batch})[0].copy()


# backend name -> predictor class taking (source, device, cpu_threads, enable_mkldnn)
BACKENDS: dict[str, type] = {
    "paddle": InferenceModel,
    "onnxruntime": OnnxRuntimeModel,
    "openvino": OpenVinoModel,
}


# ``backend=auto``: the fastest engine measured on CPU (scripts/bench_infer.py: OpenVINO ~0.6x the time of
# paddle.inference on the PP-OCRv4 pair; ONNX Runtime slower than both), among those that can run the model here
AUTO_ORDER = ("openvino", "paddle", "onnxruntime")


def auto_backend(source: ModelSource, device: Device | str | None = "cpu") -> str:
    """The backend ``auto`` picks for ``source`` on ``device``: the first of AUTO_ORDER that has the model's files,
    its package installed, and runs on the device (OpenVINO: CPU only here)."""
    device = device if isinstance(device, Device) else parse_device(device)
    for backend in AUTO_ORDER:
        if backend == "paddle":
            usable = source.model_file is not None
        else:
            usable = source.onnx_file is not None and importlib.util.find_spec(backend) is not None
            usable = usable and (device.kind == "cpu" or (backend == "onnxruntime" and device.kind == "gpu"))
        if usable:
            return backend
    raise ModelSourceError(f"{source.spec}: no installed inference backend can run it on {device}")


def load_predictor(
    source: ModelSource,
    device: Device | str | None = "cpu",
    backend: str = "paddle",
    *,
    cpu_threads: int = 2,
    enable_mkldnn: bool = True,
) -> Predictor:
    """The predictor of a resolved model on ``device`` with ``backend`` (``paddle``: paddle.inference,
    ``onnxruntime`` / ``openvino``: ONNX Runtime / OpenVINO on the model's ONNX graph; ``auto``: see
    :func:`auto_backend`)."""
    if backend == "auto":
        backend = auto_backend(source, device)
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend '{backend}'; available: auto, {', '.join(BACKENDS)}")
    device = device if isinstance(device, Device) else parse_device(device)
    return BACKENDS[backend](source, device, cpu_threads, enable_mkldnn)
