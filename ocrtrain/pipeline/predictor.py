"""Predictors: one model on one device behind one inference engine, built by :func:`load_predictor` only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ocrtrain.devices import Device, configure_inference, parse_device
from ocrtrain.pipeline.model_files import ModelSourceError
from ocrtrain.pipeline.model_source import ModelSource

Predictor = Callable[[np.ndarray], np.ndarray]  # float32 N x C x H x W batch -> the model's first output


class InferenceModel:
    """Runs an exported (PIR ``inference.json``) or legacy (``inference.pdmodel``) model with paddle.inference."""

    def __init__(self, source: ModelSource, device: Device, cpu_threads: int = 2, enable_mkldnn: bool = True):
        from paddle import inference

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


# backend name -> predictor class taking (source, device, cpu_threads, enable_mkldnn)
BACKENDS: dict[str, type] = {"paddle": InferenceModel}


def load_predictor(
    source: ModelSource,
    device: Device | str | None = "cpu",
    backend: str = "paddle",
    *,
    cpu_threads: int = 2,
    enable_mkldnn: bool = True,
) -> Predictor:
    """The predictor of a resolved model on ``device`` with ``backend`` (``paddle``: paddle.inference)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown inference backend '{backend}'; available: {sorted(BACKENDS)}")
    device = device if isinstance(device, Device) else parse_device(device)
    return BACKENDS[backend](source, device, cpu_threads, enable_mkldnn)
