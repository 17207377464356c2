"""The distillation KL term of a rec fine-tune."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from ocrtrain.losses.frame_kl_loss import FrameKLLoss


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_frame_kl_is_the_kl_divergence_summed_over_frames_and_zero_only_at_the_teachers_distribution(
    temperature,
):
    rng = np.random.default_rng(0)
    teacher_logits = rng.normal(scale=3.0, size=(2, 6, 9)).astype(np.float32)
    student_logits = rng.normal(scale=3.0, size=(2, 6, 9)).astype(np.float32)
    teacher = _softmax(teacher_logits)
    loss = FrameKLLoss(temperature)

    p, q = _softmax(teacher_logits / temperature), _softmax(student_logits / temperature)
    expected = (p * (np.log(p) - np.log(q))).sum(-1).sum(-1).mean() * temperature**2
    got = float(loss(paddle.to_tensor(student_logits), paddle.to_tensor(teacher)))
    assert got == pytest.approx(expected, rel=1e-4) and got > 0
    # the student that reads as the teacher does (its logits up to a constant per frame) pays nothing
    assert float(loss(paddle.to_tensor(teacher_logits + 7.0), paddle.to_tensor(teacher))) == pytest.approx(
        0.0, abs=1e-4
    )


def test_frame_kl_gradient_moves_the_student_towards_the_teacher():
    rng = np.random.default_rng(2)
    teacher = paddle.to_tensor(_softmax(rng.normal(scale=3.0, size=(4, 8, 20)).astype(np.float32)))
    student = paddle.to_tensor(rng.normal(size=(4, 8, 20)).astype(np.float32), stop_gradient=False)
    loss = FrameKLLoss()
    before = loss(student, teacher)
    before.backward()
    stepped = paddle.to_tensor(student.numpy() - 0.5 * student.grad.numpy())
    assert float(loss(stepped, teacher)) < float(before)


def test_frame_kl_refuses_a_temperature_that_is_not_positive():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        FrameKLLoss(0.0)
