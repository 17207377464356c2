"""A PaddleOCR training config becomes the ocrtrain command that trains the same model on the same data: the
translated arguments compose into a train config holding PaddleOCR's values, and what does not carry over is named."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from conftest import REPO, run_ok

from ocrtrain.config import compose
from ocrtrain.paddleocr_config import PaddleOCRConfigError, read_config, translate

# PaddleOCR's layout of a PP-OCRv4 rec training config, with a user's paths, dictionary and checkpoint
REC_CONFIG = """
Global:
  use_gpu: false
  epoch_num: 50
  eval_batch_step: [0, 500]
  pretrained_model: ./pretrain_models/ch_PP-OCRv4_rec_train/student
  character_dict_path: ./my_dict.txt
  max_text_length: 40
  use_space_char: true
Optimizer:
  name: Adam
  beta1: 0.9
  beta2: 0.999
  lr: {name: Cosine, learning_rate: 0.0005, warmup_epoch: 5}
  regularizer: {name: L2, factor: 3.0e-05}
Architecture:
  model_type: rec
  algorithm: SVTR_LCNet
  Backbone: {name: PPLCNetV3, scale: 0.95}
Train:
  dataset:
    name: SimpleDataSet
    data_dir: ./train_data/
    label_file_list: [./train_data/train_list.txt, ./extra/more.txt]
    ratio_list: [1.0, 0.5]
    transforms: [{DecodeImage: {img_mode: BGR}}, {RecAug: null}]
  loader: {batch_size_per_card: 64, num_workers: 4}
Eval:
  dataset:
    name: SimpleDataSet
    data_dir: ./train_data
    label_file_list: [./train_data/val_list.txt]
"""


@pytest.fixture()
def rec_config(tmp_path):
    path = tmp_path / "rec.yml"
    path.write_text(textwrap.dedent(REC_CONFIG), encoding="utf-8")
    return path


def test_a_rec_config_translates_to_a_train_config_with_its_values(rec_config, tmp_path):
    translation = translate(read_config(rec_config), tmp_path)
    cfg = compose("train", translation.args)
    assert cfg.rec.name == "PP-OCRv4_mobile_rec" and cfg.data.root == str(tmp_path / "train_data")
    assert list(cfg.data.train.label_files) == ["train_list.txt", str(tmp_path / "extra" / "more.txt")]
    assert list(cfg.data.train.ratio_list) == [1.0, 0.5] and list(cfg.data.val.label_files) == [
        "val_list.txt"
    ]
    assert cfg.pretrained == str(tmp_path / "pretrain_models" / "ch_PP-OCRv4_rec_train" / "student.pdparams")
    assert cfg.data.dict == str(tmp_path / "my_dict.txt") and cfg.rec.max_text_length == 40
    assert (cfg.trainer.epochs, cfg.trainer.eval_every_steps, cfg.trainer.batch_size) == (50, 500, 64)
    optimizer = cfg.rec.optimizer
    assert (optimizer.lr, optimizer.reference_batch_size, optimizer.l2_decay) == (0.0005, 64, 3.0e-05)
    assert cfg.device == "cpu"
    assert any(n.startswith("Optimizer.lr.warmup_epoch 5") for n in translation.notes)
    assert any(n.startswith("Train.dataset.transforms") for n in translation.notes)


def test_overrides_apply_as_paddleocrs_dash_o(rec_config, tmp_path):
    config = read_config(
        rec_config, ["Global.use_gpu=true", "Global.character_dict_path=ppocr/utils/ppocrv5_dict.txt"]
    )
    cfg = compose("train", translate(config, tmp_path).args)
    assert cfg.device == "gpu" and cfg.rec.name == "PP-OCRv5_mobile_rec" and cfg.data.dict is None


def test_an_lmdb_folder_and_a_det_config(tmp_path):
    config = {
        "Architecture": {
            "model_type": "det",
            "algorithm": "DB",
            "Backbone": {"name": "PPLCNetV3", "scale": 0.75},
        },
        "Train": {"dataset": {"name": "LMDBDataSet", "data_dir": "./data/training"}},
        "Optimizer": {"lr": {"learning_rate": 0.001}},
    }
    cfg = compose("train", translate(config, tmp_path).args)
    assert cfg.det.name == "PP-OCRv4_mobile_det" and cfg.data.root == str(tmp_path / "data")
    assert list(cfg.data.train.label_files) == ["training"] and cfg.det.optimizer.lr == 0.001


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"Architecture": {"model_type": "rec", "Backbone": {"name": "PPHGNetV2_B4"}}},
            "not one ocrtrain trains",
        ),
        (
            {"Eval": {"dataset": {"data_dir": "./elsewhere", "label_file_list": ["v.txt"]}}},
            "data_dir .* differ",
        ),
    ],
)
def test_what_cannot_be_translated_is_named(rec_config, tmp_path, change, message):
    config = read_config(rec_config)
    config.update(change)
    with pytest.raises(PaddleOCRConfigError, match=message):
        translate(config, tmp_path)


def test_the_command_line(rec_config, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ocrtrain.from_paddleocr", "-c", str(rec_config), "-o", "Global.epoch_num=3",
         "--cwd", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("python -m ocrtrain.train rec=PP-OCRv4_mobile_rec data=mine")
    assert "trainer.epochs=3" in proc.stdout and "note: Global.use_space_char" not in proc.stderr
    assert "note: Optimizer.lr.warmup_epoch 5" in proc.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "ocrtrain.from_paddleocr", "-c", str(tmp_path / "nope.yml")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "nope.yml" in bad.stderr


def test_the_printed_command_trains(tmp_path):
    """A PaddleOCR config for the bundled word crops, translated and run as printed (one step)."""
    demo = REPO / "datasets" / "icdar2015_rec_demo"
    config = tmp_path / "rec.yml"
    config.write_text(
        textwrap.dedent(REC_CONFIG)
        .replace("./train_data/train_list.txt, ./extra/more.txt", "./train_data/train.txt")
        .replace("[1.0, 0.5]", "[1.0]")
        .replace("./train_data/val_list.txt", "./train_data/val.txt")
        .replace("./my_dict.txt", "ppocr/utils/ppocr_keys_v1.txt")
        .replace("  pretrained_model: ./pretrain_models/ch_PP-OCRv4_rec_train/student\n", ""),
        encoding="utf-8",
    )
    (tmp_path / "train_data").symlink_to(demo)
    printed = run_ok("from_paddleocr", "-c", str(config), cwd=tmp_path).stdout.split()
    assert printed[:3] == ["python", "-m", "ocrtrain.train"]
    args = [a.strip("'") for a in printed[3:]]
    run_ok(
        "train", *args, "trainer.max_steps=1", "trainer.batch_size=4", "trainer.num_workers=0",
        "trainer.progress=false", "tracking.enabled=false", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
    )  # fmt: skip
    assert (tmp_path / "run" / "checkpoints" / "latest" / "state.json").is_file()
