"""What fairseq's faces of the masked-prediction models share: masks drawn from the batch's
own random stream, and the collapse guard
(:class:`MaskedModel`: Audio-MAE / MSM-MAE); the EMA teacher's steps, driven by the trainer's
update count (:class:`TeacherStudentModel`: EH-MAM, M2D and the JEPA).

No maths here: the plain-PyTorch model (``self.core``) holds the networks, and the teacher
and its schedule.
"""
import torch
from fairseq.models import BaseFairseqModel

from ehmam.collapse import check_collapse
from ehmam.ema import ema_decay


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
        # the last training batch's masks (B x N bool), for the task's batch trace
        self.last_masks = None

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
        """Training masks: a generator seeded from torch's default one, which the task has
        seeded from the batch (run seed, update, sample ids; ``ehmam.distributed``), so a
        batch's masks are the same whichever process draws them and whenever, a resumed run
        included. Validation masks: a fresh generator per batch from the run's seed, so
        validation never shifts training."""
        if not self.training:
            return torch.Generator(device=device).manual_seed(self.cfg.seed)
        seed = int(torch.randint(0, 2**62, ()))
        return torch.Generator(device=device).manual_seed(seed)

    def keep_masks(self, masks: torch.Tensor) -> None:
        if self.training:
            self.last_masks = masks.detach()

    def upgrade_state_dict_named(self, state_dict, name):
        """Checkpoints written before masks were keyed by the batch hold the run's masking
        generator state (``_extra_state``); nothing reads it now."""
        super().upgrade_state_dict_named(state_dict, name)
        state_dict.pop(f"{name}._extra_state" if name else "_extra_state", None)
        return state_dict


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
