"""Quality and speed of every offline zoo model on an ICDAR 2015 dev split: ours vs ONNX Runtime on the same weights.

    python scripts/bench_zoo.py --data DIR [--dev 100] [--threads 1] [--models NAME ...]

Dev split: the last ``--dev`` images of ``DIR/det_label.txt`` (PaddleOCR detection labels) and, for recognition,
their word crops (every box that is not ``###``, rectified from its quad). For each model:

* det: Hmean at the model's own post-process defaults (its config: the shipped ``inference.yml`` values for v6) and
  at the common 0.3 / 0.6 / 1.5, both at 960 / max; ms per image of the forward pass;
* rec: exact and case-insensitive accuracy (spaces ignored) and 1 - NED; ms per crop (batches of 16 at 48 x 320).

"ours" is the model as our pipeline runs it: our trainable model (weights joined from the ONNX graph, see
``ocrtrain.models.weight_sources.onnx``) exported to a Paddle inference program, run by paddle.inference; "onnx"
is ONNX Runtime on the shipped graph, same threads, same inputs, same run. v4 ships no ONNX graph (ours only).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ocrtrain import zoo
from ocrtrain.config import compose, to_plain
from ocrtrain.crop import crop_text_region
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.readers import read_labels
from ocrtrain.data.readers.base import DetSample
from ocrtrain.devices import parse_device
from ocrtrain.imageio import read_image
from ocrtrain.metrics.det_metric import combine, evaluate_image
from ocrtrain.metrics.rec_metric import RecMetricOptions, rec_metrics
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.postprocess.ctc import ctc_greedy_decode
from ocrtrain.postprocess.db import DBPostProcess, db_boxes
from ocrtrain.preprocess import normalize_det, resize_det, resize_norm_rec

Predict = Callable[[np.ndarray], np.ndarray]
COMMON_DB = {"thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5}


def dev_split(data: Path, count: int) -> list[DetSample]:
    return read_labels("det_label.txt", data)[0][-count:]


def word_crops(split: list[DetSample]) -> tuple[np.ndarray, list[str]]:
    """Every box that is not don't-care, cut as rec training and eval cut it, at 48 x 320."""
    crops, texts = [], []
    for sample in split:
        img = read_image(sample.image_path)
        for poly, text, ignore in zip(sample.polys, sample.texts, sample.ignore, strict=True):
            if not ignore:
                crops.append(resize_norm_rec(crop_text_region(img, poly), 48, 320))
                texts.append(text)
    return np.stack(crops), texts


def onnx_runner(name: str, threads: int) -> Predict | None:
    path = zoo.ZOO[name].onnx_file and zoo.zoo_onnx_file(name)
    if not path:
        return None
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x})[0]


def our_runner(name: str, task: str, threads: int) -> Predict:
    """The zoo model as the pipeline runs it: the shipped program (v4) or our model exported from the ONNX weights
    (``pipeline.zoo_programs``, built once into the user cache)."""
    return InferenceModel(resolve_model_source(name, task), parse_device("cpu"), cpu_threads=threads)


def timed(predict: Predict, x: np.ndarray, times: list[float]) -> np.ndarray:
    start = time.perf_counter()
    out = predict(x)
    times.append(time.perf_counter() - start)
    return out


def bench_det(predict: Predict, split, cfg) -> dict[str, float]:
    own = DBPostProcess(**{k: v for k, v in to_plain(cfg.postprocess).items() if k != "name"})
    common = dataclasses.replace(own, **COMMON_DB)
    per_image: dict[str, list] = {"own": [], "common": []}
    times: list[float] = []
    for sample in split:
        img = read_image(sample.image_path)
        x = normalize_det(resize_det(img, 960, "max")[0])[None]
        prob = timed(predict, x, times)[0, 0]
        for key, post in (("own", own), ("common", common)):
            quads, _ = db_boxes(prob, img.shape[:2], post)
            per_image[key].append(evaluate_image(sample.polys, sample.ignore, list(quads)))
    return {
        "hmean_own": combine(per_image["own"])["hmean"],
        "hmean_common": combine(per_image["common"])["hmean"],
        "ms": 1000 * statistics.median(times),
    }


def bench_rec(
    predict: Predict, crops: np.ndarray, texts: list[str], characters: list[str]
) -> dict[str, float]:
    times: list[float] = []
    preds = []
    for start in range(0, len(crops), 16):
        probs = timed(predict, crops[start : start + 16], times)
        preds += [t for t, _ in ctc_greedy_decode(probs, characters)]
    exact = rec_metrics(preds, texts)
    loose = rec_metrics(preds, texts, RecMetricOptions(case_sensitive=False))
    return {
        "acc": exact["acc"],
        "acc_nocase": loose["acc"],
        "one_minus_ned": exact["norm_edit_dis"],
        "ms": 1000 * sum(times) / len(crops),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="a det dataset root holding det_label.txt (e.g. ICDAR 2015 train)",
    )
    parser.add_argument("--dev", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=None)
    args = parser.parse_args()
    shipped = [n for n, e in zoo.ZOO.items() if (e.rapidocr_dir or e.onnx_file) and e.task in ("det", "rec")]
    names = args.models or shipped
    split = dev_split(args.data, args.dev)
    crops, texts = word_crops(split)
    print(f"dev: {len(split)} images, {len(crops)} word crops; {args.threads} thread(s)")
    for name in names:
        task = zoo.ZOO[name].task
        cfg = compose("train", [f"{task}={name}"])[task]
        runners = {"ours": our_runner(name, task, args.threads)}
        if (onnx := onnx_runner(name, args.threads)) is not None:
            runners["onnx"] = onnx
        results = {}
        for backend, predict in runners.items():
            if task == "det":
                results[backend] = bench_det(predict, split, cfg)
            else:
                chars = list(CharDict.pretrained(cfg.get("dictionary", name)).characters)
                results[backend] = bench_rec(predict, crops, texts, chars)
        line = " | ".join(
            f"{b}: " + ", ".join(f"{k} {v:.3f}" if k != "ms" else f"{v:.1f} ms" for k, v in r.items())
            for b, r in results.items()
        )
        ratio = (
            f" | ours/onnx time {results['ours']['ms'] / results['onnx']['ms']:.2f}"
            if "onnx" in results
            else ""
        )
        print(f"{name}: {line}{ratio}", flush=True)


if __name__ == "__main__":
    main()
