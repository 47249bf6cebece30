"""ehmam's fairseq plugin: pass ``common.user_dir=/path/to/user_dir`` to fairseq.

fairseq imports this package under its directory name, then every module in ``tasks/``
and ``models/``. Criteria are not auto-imported, so they are imported here. The plugin
only registers; the maths and data checks live in the plain-PyTorch ``ehmam``.
"""
import torch
from fairseq.data import Dictionary

from . import criterions  # noqa: F401
from . import distributed

# fairseq's audio_finetuning task saves its label Dictionary object in every checkpoint
# ("task_state"), and fairseq reads checkpoints with torch.load's default, weights_only=True
# since torch 2.6, which refuses any class not allow-listed: without this, a CTC run could
# not resume and its checkpoints could not be loaded. Dictionary holds only lists and dicts.
torch.serialization.add_safe_globals([Dictionary])

# fairseq's default DDP refuses CPU modules (user_dir/distributed.py): multi-process CPU runs
distributed.install()
