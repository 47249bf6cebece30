"""The EMA teacher (EH-MAM Eq. 1; data2vec; M2D's target network; JEPA's target encoder):
omega_t <- lambda * omega_t + (1 - lambda) * omega_s, with the decay lambda annealed
linearly from ``decay_start`` to ``decay_end`` over ``anneal_updates`` updates, then held.

The methods' settings: EH-MAM Table 5, 0.999 -> 0.99999 over 75,000 updates (the
defaults); M2D Sec. 4.1, 0.99995 -> 0.99999 over the whole run; I-JEPA and the audio JEPA,
0.996 -> 1.0 over the whole run.

The teacher copies any module: EH-MAM's is a ``ModuleDict`` of encoder and loss predictor
(called part by part through ``teacher.model``); a ViT target encoder is one module, and
calling the teacher runs it without gradients.
"""

import copy
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EmaConfig:
    decay_start: float = 0.999
    decay_end: float = 0.99999
    anneal_updates: int = 75_000

    def __post_init__(self):
        for name in ("decay_start", "decay_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ema.{name}={getattr(self, name)}: expected a decay in [0, 1]")


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
        self.model = copy.deepcopy(unwrap(student))
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
        """Move every parameter ``1 - decay`` of the way to the student's; buffers copy."""
        student = unwrap(student)
        teacher_params = dict(self.model.named_parameters())
        student_params = dict(student.named_parameters())
        if teacher_params.keys() != student_params.keys():
            only_teacher = sorted(teacher_params.keys() - student_params.keys())[:5]
            only_student = sorted(student_params.keys() - teacher_params.keys())[:5]
            raise ValueError(f"the teacher and the student no longer have the same parameters "
                             f"(teacher only: {only_teacher}; student only: {only_student}); "
                             "update the teacher from the module it was copied from")
        targets = list(teacher_params.values())
        sources = [student_params[name].detach().to(target.dtype) for name, target in teacher_params.items()]
        torch._foreach_lerp_(targets, sources, 1.0 - decay)
        # buffers (none in the default model) follow the student exactly
        for target, source in zip(self.model.buffers(), student.buffers()):
            target.copy_(source)

    def forward(self, *args, **kwargs):
        """Run the copied module without gradients (for a single target encoder)."""
        if isinstance(self.model, (nn.ModuleDict, nn.ModuleList)):
            raise RuntimeError("this teacher holds several parts: call them through EmaTeacher.model[name]")
        with torch.no_grad():
            return self.model(*args, **kwargs)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel (``.module``) or torch.compile (``._orig_mod``),
    whose parameter names are the teacher's."""
    while True:
        inner = getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner
