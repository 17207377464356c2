"""Training tasks: what is specific to detection or recognition, behind one interface the engine drives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

# largest output difference allowed between two computations of one model (checkpoint loads, export parity)
PARITY_TOLERANCE = 1e-4


def build_task(cfg: DictConfig):
    """The det or rec task of a composed train/eval/export config; exactly one of ``det=`` / ``rec=`` must be set."""
    chosen = [k for k in ("det", "rec") if cfg.get(k) is not None]
    if len(chosen) != 1:
        given = " and ".join(f"{k}={cfg[k].name}" for k in chosen) or "neither"
        raise ValueError(
            f"choose exactly one model to train: det=<name> (conf/det/) or rec=<name> (conf/rec/); got {given}"
        )
    if cfg.get("data") is None:
        raise ValueError("choose a dataset: data=<name> (conf/data/), e.g. data=icdar2015_demo")
    if chosen[0] == "det":
        from ocrtrain.tasks.det import DetTask

        return DetTask(cfg.det, cfg.data, pretrained=cfg.get("pretrained"), seed=cfg.seed)
    from ocrtrain.tasks.rec import RecTask

    return RecTask(cfg.rec, cfg.data, pretrained=cfg.get("pretrained"), seed=cfg.seed)


def load_checkpoint_model(task: Any, checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    """The task's model in eval mode with ``checkpoint``'s weights, and the checkpoint's saved state.

    The model is loaded twice, from two different random starts, and both must compute the same on the parity
    batch: otherwise some weights came from the random start, not from the checkpoint (an empty or partial
    ``model.pdparams``), and evaluating or exporting it would report on a model nobody trained.
    """
    import paddle

    from ocrtrain.engine.checkpoint import load_checkpoint

    outputs, loaded = [], None
    for seed in (1, 2):
        paddle.seed(seed)
        model = task.build_model()
        state = load_checkpoint(checkpoint, model)
        model.eval()
        outputs.append(task.dygraph_predictor(model)(task.parity_batch()))
        loaded = loaded or (model, state)
    spread = float(np.abs(outputs[0] - outputs[1]).max())
    if spread > PARITY_TOLERANCE:
        raise ValueError(
            f"{Path(checkpoint) / 'model.pdparams'}: does not hold the model's weights (two loads from different "
            f"random starts compute outputs {spread:.2e} apart)"
        )
    return loaded


def eval_predictor(task: Any, model: Any) -> Any:
    """How an evaluation runs ``model`` (in eval mode): on CPU, when the val split is large enough to repay the few
    seconds of tracing, as the inference program export writes, run by paddle.inference (oneDNN): 3-4x faster than
    the dygraph forward, and exactly what an export of these weights computes. Otherwise the dygraph forward."""
    import tempfile

    import paddle
    import yaml

    from ocrtrain.models.export import save_inference
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor

    if not paddle.get_device().startswith("cpu") or len(task.eval_dataset()) < task.traced_eval_min_samples:
        return task.dygraph_predictor(model)
    with tempfile.TemporaryDirectory(prefix="ocrtrain-eval-") as tmp:  # paddle.inference keeps what it loaded
        save_inference(model, tmp, task.export_input_shape())
        (Path(tmp) / "inference.yml").write_text(yaml.safe_dump(task.inference_yml()), "utf-8")
        return load_predictor(resolve_model_source(tmp, task.kind), "cpu")
