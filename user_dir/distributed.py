"""fairseq's default ``ddp_backend=pytorch_ddp`` on CPU processes (gloo).

fairseq 0.12 wraps the model in ``torch.nn.parallel.DistributedDataParallel`` with
``device_ids=[device_id]`` and ``output_device=device_id`` whatever the device, and torch
refuses both for a module on the CPU. :func:`install` replaces the one name fairseq builds it
from (``fairseq.models.distributed_fairseq_model.DistributedDataParallel``) with
:class:`DeviceAwareDistributedDataParallel`, which passes ``None`` for both when the module's
parameters are on the CPU and changes nothing for a module on a GPU. Everything else stays
torch's: buckets, gradient averaging, ``no_sync`` for ``update_freq``, the parameter
broadcast from rank 0 at construction.

``ddp_backend=legacy_ddp`` needs no fix on CPU, but it all-reduces after the whole backward
instead of overlapping communication with it, so on GPUs it is the slower choice; the patch
keeps one default for both.
"""
import torch
from fairseq.models import distributed_fairseq_model

TorchDistributedDataParallel = torch.nn.parallel.DistributedDataParallel


class DeviceAwareDistributedDataParallel(TorchDistributedDataParallel):
    def __init__(self, module, device_ids=None, output_device=None, **kwargs):
        if all(parameter.device.type == "cpu" for parameter in module.parameters()):
            device_ids = output_device = None  # torch's rule for CPU modules
        super().__init__(module, device_ids=device_ids, output_device=output_device, **kwargs)


def install() -> None:
    """Idempotent: replaces fairseq's name once, and only if it is still torch's class."""
    if distributed_fairseq_model.DistributedDataParallel is TorchDistributedDataParallel:
        distributed_fairseq_model.DistributedDataParallel = DeviceAwareDistributedDataParallel
