"""What detection models' probability maps look like on evaluation images: text regions, their scores, and the
probability inside the labelled words' shrunk kernels.

    python scripts/det_kernel_stats.py --root DIR --val dev100.txt --every 10 \
        --models PP-OCRv4_mobile_det outputs/train/<run>/checkpoints/best ...

For each model (a zoo name, an exported dir or a checkpoint, as ``pretrained=`` takes them), on every ``--every``-th
image of the label files at the model config's evaluation resize: the connected regions of probability > 0.3 (at
least 9 px; what the DB post-process turns into boxes) against the labelled words, how many of them score >= 0.6
(the post-process's box_thresh), their median score (mean probability over the region), and the mean probability
inside the words' shrunk kernels (the training target). A fine-tune that breaks words into fragments shows many more
regions with lower scores while the kernels keep their probability.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import paddle
from tqdm import tqdm

from ocrtrain.config import compose
from ocrtrain.data.det_transforms import shrink_map
from ocrtrain.models.loading import load_pretrained
from ocrtrain.tasks import build_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", nargs="+", required=True, help="zoo names, exported dirs or checkpoint dirs"
    )
    parser.add_argument(
        "--root", required=True, help="directory the label files and image paths are relative to"
    )
    parser.add_argument("--val", nargs="+", required=True, help="evaluation label files")
    parser.add_argument("--det", default="PP-OCRv4_mobile_det", help="the models' config (conf/det)")
    parser.add_argument("--every", type=int, default=1, help="use every n-th image")
    args = parser.parse_args()

    cfg = compose(
        "train",
        [
            f"det={args.det}",
            "data=mine",
            f"data.root={args.root}",
            f"data.val.label_files=[{','.join(args.val)}]",
        ],
    )
    task = build_task(cfg)
    dataset = task.eval_dataset()
    indices = range(0, len(dataset), args.every)
    print(
        f"{'model':40s} {'regions':>8s} {'words':>6s} {'score>=0.6':>10s} {'median score':>12s} {'P in kernels':>12s}"
    )
    for source in args.models:
        model = task.build_model()
        load_pretrained(model, source).raise_if_poor()
        model.eval()
        regions, words, scores, kernel_p = 0, 0, [], []
        for i in tqdm(indices, desc=source, leave=False):
            item = dataset[i]
            (height, width), (h, w) = item["image"].shape[1:], item["shape"]
            prob = model(paddle.to_tensor(item["image"][None])).numpy()[0, 0]
            polys = [p * [width / w, height / h] for p in item["polys"]]
            kernels, _ = shrink_map((height, width), polys, list(item["ignore"]))
            kernel_p.append(prob[kernels == 1].mean())
            count, labels, stats, _ = cv2.connectedComponentsWithStats((prob > 0.3).astype(np.uint8))
            for j in range(1, count):
                if stats[j, cv2.CC_STAT_AREA] >= 9:
                    regions += 1
                    scores.append(prob[labels == j].mean())
            words += sum(1 for ign in item["ignore"] if not ign)
        scores_arr = np.array(scores)
        print(
            f"{source[-40:]:40s} {regions:8d} {words:6d} {(scores_arr >= 0.6).sum():10d} "
            f"{np.median(scores_arr):12.3f} {np.mean(kernel_p):12.3f}"
        )


if __name__ == "__main__":
    main()
