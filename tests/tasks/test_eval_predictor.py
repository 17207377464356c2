"""Evaluations during training run the traced inference program on CPU (what export ships) once the val split is
large enough to repay tracing: the metrics and every box are the same as with the dygraph forward."""

from __future__ import annotations

import pytest
from conftest import REPO

from ocrtrain.config import compose
from ocrtrain.pipeline.predictor import InferenceModel
from ocrtrain.tasks import build_task

CASES = {
    "det": [
        "det=PP-OCRv4_mobile_det",
        "data=icdar2015_demo",
        f"data.root={REPO / 'datasets' / 'icdar2015_demo'}",
    ],
    "rec": [
        "rec=PP-OCRv4_mobile_rec",
        "data=icdar2015_rec_demo",
        f"data.root={REPO / 'datasets' / 'icdar2015_rec_demo'}",
    ],
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_traced_evaluation_reports_what_the_dygraph_forward_reports(kind):
    task = build_task(compose("eval", CASES[kind]))
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
