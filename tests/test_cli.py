"""Command lines Hydra cannot read (paths with spaces or reserved characters): one line saying how to quote them;
a mistyped key: one line naming the key it meant; a device list, which Hydra would read as a sweep, reaches the
device check."""

from __future__ import annotations

import shlex
import shutil

import paddle
import pytest
from conftest import DEMO
from conftest import run_module as run


@pytest.mark.parametrize("module", ["train", "eval", "export", "infer", "data"])
def test_a_path_split_by_the_shell_is_explained_by_every_entry_point(tmp_path, module):
    # what `python -m ocrtrain.<module> data.root=/my photos/x` hands over: the shell split it at the space
    proc = run(module, *(["check"] if module == "data" else []), "data.root=/my", "photos/x", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        "error: 'photos/x' is not key=value: a path with spaces needs quotes the shell and Hydra both see, "
        """e.g. 'data.root="/my photos/x"'"""
    )


def test_the_suggested_quoting_works(tmp_path):
    image = tmp_path / "my photos" / "scan (1).jpg"
    image.parent.mkdir()
    shutil.copy(DEMO / "images" / "img_11.jpg", image)
    proc = run("infer", f"input={image}", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "LexerNoViableAlt" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: input={image}: Hydra cannot read this value")
    suggestion = shlex.split(line.split("quote it for Hydra inside shell quotes: ")[1])
    proc = run("infer", *suggestion, f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("train", ["trainer.batch_sz=4"], "trainer.batch_sz: unknown setting (did you mean trainer.batch_size?)"),
        ("train", ["det=PP-OCRv4_mobile_det", "det.optimizer.lrr=1"], "det.optimizer.lrr: unknown setting (did you mean det.optimizer.lr?)"),
        ("train", ["traner.batch_size=3"], "traner.batch_size: unknown setting (did you mean trainer.batch_size?)"),
        ("train", ["zzz.yyy=4"], "zzz.yyy: unknown setting (zzz is not in the train config)"),
        ("eval", ["resise=pipeline"], "resise: unknown setting (did you mean resize?)"),
        ("export", ["formt=onnx"], "formt: unknown setting (did you mean format?)"),
        ("infer", ["input=a.png", "pipeline.det_box_thres=0.5"], "pipeline.det_box_thres: unknown setting (did you mean pipeline.det_box_thresh?)"),
        ("serve", ["prot=8000"], "prot: unknown setting (did you mean port?)"),
        ("data", ["split", "input=a.txt", "ratio=1.5"], "ratio: unknown setting (did you mean ratios?)"),
        ("train", ["rec=PP-OCRv4_mobile_recc"], "rec=PP-OCRv4_mobile_recc: no such rec config (did you mean rec=PP-OCRv4_mobile_rec?)"),
        ("eval", ["data=zzz"], "data=zzz: no such data config (one of icdar2015_demo, icdar2015_rec_demo, mine)"),
        ("train", ["Global.pretrained_model=x"], "Global.pretrained_model: unknown setting (Global is not in the train config; a PaddleOCR config key: python -m ocrtrain.from_paddleocr -c <config.yml> prints ocrtrain's command)"),
    ],
)  # fmt: skip
def test_a_mistyped_key_is_named_with_the_key_it_meant(tmp_path, module, args, message):
    """These were Hydra's six-line "Key ... is not in struct" report, exit status 1."""
    proc = run(module, *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message}", proc.stderr[-2000:]


@pytest.mark.skipif(paddle.is_compiled_with_cuda(), reason="the errors of a paddle without CUDA")
@pytest.mark.parametrize("module", ["train", "eval", "export", "infer", "serve"])
def test_a_device_list_reaches_the_device_check_of_every_entry_point(tmp_path, module):
    given_input = ["input=a.png"] if module == "infer" else []  # infer asks for its input first
    proc = run(module, "device=gpu:0,1", *given_input, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    if module == "train":  # data parallel on two GPUs: refused by the installed paddle
        assert line.startswith("error: device 'gpu:0' was requested, but the installed paddlepaddle")
    else:  # one model runs on one device
        assert line.startswith("error: invalid device 'gpu:0,1'")
