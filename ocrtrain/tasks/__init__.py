"""Training tasks: what is specific to detection or recognition, behind one interface the engine drives."""

from __future__ import annotations

from omegaconf import DictConfig


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
