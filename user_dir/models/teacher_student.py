"""What fairseq's faces of the masked-prediction models share: masks draw from one random
generator per run whose state travels in checkpoints, and the collapse guard
(:class:`MaskedModel`: Audio-MAE / MSM-MAE); the EMA teacher's steps, driven by the trainer's
update count (:class:`TeacherStudentModel`: EH-MAM, M2D and the JEPA).

No maths here: the plain-PyTorch model (``self.core``) holds the networks, and the teacher
and its schedule.
"""
import logging

import torch
import torch.distributed as dist
from fairseq.models import BaseFairseqModel

from ehmam.collapse import check_collapse
from ehmam.ema import ema_decay

logger = logging.getLogger(__name__)


def no_weight_decay(name: str, parameter) -> bool:
    """MAE's rule (timm's ``param_groups_weight_decay`` on the whole model, no exemption list),
    kept by Audio-MAE, MSM-MAE and M2D: no decay for biases and parameters of one dimension or
    less (norms). The CLS and mask tokens (1 x 1 x D) decay, as there."""
    return parameter.ndim <= 1 or name.endswith(".bias")


def tag_no_decay(module: torch.nn.Module) -> None:
    """Tag biases and norms ``param_group = "no_decay"``, so a ``composite`` optimizer can
    exempt them from weight decay; other optimizers ignore the tag."""
    for name, parameter in module.named_parameters():
        if parameter.requires_grad and no_weight_decay(name, parameter):
            parameter.param_group = "no_decay"


class MaskedModel(BaseFairseqModel):
    """Subclasses set ``self.cfg`` (with ``seed``) and define :attr:`core`, the plain model,
    which has ``cfg.collapse``."""

    def __init__(self):
        super().__init__()
        self.num_updates = 0
        self._mask_generator = None
        self._restored_generator_state = None

    @classmethod
    def build_model(cls, cfg, task=None):
        return cls(cfg)

    @property
    def core(self) -> torch.nn.Module:
        raise NotImplementedError

    def set_num_updates(self, num_updates: int) -> None:
        super().set_num_updates(num_updates)
        self.num_updates = num_updates

    def check_collapse(self, target_std: float, prediction_std: float) -> None:
        if self.training:
            check_collapse(self.num_updates, target_std, prediction_std, self.core.cfg.collapse)

    # -- masking randomness -------------------------------------------------------------

    def mask_generator(self, device: torch.device) -> torch.Generator:
        """Training masks come from one generator per run (state saved in checkpoints);
        validation masks from a fresh one per batch, so validation never shifts training."""
        if not self.training:
            return torch.Generator(device=device).manual_seed(self.cfg.seed)
        if self._mask_generator is None or self._mask_generator.device != device:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
            generator = torch.Generator(device=device).manual_seed(self.cfg.seed + 1_000_003 * rank)
            if self._restored_generator_state is not None:
                try:
                    generator.set_state(self._restored_generator_state)
                except RuntimeError:
                    logger.warning("the checkpoint's masking generator state is from another device "
                                   "type; masks are reseeded, so this run will not replay the saved one")
                self._restored_generator_state = None
            self._mask_generator = generator
        return self._mask_generator

    def get_extra_state(self):
        state = self._mask_generator.get_state() if self._mask_generator is not None else self._restored_generator_state
        return {"mask_generator": state}

    def set_extra_state(self, state):
        self._restored_generator_state = state.get("mask_generator")
        self._mask_generator = None


class TeacherStudentModel(MaskedModel):
    """A :class:`MaskedModel` whose ``core`` also has ``cfg.ema`` and
    ``update_teacher(num_updates)``."""

    def __init__(self):
        super().__init__()
        # updates the teacher has followed; a buffer so that it is saved and restored with it
        self.register_buffer("teacher_updates", torch.zeros((), dtype=torch.long))

    @property
    def teacher_active(self) -> bool:
        """False once fine-tuning has removed the teacher."""
        return True

    def set_num_updates(self, num_updates: int) -> None:
        """Called by the task before every forward with the updates done so far. The EMA step
        for update n happens here, lazily, at the start of update n + 1 (once per update,
        whatever update_freq is); a resumed run's buffer says which steps it already took."""
        if self.training and self.teacher_active and num_updates > int(self.teacher_updates):
            self.core.update_teacher(num_updates)
            self.teacher_updates.fill_(num_updates)
        super().set_num_updates(num_updates)

    @property
    def ema_decay(self) -> float:
        """The decay of the teacher's latest EMA step."""
        return ema_decay(int(self.teacher_updates), self.core.cfg.ema)
