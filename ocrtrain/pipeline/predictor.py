"""A Paddle Inference predictor for one model on one device."""

from __future__ import annotations

import numpy as np

from ocrtrain.devices import Device, configure_inference
from ocrtrain.pipeline.model_source import ModelSource


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
        self._predictor = inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output_name = self._predictor.get_output_names()[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 N x C x H x W batch and return the first output."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self._input.reshape(list(batch.shape))
        self._input.copy_from_cpu(batch)
        self._predictor.run()
        return self._predictor.get_output_handle(self._output_name).copy_to_cpu()
