"""How a task runs its model: the dygraph forward, and for evaluations under training the cheap way, the inference
program export writes, on paddle.inference."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import paddle
import yaml

Predictor = Callable[[np.ndarray], np.ndarray]  # a float32 batch in, the model's first output out


class TaskPredictors:
    """The predictors a task (det or rec) hands the trainer, eval and export. The task sets ``kind`` and
    ``traced_eval_min_samples`` (the val split size from which tracing repays its few seconds) and provides
    ``eval_dataset``, ``export_input_shape`` and ``inference_yml``."""

    kind: str
    traced_eval_min_samples: int

    @staticmethod
    def dygraph_predictor(model: paddle.nn.Layer) -> Predictor:
        return lambda batch: model(paddle.to_tensor(batch)).numpy()

    def eval_predictor(self, model: paddle.nn.Layer) -> Predictor:
        """How an evaluation runs ``model`` (in eval mode): on CPU, when the val split is large enough to repay the
        few seconds of tracing, as the inference program export writes, run by paddle.inference (oneDNN): 3-4x
        faster than the dygraph forward, and exactly what an export of these weights computes. Otherwise the
        dygraph forward."""
        if (
            not paddle.get_device().startswith("cpu")
            or len(self.eval_dataset()) < self.traced_eval_min_samples
        ):
            return self.dygraph_predictor(model)
        from ocrtrain.models.export import save_inference
        from ocrtrain.pipeline.model_source import resolve_model_source
        from ocrtrain.pipeline.predictor import load_predictor

        # paddle.inference has read what it needs by the time the directory goes
        with tempfile.TemporaryDirectory(prefix="ocrtrain-eval-") as tmp:
            save_inference(model, tmp, self.export_input_shape())
            (Path(tmp) / "inference.yml").write_text(yaml.safe_dump(self.inference_yml()), "utf-8")
            return load_predictor(resolve_model_source(tmp, self.kind), "cpu")
