"""ms per image of ocrtrain's OCR pipeline on each inference backend and of two peers over the same PP-OCRv4 mobile
weights, measured in one run, interleaved image by image.

    python scripts/bench_infer.py [--images DIR] [--repeat 3] [--threads 2]

Rows: ocrtrain on paddle (the shipped Paddle programs), on onnxruntime and on openvino (the ONNX graphs that
RapidOCR-onnxruntime ships, which hold the same weights); RapidOCR-paddle and RapidOCR-onnxruntime (PyPI
rapidocr-onnxruntime 1.4.4). All configured alike: resize 736/min, DB thresh 0.3 / box 0.6 / unclip 1.5, no
dilation, ImageNet normalisation, no orientation model, the detected quad cut out as RapidOCR does, same thread
count. Columns: median and p90 ms per image, the ratio to the fastest peer, and the share of texts equal to
RapidOCR-paddle's (boxes matched within 2 px).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    # 736/min: RapidOCR ignores limit_side_len with limit_type max (it picks 960, 1500 or 2000 by the image size)
    "det_limit_side_len": 736,
    "det_limit_type": "min",
    "det_thresh": 0.3,
    "det_box_thresh": 0.6,
    "det_unclip_ratio": 1.5,
    "det_use_dilation": False,
    "rec_batch_size": 6,
    "crop_mode": "quad",  # RapidOCR cuts the detected quad itself
    "rec_tall_crops_both_ways": False,  # RapidOCR reads a tall box turned one way only
}


def rapidocr_peer(threads: int = 2, engine: str = "paddle"):
    """RapidOCR on ``engine`` (paddle | onnxruntime) configured like our pipeline with SETTINGS."""
    common = {
        "det_limit_side_len": SETTINGS["det_limit_side_len"],
        "det_limit_type": SETTINGS["det_limit_type"],
        "det_thresh": SETTINGS["det_thresh"],
        "det_box_thresh": SETTINGS["det_box_thresh"],
        "det_unclip_ratio": SETTINGS["det_unclip_ratio"],
        "det_use_dilation": SETTINGS["det_use_dilation"],
        "det_mean": [0.485, 0.456, 0.406],
        "det_std": [0.229, 0.224, 0.225],
        "rec_batch_num": SETTINGS["rec_batch_size"],
        "use_cls": False,
        "text_score": 0.0,
    }
    if engine == "paddle":
        from rapidocr_paddle import RapidOCR

        return RapidOCR(cpu_math_library_num_threads=threads, **common)
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, **common)


def run_peer(peer, img: np.ndarray) -> list:
    """[(quad, text, score), ...] of a RapidOCR peer."""
    res, _ = peer(
        img,
        use_cls=False,
        box_thresh=SETTINGS["det_box_thresh"],
        unclip_ratio=SETTINGS["det_unclip_ratio"],
        text_score=0.0,
    )
    return res or []


def rapidocr_onnx_model_dirs(work: Path) -> tuple[Path, Path]:
    """RapidOCR-onnxruntime's PP-OCRv4 graphs as ocrtrain model dirs (inference.onnx + our inference.yml)."""
    import rapidocr_onnxruntime

    from ocrtrain.pipeline.inference_settings import zoo_inference_yml

    shipped = Path(rapidocr_onnxruntime.__file__).parent / "models"
    dirs = []
    for task, graph in (("det", "ch_PP-OCRv4_det_infer.onnx"), ("rec", "ch_PP-OCRv4_rec_infer.onnx")):
        model_dir = work / task
        model_dir.mkdir(parents=True)
        (model_dir / "inference.onnx").symlink_to(shipped / graph)
        settings = zoo_inference_yml(f"PP-OCRv4_mobile_{task}", task)
        (model_dir / "inference.yml").write_text(
            yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8"
        )
        dirs.append(model_dir)
    return dirs[0], dirs[1]


def texts_by_box(results: list) -> list[tuple[np.ndarray, str]]:
    return [(np.asarray(box, dtype=np.float32), text) for box, text in results]


def agreement(ours: list[tuple[np.ndarray, str]], reference: list[tuple[np.ndarray, str]]) -> tuple[int, int]:
    """(texts equal, reference lines): each reference box matched to our nearest box within 2 px."""
    equal = 0
    for box, text in reference:
        distances = [np.abs(b - box).max() for b, _ in ours]
        if distances and min(distances) <= 2:
            equal += ours[int(np.argmin(distances))][1] == text
    return equal, len(reference)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=REPO / "datasets" / "icdar2015_demo" / "images")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from ocrtrain import create_pipeline
    from ocrtrain.imageio import read_image

    images = [read_image(p) for p in sorted(args.images.glob("*.jpg"))]
    work = Path(tempfile.mkdtemp(prefix="bench_infer_"))
    det_onnx, rec_onnx = rapidocr_onnx_model_dirs(work)

    def ours(backend: str, **models):
        pipe = create_pipeline(
            "OCR", device="cpu", cpu_threads=args.threads, backend=backend, **models, **SETTINGS
        )

        def read(img):
            r = pipe.predict_image(img)
            return list(zip(r["dt_polys"], r["rec_text"], strict=True))

        return read

    def peer(engine: str):
        instance = rapidocr_peer(args.threads, engine)
        return lambda img: [(box, text) for box, text, _ in run_peer(instance, img)]

    onnx_models = {"det_model": str(det_onnx), "rec_model": str(rec_onnx)}
    systems = {
        "ocrtrain paddle": ours("paddle"),
        "ocrtrain onnxruntime": ours("onnxruntime", **onnx_models),
        "ocrtrain openvino": ours("openvino", **onnx_models),
        "RapidOCR-paddle": peer("paddle"),
        "RapidOCR-onnxruntime": peer("onnxruntime"),
    }
    peers = ["RapidOCR-paddle", "RapidOCR-onnxruntime"]
    times: dict[str, list[float]] = {name: [] for name in systems}
    texts: dict[str, list] = {name: [] for name in systems}
    for read in systems.values():
        read(images[0])  # warm-up: kernels are built on first use
    for rep in range(args.repeat):
        for img in images:
            for name, read in systems.items():  # interleaved: a busy moment hits every system alike
                start = time.perf_counter()
                found = read(img)
                times[name].append((time.perf_counter() - start) * 1000)
                if rep == 0:
                    texts[name].append(texts_by_box(found))

    def p90(values: list[float]) -> float:
        return float(np.percentile(values, 90))

    fastest_peer = min(peers, key=lambda name: statistics.median(times[name]))
    peer_median = statistics.median(times[fastest_peer])
    print(f"{len(images)} images x {args.repeat} repeats from {args.images}; cpu threads {args.threads}")
    print("| system | median ms/image | p90 ms | vs fastest peer | texts = RapidOCR-paddle |")
    print("|---|---|---|---|---|")
    for name in systems:
        pairs = [agreement(o, r) for o, r in zip(texts[name], texts["RapidOCR-paddle"], strict=True)]
        equal, total = sum(e for e, _ in pairs), sum(t for _, t in pairs)
        median = statistics.median(times[name])
        print(
            f"| {name} | {median:.0f} | {p90(times[name]):.0f} | {median / peer_median:.2f}x | "
            f"{equal / max(total, 1):.0%} ({equal}/{total}) |"
        )
    best = min((n for n in systems if n.startswith("ocrtrain")), key=lambda n: statistics.median(times[n]))
    print(f"fastest peer: {fastest_peer}; our fastest backend: {best} (target <= 0.8x the fastest peer)")


if __name__ == "__main__":
    main()
