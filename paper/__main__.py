"""``python -m paper RESULTS_DIR... [--out paper/build] [--curves TABLE.csv ...] [--gpu-check DIR]
[--realcheck REAL REPLAY]``: every figure and table."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench.storage.store import StoreError

from .build import REALCHECK, build
from .data import TableChanged
from .gpu import CheckFileError
from .report import render


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper", description=__doc__)
    p.add_argument("results", nargs="+", help="results directories (each holds a results.db)")
    p.add_argument("--out", default="paper/build")
    p.add_argument("--curves", nargs="*", default=[], help="recorded learning-curve tables (results/curves/*.csv)")
    p.add_argument("--data", default=None, help="dataset folder (for the Tile 5 images)")
    p.add_argument("--gpu-check", default="results/gpu-check",
                   help="folder of `python -m bench gpu-check` results (default results/gpu-check; may be absent)")
    p.add_argument("--realcheck", nargs=2, metavar=("REAL", "REPLAY"), default=[str(x) for x in REALCHECK],
                   help="the real-training store and its replayed twin (default results/realcheck "
                        "results/realcheck-replay; may be absent)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)
    try:
        numbers = build([Path(r) for r in args.results], Path(args.out), [Path(c) for c in args.curves], args.data,
                        Path(args.gpu_check), tuple(Path(r) for r in args.realcheck))
    except (FileNotFoundError, CheckFileError, TableChanged, StoreError) as exc:  # StoreError: damaged, foreign,
        print(f"error: {exc}", file=sys.stderr)                                     # newer schema: one line
        return 2
    print(render(numbers, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
