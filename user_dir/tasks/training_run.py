"""What every ehmam training task does before fairseq starts: claim the checkpoint directory,
repair a ``checkpoint_last.pt`` cut short by a kill, validate each split's manifest and labels
before fairseq reads it, and name the files of a batch whose loss is not finite. With several
processes (``ehmam.launch``), rank 0 claims and repairs the directory before any rank reads a
checkpoint, each training batch draws its randomness from its own samples
(``ehmam.distributed``), and every validation first checks that the ranks hold the same weights.

The checks live in ``ehmam`` (``ehmam.run_directory``, ``ehmam.data.manifest``); this mixin
only calls them at the right moments of fairseq's task life cycle. A training run is told
apart from a checkpoint being read back (decoding, fine-tuning's ``w2v_path``) by fairseq's
``setup_task(..., from_checkpoint=True)``, which every reading path passes.
"""
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from fairseq.dataclass import FairseqDataclass
from omegaconf import II
from omegaconf.errors import OmegaConfBaseException

from ehmam.data.manifest import validate_manifest
from ehmam.distributed import combined_digest, disagreeing_tensors, seed_batch, state_digests, tensor_digest
from ehmam.losses import NonFiniteLossError
from ehmam.run_directory import lock_run_directory, recover_last_checkpoint

logger = logging.getLogger(__name__)

FAIRSEQ_DEFAULT_RESTORE_FILE = "checkpoint_last.pt"


@dataclass
class TrainingRunConfig(FairseqDataclass):
    validate_audio: bool = field(
        default=True,
        metadata={"help": "read every audio header when a split loads (missing, unreadable, "
                  "empty, stereo, wrong rate, wrong sample count); manifest lines and label "
                  "line counts are always checked"},
    )
    # which splits train and validate: a non-finite loss names the batch's files from them
    train_subset: str = II("dataset.train_subset")
    valid_subset: str = II("dataset.valid_subset")
    # the directory the run claims, and the checkpoint it resumes from
    save_dir: str = II("checkpoint.save_dir")
    restore_file: str = II("checkpoint.restore_file")
    load_checkpoint_on_all_dp_ranks: bool = II("checkpoint.load_checkpoint_on_all_dp_ranks")
    batch_trace: bool = field(
        default=False,
        metadata={"help": "append each training batch's update, sample ids, random seed and mask "
                  "digest to save_dir/batch_trace.rank<R>.tsv, one file per process: what each "
                  "rank trained on, and whether a resumed run replays"},
    )


def _resolved(cfg, key: str) -> Optional[str]:
    """``cfg.key``, or None where the interpolation has nothing to resolve against (a task
    config built on its own, outside a training run's full config)."""
    try:
        return getattr(cfg, key, None)
    except OmegaConfBaseException:
        return None


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class RanksDivergedError(RuntimeError):
    """The processes of a data-parallel run hold different weights."""


class TrainingRunTask:
    """Mixin for a fairseq task class (first in the bases): see the module docstring."""

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        training = not kwargs.get("from_checkpoint", False)
        if training:
            cls.check_distributed_settings(cfg)
            cls.claim_run_directory_first(cfg)
        task = super().setup_task(cfg, **kwargs)
        train_subset = _resolved(cfg, "train_subset")
        if training and train_subset:
            # fairseq reads the training split only after building the model and loading the
            # checkpoint: check it now, before any of that work
            task.validate_split(train_subset, cfg)
        return task

    @staticmethod
    def check_distributed_settings(cfg) -> None:
        if _distributed() and _resolved(cfg, "load_checkpoint_on_all_dp_ranks") is False:
            raise ValueError(
                "checkpoint.load_checkpoint_on_all_dp_ranks=false with several processes: rank 0 would "
                "broadcast the checkpoint by pickle, which the other ranks' weights_only loads refuse, so "
                "a resume fails. Set it true (python -m ehmam.launch does)")

    @classmethod
    def claim_run_directory_first(cls, cfg) -> None:
        """Rank 0 claims (and repairs) the directory while the others wait, so no rank reads
        ``checkpoint_last.pt`` before it is whole; rank 0's error stops every rank."""
        if not _distributed():
            cls.claim_run_directory(cfg)
            return
        failure, error = [None], None
        if dist.get_rank() == 0:
            try:
                cls.claim_run_directory(cfg)
            except Exception as err:  # told to every rank before rank 0 raises it
                failure, error = [f"{type(err).__name__}: {err}"], err
        dist.broadcast_object_list(failure, src=0)
        if error is not None:
            raise error
        if failure[0] is not None:
            raise RuntimeError(f"rank 0 could not claim checkpoint.save_dir: {failure[0]}")

    @staticmethod
    def claim_run_directory(cfg) -> None:
        save_dir = _resolved(cfg, "save_dir")
        if not save_dir:
            return
        lock_run_directory(save_dir)
        if _resolved(cfg, "restore_file") == FAIRSEQ_DEFAULT_RESTORE_FILE:
            recover_last_checkpoint(save_dir, FAIRSEQ_DEFAULT_RESTORE_FILE)

    # -- a split is checked before fairseq reads it ------------------------------------

    # set by a task that refuses audio shorter than min_sample_size instead of skipping it
    # (fairseq's audio tasks skip): what the minimum stands for, for the error message
    refuse_short: Optional[str] = None

    def label_symbols(self) -> Optional[Sequence[str]]:
        """The symbols every label token must be one of; None: labels are not checked."""
        return None

    # splits already checked by this task (set-up checks the training split before fairseq loads it)
    _validated_splits: frozenset = frozenset()

    def load_dataset(self, split: str, task_cfg=None, **kwargs):
        task_cfg = task_cfg or self.cfg
        self.validate_split(split, task_cfg)
        super().load_dataset(split, task_cfg, **kwargs)

    def validate_split(self, split: str, task_cfg) -> None:
        if split in self._validated_splits:
            return
        if getattr(task_cfg, "binarized_dataset", False):
            logger.warning("binarized dataset %s: manifest validation does not apply", split)
            return
        # A multi-corpus split reads "key:file,key:file"; each file is a manifest.
        names = ([split] if getattr(task_cfg, "multi_corpus_keys", None) is None
                 else [part.split(":")[1].strip() for part in split.split(",")])
        labels = getattr(task_cfg, "labels", None)
        for name in names:
            stem = os.path.join(self.cfg.data, name)
            report = validate_manifest(
                f"{stem}.tsv",
                sample_rate=getattr(task_cfg, "sample_rate", self.cfg.sample_rate),
                min_sample_size=self.cfg.min_sample_size,
                label_paths=[f"{stem}.{labels}"] if labels else (),
                check_audio=self.cfg.validate_audio,
                label_symbols=self.label_symbols() if labels else None,
                refuse_short=self.refuse_short,
            )
            logger.info("validated %s", report.summary())
        self._validated_splits = self._validated_splits | {split}

    # -- a non-finite loss stops training with the update and the files named ----------

    # the update the latest training batch belongs to (1-based), for the ranks' agreement log
    updates_begun: Optional[int] = None

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False, **kwargs):
        ids = sample["id"].tolist() if sample and "id" in sample else []
        seed = seed_batch(self.cfg.seed, update_num, ids)  # masks, dropout: see ehmam.distributed
        self.updates_begun = update_num + 1
        try:
            loss, sample_size, logging_output = super().train_step(
                sample, model, criterion, optimizer, update_num, ignore_grad, **kwargs)
            if self.cfg.batch_trace:
                self.trace_batch(update_num, ids, seed, getattr(model, "last_masks", None), ignore_grad)
            # fairseq's own check comes later, on the gradient norm, and names no file. The
            # criterion has already read the loss into a float to log it: no second device sync.
            logged = logging_output.get("loss", 0.0)
            if not ignore_grad and not math.isfinite(logged):
                raise FloatingPointError(f"the loss is {logged}")
            return loss, sample_size, logging_output
        except FloatingPointError as err:
            raise NonFiniteLossError(
                f"update {update_num + 1}: {err}. Batch: {self.batch_files(sample, [self.cfg.train_subset])}. "
                f"Check these files for silence, clipping or NaN samples; if they are fine, lower "
                f"the learning rate (fairseq saved crash.pt beside the checkpoints)"
            ) from err

    def trace_batch(self, update_num: int, ids, seed: int, masks, dummy: bool) -> None:
        save_dir = _resolved(self.cfg, "save_dir") or "."
        path = os.path.join(save_dir, f"batch_trace.rank{_rank()}.tsv")
        new = not os.path.exists(path)
        masks = "-" if masks is None else tensor_digest(masks)[:16]
        with open(path, "a") as trace:
            if new:
                trace.write("update\tseed\tids\tmasks\tdummy\n")
            trace.write(f"{update_num + 1}\t{seed}\t{','.join(map(str, ids))}\t{masks}\t{int(dummy)}\n")

    # -- the ranks agree before every validation ---------------------------------------

    def begin_valid_epoch(self, epoch, model):
        super().begin_valid_epoch(epoch, model)
        if _distributed():
            self.check_ranks_agree(model, self.updates_begun)

    @staticmethod
    def check_ranks_agree(model: torch.nn.Module, updates: Optional[int] = None) -> str:
        """Every parameter and buffer (an EMA teacher's included) bit for bit on every rank;
        raises :class:`RanksDivergedError` on all ranks alike, naming the tensors."""
        mine = state_digests(model.state_dict())
        per_rank = [None] * dist.get_world_size()
        dist.all_gather_object(per_rank, mine)
        differ = disagreeing_tensors(per_rank)
        after = f" after {updates} updates" if updates is not None else ""
        if differ:
            shown = "; ".join(differ[:5]) + (f"; and {len(differ) - 5} more" if len(differ) > 5 else "")
            raise RanksDivergedError(f"the {len(per_rank)} processes hold different weights{after}: {shown}. "
                                     "Something outside the all-reduced gradients changed a rank's weights")
        digest = combined_digest(mine)
        logger.info("ranks agree%s: %d tensors equal on %d processes (state sha256 %s)",
                    after, len(mine), len(per_rank), digest)
        return digest

    def valid_step(self, sample, model, criterion):
        try:
            return super().valid_step(sample, model, criterion)
        except FloatingPointError as err:
            raise NonFiniteLossError(
                f"validation: {err}. Batch: {self.batch_files(sample, self.cfg.valid_subset.split(','))}"
            ) from err

    def batch_files(self, sample, splits) -> str:
        """The audio files of a batch, by its dataset indices, for error messages."""
        ids = sample["id"].tolist() if sample and "id" in sample else []
        described = []
        for split in splits:
            dataset = self.datasets.get(split)
            while dataset is not None and not hasattr(dataset, "fnames") and not hasattr(dataset, "file_path"):
                dataset = getattr(dataset, "dataset", None)  # wrappers: crops, targets
            if dataset is None:
                continue
            if hasattr(dataset, "file_path"):
                described.append(f"{split}: " + ", ".join(dataset.file_path(i) for i in ids))
                continue
            names = []
            for i in ids:
                name = dataset.fnames[i]  # a list item, or a pyarrow scalar when pyarrow is installed
                name = name if isinstance(dataset.fnames, list) else name.as_py()
                names.append(os.path.join(dataset.root_dir, dataset.text_compressor.decompress(name)))
            described.append(f"{split}: " + ", ".join(names))
        return "; ".join(described) or f"dataset indices {ids}"
