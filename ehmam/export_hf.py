"""Export an EH-MAM checkpoint to a HuggingFace ``transformers`` folder::

    python -m ehmam.export_hf CHECKPOINT OUT_DIR [--results test.greedy.json ...] [--overwrite]

CHECKPOINT: a pretraining checkpoint (fairseq-hydra-train's or the plain loop's) becomes a
``Data2VecAudioModel``; a CTC fine-tuned one (fairseq's ``wav2vec_ctc``) a
``Data2VecAudioForCTC`` with its processor, which ``pipeline("automatic-speech-recognition",
model=OUT_DIR)`` loads. ``--results``: ``ehmam.asr.decode``'s ``{split}.{method}.json`` files,
whose WER and CER the model card cites. fairseq is not imported. See
``ehmam.integrations.huggingface`` and the README's "Export to HuggingFace transformers".
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .checkpoints import CheckpointError
from .outputs import OutputError


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ehmam.export_hf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="an EH-MAM pretraining or CTC fine-tuned checkpoint (.pt)")
    parser.add_argument("out_dir", help="the folder to write (new or empty)")
    parser.add_argument("--results", action="append", default=[], metavar="JSON",
                        help="a {split}.{method}.json of ehmam.asr.decode for the model card (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty OUT_DIR")
    args = parser.parse_args(argv)

    from .integrations.huggingface import ExportError, export

    try:
        done = export(args.checkpoint, args.out_dir, args.results, overwrite=args.overwrite)
    except (ExportError, CheckpointError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model = "Data2VecAudioForCTC" if done.kind == "ctc" else "Data2VecAudioModel"
    print(f"[export_hf] {args.checkpoint} -> {done.folder}: {model}, {done.parameters:,} parameters; "
          f"files: {', '.join(done.files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
