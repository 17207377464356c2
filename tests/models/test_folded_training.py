"""Training computes each conv + affine (the fused blocks' learnable scale and bias, a frozen BatchNorm) as one conv
with folded weights: on a fixed real batch the losses and every parameter's gradient equal those of the two-step
form the weights ship in, which eval mode (and so export) keeps."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from conftest import REPO
from paddle import nn

from ocrtrain.config import compose
from ocrtrain.engine.trainer import set_train_mode
from ocrtrain.tasks import build_task

RUNS = {
    # fused blocks, a conv-BN stem, the DB head's conv-BN and transposed conv-BN
    "PP-OCRv4_mobile_det": (
        ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", "det.train_transform.crop_size=320"],
        2,
    ),
    "PP-OCRv4_mobile_rec": (
        ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"],
        8,
    ),  # + SVTR's conv-BN-swish
    "PP-OCRv6_tiny_rec": (
        ["rec=PP-OCRv6_tiny_rec", "data=icdar2015_rec_demo"],
        8,
    ),  # + the CTC head's conv-BN
}


def losses_and_gradients(
    task, model, batch, folded: bool
) -> tuple[dict[str, float], dict[str, np.ndarray], int]:
    """With ``folded=False`` the convolutions run in eval mode (a conv computes the same in either mode), so each
    conv + affine takes the two-step path while the rest of the model trains as it does. Also returns how many
    conv layers ran their own forward (a folded one runs as a functional conv with the folded weights)."""
    convs = [m for m in model.sublayers() if isinstance(m, (nn.Conv2D, nn.Conv2DTranspose))]
    calls = []
    hooks = [conv.register_forward_post_hook(lambda *_: calls.append(1)) for conv in convs]
    for conv in convs:
        conv.train() if folded else conv.eval()
    paddle.seed(1)  # the same dropout masks in both forms
    losses = task.loss(model, batch)
    losses["loss"].backward()
    gradients = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
    model.clear_gradients()
    for hook in hooks:
        hook.remove()
    return {k: float(v) for k, v in losses.items()}, gradients, len(calls)


@pytest.mark.parametrize("name", RUNS)
def test_folded_training_computes_the_two_step_losses_and_gradients(name, monkeypatch):
    """float32: the losses agree to 1e-4; float64 (free of the rounding noise of another summation order): every
    parameter's gradient agrees to 1e-8 of its largest entry."""
    if name.startswith("PP-OCRv6"):
        pytest.importorskip("onnxruntime")  # the zoo's v6 weights ship as ONNX
    monkeypatch.chdir(REPO)  # the demo data configs are relative to the repository
    overrides, batch_size = RUNS[name]
    task = build_task(compose("train", overrides))
    model = task.build_model()
    task.load_pretrained(model)
    dataset = task.train_dataset()
    np.random.seed(0)
    batch = task.collate([dataset[i] for i in range(batch_size)])
    set_train_mode(model, freeze_norm=True)

    folded_losses, _, folded_calls = losses_and_gradients(task, model, batch, folded=True)
    losses, _, calls = losses_and_gradients(task, model, batch, folded=False)
    assert folded_calls < calls  # the convs followed by an affine ran folded
    assert folded_losses.keys() == losses.keys()
    for key, value in losses.items():
        assert abs(folded_losses[key] - value) <= 1e-4 * max(1.0, abs(value)), key

    model.to(dtype="float64")
    batch = {
        k: v.astype("float64") if getattr(v, "dtype", None) == np.float32 else v for k, v in batch.items()
    }
    _, folded_grads, _ = losses_and_gradients(task, model, batch, folded=True)
    _, grads, _ = losses_and_gradients(task, model, batch, folded=False)
    trained = {n for n, p in model.named_parameters() if not p.stop_gradient}
    assert folded_grads.keys() == grads.keys() == trained
    for key, grad in grads.items():
        scale = max(float(np.abs(grad).max()), 1e-12)
        assert float(np.abs(folded_grads[key] - grad).max()) <= 1e-8 * scale, key
