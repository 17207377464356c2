"""An exponential moving average of the model's weights (``trainer.ema_decay``), evaluated and kept as ``best``.

After every optimizer step the average of each floating-point tensor of the model's state (parameters and norm
statistics) moves towards it: ``avg = d * avg + (1 - d) * weight`` with ``d = min(decay, (1 + t) / (10 + t))`` after
``t`` earlier steps. The warm-up of ``d`` (as PaddleDetection's and TensorFlow's averages have it) lets the average
leave the starting weights quickly: without it a short fine-tune's average lags far behind (measured:
docs/experiments.md).
``decay`` 0.98 weighs roughly the last 50 steps once ``t`` > 440. Evaluation scores the average and ``best`` stores it;
``latest`` stores the training weights as the model and the average beside them (``ema.pdparams``), so a resumed
run continues both exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import paddle

from ocrtrain.models.weight_sources.pdparams import read_pdparams

EMA_FILE = "ema.pdparams"


def _averaged_entries(model: paddle.nn.Layer) -> dict[str, paddle.Tensor]:
    """The state entries worth averaging: floating-point tensors (not integer counters)."""
    return {name: t for name, t in model.state_dict().items() if t.dtype in (paddle.float32, paddle.float64)}


class WeightAverage:
    """The running average of ``model``'s weights, starting at its current ones."""

    def __init__(self, model: paddle.nn.Layer, decay: float) -> None:
        self.model, self.decay = model, float(decay)
        with paddle.no_grad():
            self.average = {name: t.detach().clone() for name, t in _averaged_entries(model).items()}

    def decay_at(self, step: int) -> float:
        """The decay of the update after ``step`` earlier optimizer steps."""
        return min(self.decay, (1 + step) / (10 + step))

    @paddle.no_grad()
    def update(self, step: int) -> None:
        """Move the average towards the model's current weights; call after each optimizer step, with the number
        of steps before it."""
        decay = self.decay_at(step)
        for name, current in _averaged_entries(self.model).items():
            average = self.average[name]
            average.scale_(decay)
            average.add_(current.detach() * (1.0 - decay))

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the average inside the block and its training weights again after it."""
        training = {name: t.detach().clone() for name, t in _averaged_entries(self.model).items()}
        self.model.set_state_dict(self.average)
        try:
            yield
        finally:
            self.model.set_state_dict(training)

    def state_dict(self) -> dict[str, paddle.Tensor]:
        return self.average

    def load(self, path: Path) -> None:
        """Restore the average a checkpoint saved (read as data only); every averaged tensor must be there."""
        saved = read_pdparams(path).tensors
        missing = sorted(set(self.average) - set(saved))
        if missing:
            raise ValueError(f"{path}: the weight average lacks {len(missing)} tensors (first: {missing[0]})")
        for name, average in self.average.items():
            value = np.asarray(saved[name])
            if tuple(value.shape) != tuple(average.shape):
                raise ValueError(f"{path}: {name} has shape {value.shape}, the model {tuple(average.shape)}")
            average.set_value(value.astype(np.float32 if average.dtype == paddle.float32 else np.float64))
