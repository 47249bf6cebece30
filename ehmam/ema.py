"""The EMA teacher (EH-MAM Eq. 1; data2vec): omega_t <- lambda * omega_t + (1 - lambda) * omega_s,
with the decay lambda annealed linearly from ``decay_start`` to ``decay_end`` over
``anneal_updates`` updates, then held (paper Table 5: 0.999 -> 0.99999 over 75,000)."""

import copy
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EmaConfig:
    decay_start: float = 0.999
    decay_end: float = 0.99999
    anneal_updates: int = 75_000


def ema_decay(update: int, cfg: EmaConfig) -> float:
    """The decay to use after ``update`` optimizer updates."""
    if update >= cfg.anneal_updates or cfg.anneal_updates <= 0:
        return cfg.decay_end
    share = max(update, 0) / cfg.anneal_updates
    return cfg.decay_start + (cfg.decay_end - cfg.decay_start) * share


class EmaTeacher(nn.Module):
    """A frozen copy of ``student`` that only moves by :meth:`update`.

    It is a submodule of the model so checkpoints carry it, but its parameters never
    require gradients, it always runs in eval mode (no dropout in the targets), and
    its weights stay float32 when the model is cast to half precision: an update of
    (1 - 0.99999) times the difference would round away in float16 or bfloat16
    (data2vec 2.0 keeps its EMA in float32 for the same reason).
    """

    def __init__(self, student: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(student)
        self.model.requires_grad_(False)
        self.model.eval()

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        for tensor in list(self.model.parameters()) + list(self.model.buffers()):
            if tensor.is_floating_point() and tensor.dtype != torch.float32:
                tensor.data = tensor.data.float()
        return self

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()
        return self

    @torch.no_grad()
    def update(self, student: nn.Module, decay: float) -> None:
        teacher_params = dict(self.model.named_parameters())
        student_params = dict(student.named_parameters())
        if teacher_params.keys() != student_params.keys():
            raise ValueError("the teacher and the student no longer have the same parameters")
        for name, target in teacher_params.items():
            target.lerp_(student_params[name].detach().to(target.dtype), 1.0 - decay)
        # buffers (none in the default model) follow the student exactly
        for target, source in zip(self.model.buffers(), student.buffers()):
            target.copy_(source)

    def forward(self, *args, **kwargs):
        raise RuntimeError("call the teacher's submodules through EmaTeacher.model")
