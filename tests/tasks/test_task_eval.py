"""Cheap evaluation during training. The traced inference program runs on CPU (what export ships) once the val split
is large enough to repay tracing: the metrics and every box are the same as with the dygraph forward. Rec val crops are
read once per run: later evaluations take them from memory."""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO

from ocrtrain.config import compose
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.tasks import build_task

REC_DEMO = REPO / "datasets" / "icdar2015_rec_demo"
CASES = {
    "det": [
        "det=PP-OCRv4_mobile_det",
        "data=icdar2015_demo",
        f"data.root={REPO / 'datasets' / 'icdar2015_demo'}",
    ],
    "rec": ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo", f"data.root={REC_DEMO}"],
}


def rec_data(root, lines: int = 12):
    """The first ``lines`` rec demo val crops under ``root`` (images copied): eval overrides for them."""
    (root / "images").mkdir(parents=True)
    kept = (REC_DEMO / "val.txt").read_text().splitlines()[:lines]
    for line in kept:
        shutil.copy(REC_DEMO / line.split("\t")[0], root / "images")
    (root / "val.txt").write_text("\n".join(kept) + "\n")
    return [*CASES["rec"][:2], f"data.root={root}"]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_traced_evaluation_reports_what_the_dygraph_forward_reports(kind, tmp_path):
    task = build_task(compose("eval", CASES[kind] if kind == "det" else rec_data(tmp_path)))
    model = task.build_model()
    task.load_pretrained(model)
    model.eval()
    assert not isinstance(
        task.eval_predictor(model), InferenceModel
    )  # the demo split is too small to repay it

    task.traced_eval_min_samples = 1
    traced = task.eval_predictor(model)
    assert isinstance(traced, InferenceModel)
    fast, slow = (
        task.evaluate(traced, progress=False),
        task.evaluate(task.dygraph_predictor(model), progress=False),
    )
    if kind == "det":
        assert fast["hmean"] == slow["hmean"] > 0.3
        assert [d["det_polys"] for d in fast["details"]] == [d["det_polys"] for d in slow["details"]]
    else:
        assert fast["acc"] == slow["acc"] > 0.3 and fast["norm_edit_dis"] == slow["norm_edit_dis"]
        assert [d["prediction"] for d in fast["details"]] == [d["prediction"] for d in slow["details"]]


def test_rec_val_crops_are_read_once_per_run(tmp_path, monkeypatch):
    overrides = rec_data(tmp_path)
    task = build_task(compose("eval", overrides))
    model = task.build_model()
    task.load_pretrained(model)
    model.eval()
    predict = task.dygraph_predictor(model)
    first = task.evaluate(predict, progress=False)
    images = {f.name: f.read_bytes() for f in (tmp_path / "images").iterdir()}
    shutil.rmtree(tmp_path / "images")  # a second evaluation that read the images again would fail
    again = task.evaluate(predict, progress=False)
    assert again["details"] == first["details"] and again["acc"] == first["acc"] > 0.3

    import ocrtrain.tasks.rec

    monkeypatch.setattr(
        ocrtrain.tasks.rec, "EVAL_CACHE_BYTES", 0
    )  # a split too large to keep is read each time
    uncached = build_task(compose("eval", overrides))
    (tmp_path / "images").mkdir()
    for name, data in images.items():
        (tmp_path / "images" / name).write_bytes(data)
    assert uncached.evaluate(predict, progress=False)["details"] == first["details"]
    shutil.rmtree(tmp_path / "images")
    with pytest.raises(Exception, match="img_31_0.png"):
        uncached.evaluate(predict, progress=False)


def test_a_recogniser_is_evaluated_with_its_own_dictionary(tmp_path):
    """An exported model or zoo name carries its dictionary (inference.yml): without data.dict, evaluation adopts it
    (PP-OCRv6 tiny speaks 6,905 characters against v4's 6,624); a data.dict that differs is refused."""
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor
    from ocrtrain.tasks.rec import dictionary_of

    source = resolve_model_source("PP-OCRv6_tiny_rec", "rec", "onnxruntime")
    task = build_task(compose("eval", rec_data(tmp_path)))
    task.use_inference_settings(source.meta, source.origin, "train")
    report = task.evaluate(load_predictor(source, "cpu", "onnxruntime"), progress=False)
    assert (
        list(task.char_dict.characters) == dictionary_of(source.meta, source.origin) and report["acc"] > 0.5
    )

    (tmp_path / "dict.txt").write_text("\n".join("abc"), encoding="utf-8")
    task = build_task(compose("eval", [*rec_data(tmp_path / "given"), "data.dict=../dict.txt"]))
    with pytest.raises(ValueError, match=r"differs from data.dict \(4\).*leave data.dict out"):
        task.use_inference_settings(source.meta, source.origin, "train")
