"""Every shipped model config builds through the component registry, and an architecture added from outside the
package (a new backbone file + a model config) trains a step and exports."""

from __future__ import annotations

import textwrap

import numpy as np
import paddle
import pytest
from conftest import REPO
from omegaconf import OmegaConf

from ocrtrain import components
from ocrtrain.config import compose, to_plain
from ocrtrain.devices import parse_device
from ocrtrain.models.builder import build_model
from ocrtrain.models.export import save_inference
from ocrtrain.models.loading import load_pretrained
from ocrtrain.pipeline.model_source import resolve_model_source
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.tasks import build_task

CONF = REPO / "ocrtrain" / "conf"
MODEL_CONFIGS = sorted(CONF.glob("det/*.yaml")) + sorted(CONF.glob("rec/*.yaml"))


@pytest.mark.parametrize("config", MODEL_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_model_config_builds_and_names_a_registered_loss(config):
    kind = config.parent.name
    model_cfg = compose("train", [f"{kind}={config.stem}"])[kind]
    model = build_model(to_plain(model_cfg.arch), **({"num_classes": 97} if kind == "rec" else {}))
    assert model.backbone is not None and model.head is not None
    assert sum(int(np.prod(p.shape)) for p in model.parameters()) > 100_000
    assert model_cfg.loss.name in components.names("loss")


def test_an_unknown_component_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown backbone 'PPLCNetV9'; registered backbones: \[.*'PPLCNetV3'"
    ):
        build_model({"backbone": {"name": "PPLCNetV9"}, "head": {"name": "DBHead"}})


TOY_BACKBONE = '''
import paddle.nn.functional as F
from paddle import nn

from ocrtrain.components import register


@register("backbone", "ToyPyramid")
class ToyPyramid(nn.Layer):
    """Four feature maps at strides 4, 8, 16, 32, as a DB neck expects."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.out_channels = [width, 2 * width, 4 * width, 8 * width]
        ins = [3, *self.out_channels[:-1]]
        strides = [4, 2, 2, 2]
        self.stages = nn.LayerList(
            [nn.Conv2D(i, o, 3, stride=s, padding=1) for i, o, s in zip(ins, self.out_channels, strides)]
        )

    def forward(self, x):
        features = []
        for i in range(4):
            x = F.relu(self.stages[i](x))
            features.append(x)
        return features
'''

TOY_CONFIG = """
arch:
  imports: [toy_pyramid]
  backbone: {name: ToyPyramid, width: 8}
  neck: {name: RSEFPN, out_channels: 32, shortcut: true}
  head: {name: DBHead, k: 50}
"""


def test_a_new_architecture_is_a_new_file_and_a_config(tmp_path, monkeypatch):
    """Nothing in the repository is edited: the backbone lives in a module of the user's (written here to
    tmp_path and put on sys.path), the model config names it and lists the module under ``arch.imports``."""
    (tmp_path / "toy_pyramid.py").write_text(textwrap.dedent(TOY_BACKBONE), encoding="utf-8")
    (tmp_path / "toy_det.yaml").write_text(TOY_CONFIG, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(REPO)
    cfg = compose(
        "train", ["det=PP-OCRv4_mobile_det", "data=icdar2015_demo", "det.train_transform.crop_size=160"]
    )
    OmegaConf.set_struct(cfg, False)
    cfg.det.arch = OmegaConf.load(tmp_path / "toy_det.yaml").arch
    task = build_task(cfg)

    paddle.seed(0)
    model = task.build_model()
    assert type(model.backbone).__name__ == "ToyPyramid"
    dataset = task.train_dataset()
    batch = task.collate([dataset[i] for i in range(2)])
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters())
    model.train()
    before = task.loss(model, batch)["loss"]
    before.backward()
    optimizer.step()
    assert np.isfinite(float(before))

    model.eval()
    x = task.parity_batch()[..., :320, :320]
    save_inference(model, tmp_path / "exported", task.export_input_shape())
    (tmp_path / "exported" / "inference.yml").write_text("ocrtrain: {task: det}\n", encoding="utf-8")
    exported = InferenceModel(
        resolve_model_source(str(tmp_path / "exported"), "det"), parse_device("cpu"), enable_mkldnn=False
    )
    assert np.abs(exported(x) - model(paddle.to_tensor(x)).numpy()).max() <= 1e-4
    # and the exported directory is a weight source that loads back by name
    reloaded = task.build_model()
    report = load_pretrained(reloaded, tmp_path / "exported")
    assert not report.missing and not report.unexpected
    assert all(k.startswith("head.thresh.") for k in report.initialised)
