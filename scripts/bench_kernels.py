"""The depthwise convolutions of a PP-OCRv4 rec training step: ocrtrain's C kernels against paddle's, at 1 to N
intra-op threads.

    python scripts/bench_kernels.py [--batch 32] [--threads 1 2 4] [--repeat 5]

For each thread count a fresh process (``OMP_NUM_THREADS`` is read when paddle starts) times the forward, the input
gradient and the filter gradient of the 14 depthwise convolutions of PPLCNetV3 at 48 x 320 (their shapes read from
the model) through ``ocrtrain.models.depthwise_conv.conv2d`` (the C kernels) and through paddle's ``F.conv2d``, and
prints seconds per step (the best of ``--repeat``) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def depthwise_shapes(batch: int) -> list[tuple[list[int], list[int], list[int], int]]:
    """(input shape, filter shape, stride, padding) of every depthwise convolution in PP-OCRv4 rec's forward."""
    import paddle

    from ocrtrain.config import compose
    from ocrtrain.models import layers
    from ocrtrain.tasks import build_task

    model = build_task(compose("train", ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"])).build_model()
    seen = []
    original = layers.conv2d

    def spy(x, weight, stride, padding, dilation, groups):
        if groups > 1:
            seen.append(([batch, *x.shape[1:]], list(weight.shape), stride, padding))
        return original(x, weight, stride, padding, dilation, groups)

    layers.conv2d = spy
    try:
        model.train()
        model(paddle.randn([1, 3, 48, 320]))
    finally:
        layers.conv2d = original
    return seen


def measure(batch: int, repeat: int) -> dict[str, float]:
    import paddle
    import paddle.nn.functional as F

    from ocrtrain.models.depthwise_conv import conv2d

    def ours(x, w, stride, padding):
        return conv2d(x, w, stride, padding, 1, w.shape[0])

    def paddles(x, w, stride, padding):
        return F.conv2d(x, w, stride=stride, padding=padding, groups=w.shape[0])

    shapes = depthwise_shapes(batch)
    seconds = {}
    for name, conv in (("ocrtrain", ours), ("paddle", paddles)):
        best = float("inf")
        for _ in range(repeat):
            total = 0.0
            for x_shape, w_shape, stride, padding in shapes:
                x, w = paddle.randn(x_shape), paddle.randn(w_shape)
                x.stop_gradient = w.stop_gradient = False
                start = time.perf_counter()
                conv(x, w, stride, padding).sum().backward()
                total += time.perf_counter() - start
            best = min(best, total)
        seconds[name] = best
    return {"convolutions": len(shapes), **seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, len(os.sched_getaffinity(0))])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--measure", action="store_true", help=argparse.SUPPRESS
    )  # one thread count (internal)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.batch, args.repeat)))
        return
    print(
        f"PP-OCRv4 rec depthwise convolutions, batch {args.batch}, forward + both gradients, best of {args.repeat}"
    )
    for threads in dict.fromkeys(args.threads):
        command = [
            sys.executable,
            __file__,
            "--measure",
            "--batch",
            str(args.batch),
            "--repeat",
            str(args.repeat),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        result = json.loads(
            subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        )
        print(
            f"  {threads} thread(s), {result['convolutions']} convolutions: ocrtrain {result['ocrtrain']:.3f} s, "
            f"paddle {result['paddle']:.3f} s: {result['paddle'] / result['ocrtrain']:.2f}x"
        )


if __name__ == "__main__":
    main()
