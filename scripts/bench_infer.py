"""Median ms per image of ocrtrain's OCR pipeline and of RapidOCR-paddle (same weights, same settings), one run.

    python scripts/bench_infer.py [--images DIR] [--repeat 3] [--threads 2]

RapidOCR-paddle is the peer: an independent pipeline over the same PP-OCRv4 mobile inference models. Both are
configured alike (resize limit 736/min, DB thresholds 0.3/0.6, unclip 1.5, no dilation, no orientation model,
ImageNet normalisation, same thread count) so the ratio compares implementations, not settings.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    "det_limit_side_len": 736,
    "det_limit_type": "min",
    "det_thresh": 0.3,
    "det_box_thresh": 0.6,
    "det_unclip_ratio": 1.5,
    "det_use_dilation": False,
    "rec_batch_size": 6,
    "crop_mode": "quad",  # RapidOCR cuts the detected quad itself
}


def rapidocr_peer(threads: int = 2):
    """RapidOCR-paddle configured like our pipeline with SETTINGS; call ``peer(img, ...)`` on a BGR array."""
    from rapidocr_paddle import RapidOCR

    return RapidOCR(
        det_limit_side_len=SETTINGS["det_limit_side_len"],
        det_limit_type=SETTINGS["det_limit_type"],
        det_thresh=SETTINGS["det_thresh"],
        det_box_thresh=SETTINGS["det_box_thresh"],
        det_unclip_ratio=SETTINGS["det_unclip_ratio"],
        det_use_dilation=SETTINGS["det_use_dilation"],
        det_mean=[0.485, 0.456, 0.406],
        det_std=[0.229, 0.224, 0.225],
        rec_batch_num=SETTINGS["rec_batch_size"],
        cpu_math_library_num_threads=threads,
        use_cls=False,
        text_score=0.0,
    )


def run_peer(peer, img: np.ndarray) -> list:
    res, _ = peer(
        img,
        use_cls=False,
        box_thresh=SETTINGS["det_box_thresh"],
        unclip_ratio=SETTINGS["det_unclip_ratio"],
        text_score=0.0,
    )
    return res or []


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
    ours = create_pipeline("OCR", device="cpu", cpu_threads=args.threads, **SETTINGS)
    peer = rapidocr_peer(args.threads)

    def time_it(fn) -> tuple[float, float, float]:
        fn(images[0])  # warm-up: oneDNN kernels are built on first use
        per_image = []
        for _ in range(args.repeat):
            for img in images:
                start = time.perf_counter()
                fn(img)
                per_image.append((time.perf_counter() - start) * 1000)
        return statistics.median(per_image), min(per_image), max(per_image)

    ours_med, ours_min, ours_max = time_it(ours.predict_image)
    peer_med, peer_min, peer_max = time_it(lambda img: run_peer(peer, img))
    det_share = time_it(ours.detect)[0] / ours_med
    print(f"images: {len(images)} x {args.repeat} repeats from {args.images}, cpu threads {args.threads}")
    print(f"ocrtrain        median {ours_med:7.1f} ms/image  (min {ours_min:.1f}, max {ours_max:.1f})")
    print(f"rapidocr-paddle median {peer_med:7.1f} ms/image  (min {peer_min:.1f}, max {peer_max:.1f})")
    print(f"ratio ocrtrain / rapidocr = {ours_med / peer_med:.2f}x (target <= 1.0x)")
    print(f"detection (resize + det model + DB post-processing) is {det_share:.0%} of ocrtrain's median time")


if __name__ == "__main__":
    main()
