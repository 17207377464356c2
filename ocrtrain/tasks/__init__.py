"""Training tasks: what is specific to detection or recognition, behind one interface the engine drives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig

from ocrtrain.models.export import PARITY_TOLERANCE

if TYPE_CHECKING:
    from ocrtrain.tasks.det import DetTask
    from ocrtrain.tasks.rec import RecTask


def build_task(cfg: DictConfig) -> DetTask | RecTask:
    """The det or rec task of a composed train/eval/export config; exactly one of ``det=`` / ``rec=`` must be set."""
    chosen = [k for k in ("det", "rec") if cfg.get(k) is not None]
    if len(chosen) != 1:
        given = " and ".join(f"{k}={cfg[k].name}" for k in chosen) or "neither"
        raise ValueError(
            f"choose exactly one model config: det=<name> (conf/det/) or rec=<name> (conf/rec/); got {given}"
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
