"""The PP-OCRv6 models train from their shipped weights (one step lowers the loss on real data) and export to a Paddle
inference program that computes what the trained model computes, with the model's own inference.yml."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import yaml
from conftest import losses_around_one_step

from ocrtrain.config import compose
from ocrtrain.devices import parse_device
from ocrtrain.engine.trainer import set_train_mode
from ocrtrain.models.export import save_inference
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.tasks import build_task

pytest.importorskip("onnxruntime")

RUNS = {
    "PP-OCRv6_tiny_det": [
        "det=PP-OCRv6_tiny_det",
        "data=icdar2015_demo",
        "det.train_transform.crop_size=320",
    ],
    "PP-OCRv6_small_det": [
        "det=PP-OCRv6_small_det",
        "data=icdar2015_demo",
        "det.train_transform.crop_size=320",
    ],
    "PP-OCRv6_tiny_rec": ["rec=PP-OCRv6_tiny_rec", "data=icdar2015_rec_demo"],
    "PP-OCRv6_small_rec": ["rec=PP-OCRv6_small_rec", "data=icdar2015_rec_demo"],
}


@pytest.mark.parametrize("name", RUNS)
def test_one_step_from_the_shipped_weights_lowers_the_loss_and_exports(name, in_repo, tmp_path):
    task = build_task(compose("train", RUNS[name]))
    model = task.build_model()
    task.load_pretrained(model)
    dataset = task.train_dataset()
    batch = task.collate([dataset[i] for i in range(4 if task.kind == "det" else 16)])
    set_train_mode(model, freeze_norm=True)
    # a warm-up-sized step: Adam moves every parameter by about the learning rate, which is a large relative step for
    # the small BatchNorm-folded weights of the fused form (at 1e-4 one step raised v6 tiny det's loss 8.2 -> 50)
    before, after = losses_around_one_step(task, model, batch, lr=2e-5)
    assert after["loss"] < before["loss"]
    if (
        task.kind == "det"
    ):  # PaddleOCR's v6 loss: DiceFocal on the main maps plus the weighted auxiliary levels
        main = before["loss_shrink_maps"] + before["loss_threshold_maps"] + before["loss_binary_maps"]
        aux = 0.2 * before["loss_aux_p4"] + 0.3 * before["loss_aux_p3"] + 0.4 * before["loss_aux_p2"]
        assert before["loss"] == pytest.approx(main + aux, rel=1e-5)

    model.eval()
    save_inference(model, tmp_path, task.export_input_shape())
    (tmp_path / "inference.yml").write_text(yaml.safe_dump(task.inference_yml(), allow_unicode=True))
    exported = InferenceModel(resolve_model_source(str(tmp_path), task.kind), parse_device("cpu"))
    x = task.parity_batch()
    assert np.abs(exported(x) - model(paddle.to_tensor(x)).numpy()).max() <= 1e-4
