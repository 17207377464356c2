"""Distillation term of a recognition fine-tune: the KL divergence from a frozen teacher's per-frame character
distribution to the student's (Hinton et al. 2015, frame by frame over a CTC recogniser's outputs).

With the pretrained weights the run starts from as the teacher it keeps what they read where the labels do not ask
otherwise (Learning without Forgetting, Li & Hoiem 2016); with a stronger recogniser as the teacher it passes on what
that one reads.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F

from ocrtrain.components import register
from ocrtrain.models.layers import log_softmax

EPS = 1e-8


@register("loss", "FrameKLLoss")
class FrameKLLoss(paddle.nn.Layer):
    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"FrameKLLoss: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, student_logits: paddle.Tensor, teacher_probs: paddle.Tensor) -> paddle.Tensor:
        """``student_logits`` N x T x C (train mode), ``teacher_probs`` N x T x C (the frozen model's softmax):
        KL(teacher || student) at ``temperature``, summed over frames and classes, averaged over the batch and
        scaled by T² so the gradient's size does not depend on the temperature (Hinton et al. 2015)."""
        t = self.temperature
        target = teacher_probs
        if t != 1.0:  # soften the teacher's probabilities as its logits / t would be
            target = F.softmax(paddle.log(teacher_probs.clip(min=EPS)) / t, axis=-1)
        log_student = log_softmax(student_logits / t)
        per_frame = (target * (paddle.log(target.clip(min=EPS)) - log_student)).sum(axis=-1)
        return per_frame.sum(axis=-1).mean() * t * t
