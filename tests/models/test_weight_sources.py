"""Weight sources: each on-disk format reads to the same training-named tensors; damaged files are named."""

from __future__ import annotations

import re
import shutil

import numpy as np
import paddle
import pytest

from ocrtrain import zoo
from ocrtrain.components import names
from ocrtrain.config import compose, to_plain
from ocrtrain.engine.checkpoint import save_checkpoint
from ocrtrain.models.builder import build_model
from ocrtrain.models.export import save_inference
from ocrtrain.models.loading import load_pretrained
from ocrtrain.models.weight_sources.paddle_files import read_combined_params, read_program
from ocrtrain.models.weights import WeightsError, read_weights

LEGACY_DET = zoo.zoo_model_dir("PP-OCRv4_mobile_det")


@pytest.fixture(scope="module")
def shipped_det():
    return read_weights("PP-OCRv4_mobile_det")


@pytest.fixture(scope="module")
def det_model(shipped_det):
    model = build_model(to_plain(compose("train", ["det=PP-OCRv4_mobile_det"]).det.arch))
    load_pretrained(model, "PP-OCRv4_mobile_det")
    model.eval()
    return model


def test_the_shipped_legacy_dir_reads_to_training_names(shipped_det):
    assert {"zoo", "paddle_legacy_dir", "paddle_pir_dir", "pdparams", "checkpoint"} <= set(
        names("weight_source")
    )
    assert len(shipped_det.tensors) == 234
    conv1 = shipped_det.tensors["backbone.conv1.conv.weight"]
    assert conv1.shape == (16, 3, 3, 3) and conv1.dtype == np.float32
    assert shipped_det.stored_names["backbone.conv1.conv.weight"] == "conv2d_0.w_0"
    assert read_weights(str(LEGACY_DET)).tensors.keys() == shipped_det.tensors.keys()


def test_the_zoo_recogniser_says_which_dictionary_it_speaks():
    weights = read_weights("PP-OCRv4_mobile_rec")
    assert len(weights.characters) + 1 == weights.tensors["head.ctc_head.fc.weight"].shape[1] == 6625


def test_every_format_we_write_reads_back_the_same_tensors(det_model, shipped_det, tmp_path):
    save_inference(det_model, tmp_path / "exported", [None, 3, None, None])
    paddle.save(det_model.state_dict(), str(tmp_path / "model.pdparams"))
    save_checkpoint(tmp_path / "run" / "checkpoints" / "latest", det_model, None, {"global_step": 3})
    for spec in (tmp_path / "exported", tmp_path / "model.pdparams", tmp_path / "run"):
        tensors = read_weights(str(spec)).tensors
        for name, value in shipped_det.tensors.items():
            assert np.array_equal(tensors[name], value), (spec, name)
    assert read_program(tmp_path / "exported" / "inference.json").param_names == sorted(shipped_det.tensors)


def test_a_truncated_or_random_params_file_is_named_as_damaged(tmp_path):
    legacy = tmp_path / "legacy"
    shutil.copytree(LEGACY_DET, legacy)
    params = legacy / "inference.pdiparams"
    data = params.read_bytes()
    params.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        WeightsError, match=r"legacy/inference\.pdiparams: damaged or not a Paddle parameters file"
    ):
        read_weights(str(legacy))
    params.write_bytes(np.random.default_rng(0).bytes(len(data)))
    with pytest.raises(
        WeightsError, match=r"legacy/inference\.pdiparams: damaged or not a Paddle parameters file"
    ):
        read_weights(str(legacy))
    (legacy / "inference.pdmodel").write_bytes(b"\xff" * 64)
    with pytest.raises(
        WeightsError, match=r"legacy/inference\.pdmodel: damaged or not a Paddle inference program"
    ):
        read_weights(str(legacy))


def test_a_legacy_program_reads_as_paddle_itself_reads_it():
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc.FromString((LEGACY_DET / "inference.pdmodel").read_bytes())
    block = program.blocks[0]
    shapes = {v.name: list(v.type.dense_tensor.tensor.dims) for v in block.vars}
    fetched = next(op.inputs[0].arguments[0] for op in block.ops if op.type == "fetch")
    graph = read_program(LEGACY_DET / "inference.pdmodel")
    assert graph.output_shape == shapes[fetched] == [-1, 1, -1, -1]  # dynamic sizes stay -1
    assert graph.params == sorted(
        (v.name, shapes[v.name]) for v in block.vars if v.persistable and v.name not in ("feed", "fetch")
    )
    assert len(graph.params) > 100


def test_the_parsers_read_what_paddle_writes(tmp_path):
    model = paddle.nn.Linear(3, 2)
    model.weight.set_value(np.arange(6, dtype=np.float32).reshape(3, 2))
    model.bias.set_value(np.array([-1.5, 2.5], np.float32))
    save_inference(model, tmp_path, [None, 3])
    graph = read_program(tmp_path / "inference.json")
    assert graph.params == [("bias", [2]), ("weight", [3, 2])] and graph.output_shape == [-1, 2]
    tensors = read_combined_params(tmp_path / "inference.pdiparams", graph.param_names)
    assert np.array_equal(tensors["weight"], model.weight.numpy())
    assert np.array_equal(tensors["bias"], [-1.5, 2.5])
    with pytest.raises(
        WeightsError, match=r"inference\.pdiparams: .*\(2 tensors, the program has 3 parameters\)"
    ):
        read_combined_params(tmp_path / "inference.pdiparams", ["a", "b", "c"])


def test_an_unknown_spec_says_what_is_accepted(tmp_path):
    (tmp_path / "nothing.bin").write_bytes(b"\0")
    with pytest.raises(FileNotFoundError, match="not a zoo name, a Paddle inference directory"):
        read_weights(str(tmp_path / "nothing.bin"))


def test_a_weights_spec_that_names_nothing_says_what_it_likely_meant(tmp_path):
    paddle.save({"w": paddle.zeros([1])}, str(tmp_path / "best_accuracy.pdparams"))
    given_meant = [
        (
            tmp_path / "best_accuracy",
            f"no such file or directory; did you mean {tmp_path}/best_accuracy.pdparams?",
        ),
        (tmp_path / "nope.pdparams", "no such file or directory$"),
        ("PP-OCRv4_mobile_recc", "not a zoo name or a path; did you mean PP-OCRv4_mobile_rec?"),
    ]
    for given, meant in given_meant:
        with pytest.raises(
            FileNotFoundError, match=re.escape(meant.rstrip("$")) + ("$" if meant.endswith("$") else "")
        ):
            read_weights(str(given))
