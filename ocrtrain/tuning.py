"""DB post-process tuning: run a detector once over a split, keep its probability maps, and search ``thresh``,
``box_thresh``, ``unclip_ratio`` and ``score_mode`` (optionally the resize, which re-runs the model) for the best
Hmean.

``score_mode`` matters for fine-tuned detectors: the shipped models were trained with dice and their maps are nearly
binary, so a region's mean over its box ("fast") is close to its mean over its own outline ("slow"); after a
fine-tune with balanced BCE the maps are softer and the box mean of a real word can fall below ``box_thresh``
(ICDAR 2015, docs/experiments.md: 95 of the 147 dev words the best fine-tune missed had a region, scoring 0.4-0.57).

The search reuses the post-process and the metric in stages: kernel regions once per (``score_mode``, ``thresh``),
grown boxes and their matches against the ground truth once per (``score_mode``, ``thresh``, ``unclip_ratio``), and
every ``box_thresh`` is then a mask over those. The winner is scored again through the plain ``DBPostProcess`` +
metric path, which is what gets reported.

Where the result goes (``inference.yml`` is the one source of a model's inference settings, docs/architecture.md):
an exported dir's ``inference.yml`` is rewritten; a checkpoint gets ``tuned.yml``, which eval and export apply while
the checkpoint still holds the weights it was tuned on (same global step); a zoo model gets a pipeline config.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from ocrtrain.metrics.det_metric import GroundTruth, combine, evaluate_image, match_table
from ocrtrain.postprocess.db import DBPostProcess, db_boxes, db_candidates, grow_candidate

TUNED_FILE = "tuned.yml"  # in a checkpoint directory
NUMERIC_KEYS = ("thresh", "box_thresh", "unclip_ratio")
TUNED_KEYS = (*NUMERIC_KEYS, "score_mode")


@dataclass(frozen=True)
class ValMap:
    """One val image as the search needs it: the model's probability map (float16) and the ground truth."""

    prob: np.ndarray
    dest_size: tuple[int, int]  # the original image's (h, w): boxes are scored there
    polys: list[np.ndarray]
    ignore: list[bool]
    ground_truth: GroundTruth  # the same, as polygons: built once for the whole search


@dataclass(frozen=True)
class Grid:
    thresh: Sequence[float]
    box_thresh: Sequence[float]
    unclip_ratio: Sequence[float]
    score_mode: Sequence[str]

    def around(self, base: DBPostProcess) -> Grid:
        """The grid with the base values added, so the search can always keep them."""
        kind = {key: float for key in NUMERIC_KEYS} | {"score_mode": str}
        return Grid(
            *(
                sorted({kind[key](v) for v in values} | {kind[key](getattr(base, key))})
                for key, values in self.axes()
            )
        )

    def axes(self) -> list[tuple[str, Sequence[float] | Sequence[str]]]:
        return [(key, getattr(self, key)) for key in TUNED_KEYS]

    def size(self) -> int:
        return len(self.thresh) * len(self.box_thresh) * len(self.unclip_ratio) * len(self.score_mode)


def collect_maps(probability_maps: Iterable[tuple[dict[str, Any], np.ndarray]]) -> list[ValMap]:
    """Keep every image's probability map (as float16: half the memory, 1e-3 relative precision)."""
    return [
        ValMap(
            prob.astype(np.float16),
            (int(item["shape"][0]), int(item["shape"][1])),
            list(item["polys"]),
            list(item["ignore"]),
            GroundTruth.of(item["polys"], item["ignore"]),
        )
        for item, prob in probability_maps
    ]


def score(maps: Sequence[ValMap], cfg: DBPostProcess) -> dict[str, float]:
    """precision / recall / hmean of ``cfg`` through the plain post-process and metric (what eval computes)."""
    return combine(
        [
            evaluate_image(m.polys, m.ignore, list(db_boxes(m.prob.astype(np.float32), m.dest_size, cfg)[0]))
            for m in maps
        ]
    )


def search(
    maps: Sequence[ValMap], base: DBPostProcess, grid: Grid, progress: bool = True
) -> list[dict[str, Any]]:
    """Every grid point's thresh / box_thresh / unclip_ratio / score_mode with its precision / recall / hmean."""
    rows = []
    lowest_box_thresh = min(grid.box_thresh)
    regions = [(mode, thresh) for mode in grid.score_mode for thresh in grid.thresh]
    candidates = {region: [] for region in regions}  # per (score_mode, thresh), per image
    for m in tqdm(maps, desc="tune: kernel regions", disable=not progress, leave=False):
        prob = m.prob.astype(np.float32)
        for mode, thresh in regions:
            found = db_candidates(prob, replace(base, thresh=thresh, score_mode=mode))
            candidates[mode, thresh].append([c for c in found if c.score >= lowest_box_thresh])
    bar = tqdm(total=len(regions) * len(grid.unclip_ratio), desc="tune", disable=not progress, leave=False)
    for mode, thresh in regions:
        for unclip_ratio in grid.unclip_ratio:
            grown_cfg = replace(base, thresh=thresh, unclip_ratio=unclip_ratio, score_mode=mode)
            tables = []
            for m, found in zip(maps, candidates[mode, thresh], strict=True):
                boxes = [(grow_candidate(c, m.prob.shape, m.dest_size, grown_cfg), c.score) for c in found]
                boxes = [(quad, s) for quad, s in boxes if quad is not None]
                scores = np.array([s for _, s in boxes], np.float32)
                tables.append((match_table(m.ground_truth, [quad for quad, _ in boxes]), scores))
            for box_thresh in grid.box_thresh:
                metrics = combine([table.counts(scores >= box_thresh) for table, scores in tables])
                rows.append(
                    {
                        "thresh": thresh,
                        "box_thresh": box_thresh,
                        "unclip_ratio": unclip_ratio,
                        "score_mode": mode,
                        **metrics,
                    }
                )
            bar.update()
    bar.close()
    return rows


def best_row(rows: Sequence[dict[str, Any]], base: DBPostProcess) -> dict[str, Any]:
    """The highest Hmean; among equals the setting nearest the base values (so no gain means no change)."""

    def distance(row: dict[str, Any]) -> float:
        moved = sum(abs(row[k] - getattr(base, k)) / getattr(base, k) for k in NUMERIC_KEYS)
        return moved + (row["score_mode"] != base.score_mode)

    return max(rows, key=lambda row: (round(row["hmean"], 12), -distance(row)))


@dataclass
class TuneResult:
    resize: dict[str, Any]
    default: dict[str, float]  # precision / recall / hmean with the model's own values
    best: dict[str, Any]  # the tuned values and their precision / recall / hmean
    settings_tried: int
    images: int
    maps_bytes: int  # memory the kept probability maps took
    forward_s: float  # running the model over the split
    search_s: float
    rows: list[dict[str, Any]]

    def settings(self) -> dict[str, Any]:
        return {k: self.best[k] for k in TUNED_KEYS}


def tune(
    task: Any,
    predict: Callable[[np.ndarray], np.ndarray],
    grid: Grid,
    resizes: Sequence[dict[str, Any]] | None = None,
    progress: bool = True,
) -> list[TuneResult]:
    """One result per resize (``None`` = the task's eval resize); the model runs once per resize."""
    base = task.db_config
    results = []
    for resize in resizes or [dict(task.eval_resize)]:
        task.set_eval_resize(resize)
        started = time.perf_counter()
        maps = collect_maps(
            task.probability_maps(predict, progress, desc=f"probability maps {_label(resize)}")
        )
        forward_s = time.perf_counter() - started
        started = time.perf_counter()
        rows = search(maps, base, grid.around(base), progress)
        best = best_row(rows, base)
        tuned = score(maps, replace(base, **{k: best[k] for k in TUNED_KEYS}))
        search_s = time.perf_counter() - started
        results.append(
            TuneResult(
                dict(resize),
                score(maps, base),
                {**{k: best[k] for k in TUNED_KEYS}, **tuned},
                len(rows),
                len(maps),
                sum(m.prob.nbytes for m in maps),
                forward_s,
                search_s,
                rows,
            )
        )
    return results


def holdout_scores(
    task: Any, predict: Callable[[np.ndarray], np.ndarray], result: TuneResult, label_files: Sequence[str]
) -> dict[str, dict[str, float]]:
    """The model's own values and the tuned ones scored on another split (``label_files``), at the tuned resize:
    the honest estimate of what tuning gains."""
    from omegaconf import OmegaConf

    data = OmegaConf.merge(task.data_cfg, {"val": {"label_files": list(label_files)}})
    other = type(task)(task.model_cfg, data, pretrained=task.pretrained, seed=task.seed)
    other.set_eval_resize(result.resize)
    maps = collect_maps(other.probability_maps(predict, desc="probability maps (held-out split)"))
    base = task.db_config
    return {"default": score(maps, base), "tuned": score(maps, replace(base, **result.settings()))}


def _label(resize: dict[str, Any]) -> str:
    return f"{resize['limit_side_len']}/{resize['limit_type']}"


def summary(
    results: Sequence[TuneResult], base: DBPostProcess, split: str, holdout: Sequence[str] = ()
) -> str:
    """A small table: default vs tuned per resize, with the gain and the cost; ``holdout``: the label files the
    winner is scored on next."""
    head = (
        f"{'resize':<10} {'setting':<8} {'thresh':>6} {'box_th':>6} {'unclip':>6} {'score':>5} {'P':>6} {'R':>6} "
        f"{'Hmean':>6}"
    )
    lines = [head]
    for r in results:
        for name, values, metrics in (
            ("default", {k: getattr(base, k) for k in TUNED_KEYS}, r.default),
            ("tuned", r.settings(), r.best),
        ):
            lines.append(
                f"{_label(r.resize):<10} {name:<8} {values['thresh']:>6.2f} {values['box_thresh']:>6.2f} "
                f"{values['unclip_ratio']:>6.2f} {values['score_mode']:>5} {metrics['precision']:>6.3f} "
                f"{metrics['recall']:>6.3f} {metrics['hmean']:>6.3f}"
            )
        lines.append(
            f"{'':<10} gain {r.best['hmean'] - r.default['hmean']:+.3f} Hmean; {r.settings_tried} settings on "
            f"{r.images} images: model {r.forward_s:.1f} s, search {r.search_s:.1f} s, probability maps "
            f"{r.maps_bytes / 2**20:.0f} MiB (float16)"
        )
    if holdout:
        lines.append(
            f"tuned on {split}; the Hmean to report is the held-out one below ({', '.join(holdout)})"
        )
    else:
        lines.append(
            f"note: tuned and scored on the same split ({split}), so the tuned Hmean is optimistic; tune on a split "
            "you do not report (data.val.label_files=[...]) and score the result on another (tune_holdout=[...])."
        )
    return "\n".join(lines)


def winner(results: Sequence[TuneResult]) -> TuneResult:
    return max(results, key=lambda r: r.best["hmean"])


# ---- where the result goes -------------------------------------------------------------------------------------------
def tuned_section(result: TuneResult, split: str, global_step: int | None = None) -> dict[str, Any]:
    """What a checkpoint's ``tuned.yml`` holds, and the provenance an ``inference.yml`` records."""
    return {
        "global_step": global_step,
        "PostProcess": result.settings(),
        "DetResizeForTest": {
            "limit_side_len": int(result.resize["limit_side_len"]),
            "limit_type": result.resize["limit_type"],
        },
        "tuned_on": split,
        "hmean_default": round(result.default["hmean"], 6),
        "hmean_tuned": round(result.best["hmean"], 6),
    }


def apply_tuned(meta: dict[str, Any], tuned: dict[str, Any]) -> dict[str, Any]:
    """``meta`` (an inference.yml) with the tuned DB values and resize, and the tuning recorded under ``ocrtrain``."""
    meta = {**meta, "PostProcess": {**meta["PostProcess"], **tuned["PostProcess"]}}
    meta["PreProcess"] = {
        **meta["PreProcess"],
        "transform_ops": [
            {"DetResizeForTest": dict(tuned["DetResizeForTest"])} if "DetResizeForTest" in op else op
            for op in meta["PreProcess"]["transform_ops"]
        ],
    }
    record = {k: v for k, v in tuned.items() if k != "global_step"}
    meta["ocrtrain"] = {**(meta.get("ocrtrain") or {}), "tuned": record}
    return meta


def write_inference_yml(model_dir: Path, tuned: dict[str, Any]) -> Path:
    path = Path(model_dir) / "inference.yml"
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(apply_tuned(meta, tuned), allow_unicode=True, sort_keys=False), "utf-8")
    return path


def write_checkpoint_tuning(checkpoint: Path, tuned: dict[str, Any]) -> Path:
    path = Path(checkpoint) / TUNED_FILE
    path.write_text(yaml.safe_dump(tuned, sort_keys=False), "utf-8")
    return path


def read_checkpoint_tuning(checkpoint: Path, global_step: int | None) -> dict[str, Any] | None:
    """The checkpoint's tuned settings, or None: none written, or written for other weights (another step)."""
    path = Path(checkpoint) / TUNED_FILE
    if not path.is_file():
        return None
    tuned = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(tuned, dict) or not isinstance(tuned.get("PostProcess"), dict):
        raise ValueError(f"{path}: not a tuning result (expected PostProcess and DetResizeForTest)")
    if tuned.get("global_step") != global_step:
        print(
            f"ocrtrain: {path} was tuned at step {tuned.get('global_step')}, the checkpoint is now at step "
            f"{global_step}: ignored (tune again)"
        )
        return None
    return tuned


def write_tuned(tuned: dict[str, Any], spec: str, checkpoint: Path | None, out_dir: Path) -> str:
    """Write the tuned values where the evaluated model's settings live, and say where and who uses them: a
    checkpoint's tuned.yml, an exported dir's inference.yml, or for a zoo name or registry URI (whose shipped
    settings are not ours to change) a pipeline config in ``out_dir``."""
    if checkpoint is not None:
        path = write_checkpoint_tuning(checkpoint, tuned)
        return f"{path}: eval and export of this checkpoint (step {tuned.get('global_step')}) use it"
    if Path(spec).is_dir() and (Path(spec) / "inference.yml").is_file():
        path = write_inference_yml(Path(spec), tuned)
        return f"{path}: infer, eval and serving of this model use it"
    path = Path(out_dir) / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline_overlay(spec, tuned), sort_keys=False), "utf-8")
    return (
        f"{path}: {spec} ships its settings, so they are not changed; run it tuned with "
        f"python -m ocrtrain.infer pipeline={path} input=..."
    )


def pipeline_overlay(model: str, tuned: dict[str, Any]) -> dict[str, Any]:
    """A pipeline config (``infer pipeline=<file>``) that runs ``model`` with the tuned values."""
    post, resize = tuned["PostProcess"], tuned["DetResizeForTest"]
    return {
        "det_model": model,
        "det_limit_side_len": resize["limit_side_len"],
        "det_limit_type": resize["limit_type"],
        **{f"det_{k}": post[k] for k in TUNED_KEYS},
    }
