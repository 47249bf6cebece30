"""What fairseq's face of every EMA-teacher model shares (EH-MAM, M2D and the ViT methods
after it): the trainer's update count drives the teacher's EMA steps, masks draw from one
random generator per run whose state travels in checkpoints, and the collapse guard.

No maths here: the plain-PyTorch model (``self.core``) holds the teacher and its schedule.
"""
import logging

import torch
import torch.distributed as dist
from fairseq.models import BaseFairseqModel

from ehmam.collapse import check_collapse
from ehmam.ema import ema_decay

logger = logging.getLogger(__name__)


class TeacherStudentModel(BaseFairseqModel):
    """Subclasses set ``self.cfg`` (with ``seed``) and define :attr:`core`, the plain model,
    which has ``cfg.ema``, ``cfg.collapse`` and ``update_teacher(num_updates)``."""

    def __init__(self):
        super().__init__()
        self.num_updates = 0
        # updates the teacher has followed; a buffer so that it is saved and restored with it
        self.register_buffer("teacher_updates", torch.zeros((), dtype=torch.long))
        self._mask_generator = None
        self._restored_generator_state = None

    @classmethod
    def build_model(cls, cfg, task=None):
        return cls(cfg)

    @property
    def core(self) -> torch.nn.Module:
        raise NotImplementedError

    @property
    def teacher_active(self) -> bool:
        """False once fine-tuning has removed the teacher."""
        return True

    # -- training progress --------------------------------------------------------------

    def set_num_updates(self, num_updates: int) -> None:
        """Called by the task before every forward with the updates done so far. The EMA step
        for update n happens here, lazily, at the start of update n + 1 (once per update,
        whatever update_freq is); a resumed run's buffer says which steps it already took."""
        super().set_num_updates(num_updates)
        if self.training and self.teacher_active and num_updates > int(self.teacher_updates):
            self.core.update_teacher(num_updates)
            self.teacher_updates.fill_(num_updates)
        self.num_updates = num_updates

    @property
    def ema_decay(self) -> float:
        """The decay of the teacher's latest EMA step."""
        return ema_decay(int(self.teacher_updates), self.core.cfg.ema)

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
