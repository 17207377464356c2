"""`python -m ocrtrain.eval` and `python -m ocrtrain.export` on a real one-step recognition run: the rec branch end to
end, checkpoints that do not hold the model's weights refused, and a bare checkpoint directory with det=/rec= data=."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import REPO, ok
from conftest import run_module as run

ROOT = REPO / "datasets" / "icdar2015_rec_demo"
OFFLINE = ["tracking.enabled=false"]


@pytest.fixture(scope="module")
def rec_run(tmp_path_factory):
    """A real one-step recognition fine-tune on the bundled word crops; returns its run directory."""
    work = tmp_path_factory.mktemp("rec_run")
    ok(
        run(
            "train",
            "rec=PP-OCRv4_mobile_rec",
            "data=icdar2015_rec_demo",
            f"data.root={ROOT}",
            "trainer.max_steps=1",
            "trainer.batch_size=4",
            "trainer.num_workers=0",
            "trainer.eval_every_steps=1",
            "trainer.progress=false",
            *OFFLINE,
            f"hydra.run.dir={work}/run",
            cwd=work,
        )
    )
    return work / "run"


def test_rec_eval_and_export_from_the_command_line(rec_run, tmp_path):
    best = json.loads((rec_run / "checkpoints" / "best" / "state.json").read_text())
    ok(run("eval", f"checkpoint={rec_run}", *OFFLINE, f"hydra.run.dir={tmp_path}/eval", cwd=tmp_path))
    report = json.loads((tmp_path / "eval" / "eval_report.json").read_text())
    assert report["acc"] == pytest.approx(best["eval"]["acc"])  # the number training selected on
    assert report["samples"] == len(report["details"]) > 0 and (tmp_path / "eval" / "worst.png").is_file()

    out = ok(
        run("export", f"checkpoint={rec_run}", f"export_dir={tmp_path}/exported", *OFFLINE, cwd=tmp_path)
    ).stdout
    assert "parity checkpoint vs exported model" in out and "OK" in out
    meta = yaml.safe_load((tmp_path / "exported" / "inference.yml").read_text())
    assert meta["ocrtrain"]["task"] == "rec" and meta["PostProcess"]["name"] == "CTCLabelDecode"
    assert {"RecResizeImg": {"image_shape": [3, 48, 320]}} in meta["PreProcess"]["transform_ops"]

    # the exported dir evaluates to the checkpoint's numbers through the pipeline's predictor
    ok(
        run(
            "eval",
            f"checkpoint={tmp_path / 'exported'}",
            "rec=PP-OCRv4_mobile_rec",
            "data=icdar2015_rec_demo",
            f"data.root={ROOT}",
            *OFFLINE,
            f"hydra.run.dir={tmp_path}/eval_exported",
            cwd=tmp_path,
        )
    )
    exported = json.loads((tmp_path / "eval_exported" / "eval_report.json").read_text())
    assert exported["acc"] == pytest.approx(report["acc"], abs=0.03)


def test_eval_compares_a_fine_tune_with_the_weights_it_started_from(rec_run, tmp_path):
    from PIL import Image

    out = ok(
        run("eval", f"checkpoint={rec_run}", "compare=PP-OCRv4_mobile_rec", "worst_k=5", *OFFLINE,
            f"hydra.run.dir={tmp_path}/compare", cwd=tmp_path)
    ).stdout  # fmt: skip
    report = json.loads((tmp_path / "compare" / "eval_report.json").read_text())
    before = json.loads((tmp_path / "compare" / "compared_report.json").read_text())
    assert report["compared_to"]["evaluated"] == before["evaluated"] == "PP-OCRv4_mobile_rec"
    assert "before: PP-OCRv4_mobile_rec" in out and f"{report['acc'] - before['acc']:+8.4f}" in out

    # the shipped model's half is what eval of the shipped model alone gives, sample by sample
    ok(
        run("eval", "checkpoint=PP-OCRv4_mobile_rec", "rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo",
            f"data.root={ROOT}", *OFFLINE, f"hydra.run.dir={tmp_path}/alone", cwd=tmp_path)
    )  # fmt: skip
    alone = json.loads((tmp_path / "alone" / "eval_report.json").read_text())
    assert before["acc"] == alone["acc"] and before["details"] == alone["details"]
    best = json.loads((rec_run / "checkpoints" / "best" / "state.json").read_text())
    assert report["acc"] == pytest.approx(best["eval"]["acc"])
    with Image.open(tmp_path / "compare" / "before_after.png") as sheet:
        assert sheet.height == 5 * (30 + 26 * 3)  # 5 crops, each with truth, before and after


def test_checkpoint_without_weights_is_refused_by_eval_and_export(rec_run, tmp_path):
    """A model.pdparams holding `{}`: eval once said hmean 0.0 and export 'parity ... 0.00e+00 OK'."""
    import paddle

    crafted = tmp_path / "crafted"
    shutil.copytree(rec_run, crafted)
    for checkpoint in (crafted / "checkpoints").iterdir():
        paddle.save({}, str(checkpoint / "model.pdparams"))
    for module, extra in (("eval", []), ("export", [f"export_dir={tmp_path}/exported"])):
        proc = run(
            module,
            f"checkpoint={crafted}",
            *extra,
            *OFFLINE,
            f"hydra.run.dir={tmp_path}/{module}",
            cwd=tmp_path,
        )
        assert proc.returncode != 0, f"{module} accepted a checkpoint without weights:\n{proc.stdout}"
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "model.pdparams" in errors[0], proc.stderr[-2000:]
    assert not (tmp_path / "exported").exists()


def test_checkpoint_missing_its_classifier_is_refused_by_export(rec_run, tmp_path):
    """2 of 234 tensors missing passes a 90% load threshold; the export would then hold a random classifier."""
    import paddle

    crafted = tmp_path / "crafted"
    shutil.copytree(rec_run, crafted)
    for checkpoint in (crafted / "checkpoints").iterdir():
        weights = paddle.load(str(checkpoint / "model.pdparams"))  # our own file from the run above
        classifier = [k for k in weights if k.startswith("head.ctc_head.fc.")]
        assert len(classifier) == 2
        paddle.save(
            {k: v for k, v in weights.items() if k not in classifier}, str(checkpoint / "model.pdparams")
        )
    proc = run(
        "export",
        f"checkpoint={crafted}",
        f"export_dir={tmp_path}/exported",
        *OFFLINE,
        f"hydra.run.dir={tmp_path}/x",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: " in proc.stderr and "does not hold the model's weights" in proc.stderr
    assert not (tmp_path / "exported").exists()


def test_bare_checkpoint_dir_takes_the_model_and_data_from_the_command_line(rec_run, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(rec_run / "checkpoints" / "best", bare)  # no run directory, no saved config around it
    proc = ok(
        run(
            "eval",
            f"checkpoint={bare}",
            "rec=PP-OCRv4_mobile_rec",
            "data=icdar2015_rec_demo",
            f"data.root={ROOT}",
            *OFFLINE,
            f"hydra.run.dir={tmp_path}/eval",
            cwd=tmp_path,
        )
    )
    assert "saved config is missing" not in proc.stderr
    assert json.loads((tmp_path / "eval" / "eval_report.json").read_text())["samples"] > 0


def test_eval_of_a_weights_file_reads_as_its_checkpoint(rec_run, tmp_path):
    """A .pdparams (PaddleOCR's best_accuracy, or a checkpoint's model file) is evaluated in the model det=/rec=
    configures: here the run's own weights, so the report is the checkpoint's."""
    reports = {}
    for name, spec in [
        ("dir", rec_run / "checkpoints" / "best"),
        ("file", rec_run / "checkpoints" / "best" / "model.pdparams"),
    ]:
        ok(
            run(
                "eval",
                f"checkpoint={spec}",
                "rec=PP-OCRv4_mobile_rec",
                "data=icdar2015_rec_demo",
                f"data.root={ROOT}",
                *OFFLINE,
                f"hydra.run.dir={tmp_path}/{name}",
                cwd=tmp_path,
            )
        )
        reports[name] = json.loads((tmp_path / name / "eval_report.json").read_text())
    assert reports["file"]["evaluated"].endswith("model.pdparams")
    assert [d["prediction"] for d in reports["file"]["details"]] == [
        d["prediction"] for d in reports["dir"]["details"]
    ]
    assert reports["file"]["acc"] == reports["dir"]["acc"] > 0.5


def test_eval_of_a_val_file_needs_no_train_file(rec_run, tmp_path):
    """data=mine with only a val label file: the template's train file does not exist and is not needed."""
    data = tmp_path / "data"
    shutil.copytree(ROOT, data)
    (data / "val.txt").rename(data / "v.txt")
    (data / "train.txt").unlink()
    ok(
        run(
            "eval",
            f"checkpoint={rec_run}",
            "rec=PP-OCRv4_mobile_rec",
            "data=mine",
            f"data.root={data}",
            "data.val.label_files=[v.txt]",
            *OFFLINE,
            f"hydra.run.dir={tmp_path}/eval",
            cwd=tmp_path,
        )
    )


def test_eval_of_a_checkpoint_that_does_not_exist_says_so(tmp_path):
    missing = tmp_path / "outputs" / "train" / "no-such-run"
    proc = run("eval", f"checkpoint={missing}", *OFFLINE, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        f"error: checkpoint={missing}: no such file or directory (a run, checkpoint or exported directory, "
        "a zoo name or a models:/ or runs:/ URI)"
    ]
