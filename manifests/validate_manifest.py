#!/usr/bin/env python
"""Check manifests and their label files the way the training task will.

    python manifests/validate_manifest.py data/demo/train.tsv data/demo/valid.tsv --labels ltr wrd

Exits 1 and lists every problem (``file:line: what. Fix: how.``) if any is found.
"""
import argparse
import sys
from pathlib import Path

from ehmam.data.audio import SAMPLE_RATE
from ehmam.data.manifest import ManifestError, validate_manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("manifests", nargs="+", type=Path, help="{split}.tsv files")
    p.add_argument("--labels", nargs="*", default=[], help="label extensions beside each manifest, e.g. ltr wrd")
    p.add_argument("--sample-rate", type=int, default=SAMPLE_RATE)
    p.add_argument("--min-sample-size", type=int, default=None,
                   help="count utterances shorter than this (training skips them)")
    p.add_argument("--no-audio", action="store_true", help="skip reading audio headers")
    a = p.parse_args(argv)
    failed = False
    for manifest in a.manifests:
        try:
            report = validate_manifest(
                manifest, a.sample_rate, a.min_sample_size,
                label_paths=[manifest.with_suffix(f".{ext}") for ext in a.labels],
                check_audio=not a.no_audio)
            print(f"ok: {report.summary()}")
        except ManifestError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
