"""ehmam's fairseq plugin: pass ``common.user_dir=/path/to/user_dir`` to fairseq.

fairseq imports this package under its directory name, then every module in ``tasks/``
and ``models/``. Criteria are not auto-imported, so they are imported here. The plugin
only registers; the maths and data checks live in the plain-PyTorch ``ehmam``.
"""
from . import criterions  # noqa: F401
