"""Recognition fine-tuning pieces on real crops: dictionary surgery, resume guard, a training step, data, export."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import yaml
from conftest import REPO, losses_around_one_step, render_lines

from ocrtrain.config import compose, to_plain
from ocrtrain.data.dictionary import CharDict
from ocrtrain.data.rec_dataset import RecDataset
from ocrtrain.models.builder import build_model
from ocrtrain.models.export import save_inference
from ocrtrain.models.loading import load_pretrained
from ocrtrain.postprocess.ctc import ctc_greedy_decode
from ocrtrain.tasks import build_task

REC = ["rec=PP-OCRv4_mobile_rec", "data=icdar2015_rec_demo"]
ROOT = REPO / "datasets" / "icdar2015_rec_demo"


@pytest.fixture(scope="module")
def val_crops():
    dataset = RecDataset(ROOT, ["val.txt"], CharDict.pretrained(), mode="eval")
    items = [dataset[i] for i in range(len(dataset))]
    return np.stack([it["image"] for it in items]), [it["text"] for it in items]


def _read(model, x, chars):
    model.eval()
    return [t for t, _ in ctc_greedy_decode(model(paddle.to_tensor(x)).numpy(), chars)]


def test_custom_dictionary_keeps_what_the_pretrained_model_reads(val_crops, tmp_path):
    x, truths = val_crops
    arch = to_plain(compose("train", REC).rec.arch)
    pretrained = CharDict.pretrained()
    base = build_model(arch, num_classes=pretrained.num_classes)
    load_pretrained(base, "PP-OCRv4_mobile_rec")
    base_texts = _read(base, x, list(pretrained.characters))

    new_chars = [c for c in "ΩЖ∑⊕☃" if c not in pretrained.characters]
    assert new_chars
    custom_chars = sorted(set("".join(base_texts)) | set("0123456789")) + new_chars + [" "]
    (tmp_path / "dict.txt").write_text("\n".join(custom_chars[:-1]) + "\n", encoding="utf-8")
    custom = CharDict.from_file(tmp_path / "dict.txt")
    assert custom.num_classes == len(custom_chars) + 1 < 200
    model = build_model(arch, num_classes=custom.num_classes)
    report = load_pretrained(model, "PP-OCRv4_mobile_rec", characters=list(custom.characters))
    assert f"{len(new_chars)} new ones fresh" in report.summary() and report.matched_fraction == 1.0
    assert _read(model, x, list(custom.characters)) == base_texts  # before any training


def test_a_checkpoint_with_another_dictionary_is_refused(in_repo):
    task = build_task(compose("train", REC))
    task.check_resume({"task": "rec", "dict_sha256": task.char_dict.sha256})
    with pytest.raises(ValueError, match="different dictionary"):
        task.check_resume({"task": "rec", "dict_sha256": "0" * 64})


def test_one_training_step_lowers_the_loss(in_repo):
    task = build_task(compose("train", REC))
    model = task.build_model()
    task.load_pretrained(model)
    dataset = task.train_dataset()
    batch = task.collate([dataset[i] for i in range(16)])
    model.train()
    # Adam's first step moves every weight by ~lr: 5e-5 is the whole-model fine-tuning rate of docs/experiments.md
    before, after = losses_around_one_step(task, model, batch, lr=5e-5)
    assert after["loss"] < before["loss"]


def test_training_items_and_concatenation():
    dataset = RecDataset(ROOT, ["train.txt"], CharDict.pretrained(), mode="train", concat_prob=1.0)
    texts = [sample.text for sample in dataset.samples]
    items = [dataset[i] for i in range(20)]  # each index draws from its own seed
    for item in items:
        assert (
            item["image"].shape == (3, 48, 320) and -1.0 <= item["image"].min() <= item["image"].max() <= 1.0
        )
        assert item["length"] == len(item["text"]) <= 25
    assert any(item["text"] not in texts for item in items)  # some lines were joined with extra samples


def test_train_transform_switches_augmentation_off_and_on(in_repo):
    """`rec.train_transform` reaches the training data: at 0 a training item is the crop as evaluated, at 1 no
    item is (every line warped, cut, blurred, inverted and joined)."""
    plain = build_task(
        compose("train", [*REC, "rec.train_transform.augment_prob=0", "rec.train_transform.concat_prob=0"])
    )
    train = plain.train_dataset()
    val = RecDataset(ROOT, ["train.txt"], CharDict.pretrained(), mode="eval")  # the same crops, as evaluated
    for i in range(8):
        assert train[i]["text"] == val[i]["text"]
        np.testing.assert_array_equal(train[i]["image"], val[i]["image"])
    heavy = build_task(
        compose("train", [*REC, "rec.train_transform.augment_prob=1", "rec.train_transform.concat_prob=1"])
    ).train_dataset()
    assert all(not np.array_equal(heavy[i]["image"], val[i]["image"]) for i in range(8))


def test_exported_recogniser_reads_like_the_pretrained_one(in_repo, tmp_path):
    from ocrtrain import create_pipeline

    task = build_task(compose("train", REC))
    model = task.build_model()
    task.load_pretrained(model)
    save_inference(model, tmp_path, task.export_input_shape())
    meta = task.inference_yml() | {"ocrtrain": {"task": "rec"}}
    (tmp_path / "inference.yml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    img = render_lines(["Order number 42", "PaddleOCR training"])
    expected = next(create_pipeline().predict(img))["rec_text"]
    assert (
        next(create_pipeline(rec_model=str(tmp_path)).predict(img))["rec_text"]
        == expected
        == [
            "Order number 42",
            "PaddleOCR training",
        ]
    )


def test_detection_labels_train_recognition_on_their_word_crops(demo_dir):
    """A det label file among the rec sources: every box but the don't-care ones, each quad rectified as it is."""
    from ocrtrain.crop import CROP_MODES, order_quad
    from ocrtrain.data.readers import read_labels
    from ocrtrain.data.rec_dataset import load_rec_image
    from ocrtrain.imageio import read_image

    dataset = RecDataset(demo_dir, ["val.txt"], CharDict.pretrained(), mode="eval")
    samples, _ = read_labels("val.txt", demo_dir)
    boxes = [(s, k) for s in samples for k, ignore in enumerate(s.ignore) if not ignore]
    assert len(dataset) == len(boxes) and [dataset[i]["text"] for i in range(len(dataset))] == [
        s.texts[k] for s, k in boxes
    ]
    img, text, source = load_rec_image(dataset.samples[0]), dataset.samples[0].text, dataset.samples[0].source
    sample, k = boxes[0]
    # the pipeline's crop_mode=quad of the labelled quad
    assert np.array_equal(img, CROP_MODES["quad"](read_image(sample.image_path), order_quad(sample.polys[k])))
    assert source.endswith(f"val.txt:1 box {k}") and text == sample.texts[k]


def test_multiscale_batches_take_one_height_each_and_repeat():
    task = build_task(compose("train", [*REC, f"data.root={ROOT}", "rec.multiscale_heights=[32,48,64]"]))
    dataset = task.train_dataset()
    np.random.seed(0)
    heights = set()
    for start in range(0, 40, 8):
        items = [dataset[i] for i in range(start, start + 8)]
        batch = task.collate(items)
        assert batch["image"].shape[0] == 8 and batch["image"].shape[3] == 320
        assert np.array_equal(task.collate(items)["image"], batch["image"])  # same indices, same height
        heights.add(batch["image"].shape[2])
    assert heights <= {32, 48, 64} and len(heights) > 1


def test_gtc_branch_trains_beside_ctc_and_is_dropped_at_export(tmp_path):
    paddle.seed(0)
    np.random.seed(0)
    task = build_task(compose("train", [*REC, f"data.root={ROOT}", "rec.gtc.enabled=true"]))
    model = task.build_model()
    report = load_pretrained(model, "PP-OCRv4_mobile_rec")
    assert report.matched_fraction == 1.0 and not report.missing
    assert any("GTC (NRTR) branch" in how for how in report.initialised.values())

    dataset = task.train_dataset()
    batch = task.collate([dataset[i] for i in range(8)])
    model.train()
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters())
    before = task.loss(model, batch)
    assert set(before) == {"loss", "loss_ctc", "loss_gtc"}
    assert float(before["loss"]) == pytest.approx(
        float(before["loss_ctc"]) + float(before["loss_gtc"]), rel=1e-5
    )
    before["loss"].backward()
    optimizer.step()
    assert float(task.loss(model, batch)["loss_gtc"]) < float(before["loss_gtc"])

    # the exported program is the CTC path alone: the same parameters as a model built without GTC
    ctc_only = build_task(compose("train", [*REC, f"data.root={ROOT}"])).build_model()
    save_inference(model, tmp_path / "gtc", [None, 3, 48, None])
    save_inference(ctc_only, tmp_path / "ctc", [None, 3, 48, None])
    sizes = [(tmp_path / d / "inference.pdiparams").stat().st_size for d in ("gtc", "ctc")]
    assert sizes[0] == sizes[1]


V6_TEACHER = [*REC, f"data.root={ROOT}", "rec.distill.teacher=PP-OCRv6_small_rec"]


def _distilled(weight: float):
    """PP-OCRv4 rec after four Adam steps (lr 2e-4, batch 8) with PP-OCRv6 small as the teacher at ``weight``."""
    from ocrtrain.engine.trainer import set_train_mode

    task = build_task(compose("train", [*V6_TEACHER, f"rec.distill.weight={weight}"]))
    model = task.build_model()
    task.load_pretrained(model)
    set_train_mode(model, freeze_norm=True)
    dataset = task.train_dataset()
    optimizer = paddle.optimizer.Adam(learning_rate=2e-4, parameters=model.parameters())
    paddle.seed(0)
    for step in range(4):
        losses = task.loss(model, task.collate([dataset[(i, step)] for i in range(8 * step, 8 * step + 8)]))
        losses["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()
    model.eval()
    return task, model


def test_distillation_moves_the_student_towards_the_teachers_readings(val_crops):
    x = val_crops[0][:24]
    task, distilled = _distilled(weight=1.0)
    _, plain = _distilled(weight=0.0)
    teacher = task._teacher_probs(x, [len(x), 40, task.char_dict.num_classes])

    def kl_to_teacher(model) -> float:
        probs = model(paddle.to_tensor(x)).numpy()
        return float((teacher * (np.log(teacher + 1e-8) - np.log(probs + 1e-8))).sum(-1).sum(-1).mean())

    # measured on these 24 crops: 33.8 after four plain steps, 15.0 after four distilled
    assert kl_to_teacher(distilled) < 0.7 * kl_to_teacher(plain)
    distilled.train()
    losses = task.loss(distilled, task.collate([task.train_dataset()[i] for i in range(8)]))
    assert set(losses) == {"loss", "loss_ctc", "loss_distill"} and float(losses["loss_distill"]) > 0
    assert float(losses["loss"]) == pytest.approx(
        float(losses["loss_ctc"]) + float(losses["loss_distill"]), rel=1e-5
    )


def test_distillation_without_a_teacher_is_refused_up_front():
    with pytest.raises(ValueError, match="rec.distill.weight > 0 needs rec.distill.teacher"):
        build_task(compose("train", [*REC, f"data.root={ROOT}", "rec.distill.weight=1"]))


def test_a_teacher_with_another_dictionary_reads_the_same_through_our_classes(val_crops):
    """PP-OCRv6 small (18,708 characters) as the teacher of PP-OCRv4 (6,623): its frames, mapped onto our classes
    by character, decode to what it reads with its own dictionary."""
    from ocrtrain.pipeline.model_source import resolve_model_source
    from ocrtrain.pipeline.predictor import load_predictor

    x, texts = val_crops
    task = build_task(compose("train", [*V6_TEACHER, "rec.distill.weight=1"]))
    v6 = build_task(
        compose("train", ["rec=PP-OCRv6_small_rec", "data=icdar2015_rec_demo", f"data.root={ROOT}"])
    )
    own = load_predictor(resolve_model_source("PP-OCRv6_small_rec", "rec"), "cpu")(x)
    mapped = task._teacher_probs(x, [len(x), own.shape[1], task.char_dict.num_classes])
    np.testing.assert_allclose(mapped.sum(-1), 1.0, atol=1e-4)
    ours = ctc_greedy_decode(mapped, list(task.char_dict.characters))
    theirs = ctc_greedy_decode(own, list(v6.char_dict.characters))
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    assert sum(t == truth for (t, _), truth in zip(ours, texts, strict=True)) >= 0.8 * len(texts)
    with pytest.raises(ValueError, match="frames per crop against this model's 20"):
        task._teacher_probs(x, [len(x), 20, task.char_dict.num_classes])


def test_class_columns_map_a_dictionary_onto_ours_by_character():
    from ocrtrain.tasks.rec import class_columns

    assert class_columns(["a", "b"], ["a", "b"]) is None
    assert class_columns(["x", "a", "b"], ["b", "a", "q"]).tolist() == [0, 3, 2, -1]
