"""Quote the paper's generated findings in the README (``python -m paper.readme``; ``make paper`` runs it).

The README holds the block between ``<!-- findings:start -->`` and ``<!-- findings:end -->``; it is
replaced by ``paper/build/findings-summary.md`` as the last ``python -m paper`` wrote it, so the
README's numbers are the paper's. ``--check`` only compares (exit 1 when they differ).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- findings:start -->", "<!-- findings:end -->"
BLOCK = re.compile(re.escape(START) + r"\n(.*?)" + re.escape(END), re.S)


def quoted(readme: str) -> str | None:
    """The findings block of ``readme`` (None when it has no markers)."""
    m = BLOCK.search(readme)
    return m.group(1) if m else None


def spliced(readme: str, summary: str) -> str:
    """``readme`` with its findings block replaced by ``summary``."""
    if quoted(readme) is None:
        raise ValueError(f"the README has no {START} ... {END} block")
    return BLOCK.sub(lambda _: f"{START}\n{summary.rstrip()}\n{END}", readme, count=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paper.readme", description=__doc__.splitlines()[0])
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    ap.add_argument("--summary", default=str(REPO / "paper" / "build" / "findings-summary.md"))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    readme, summary = Path(a.readme), Path(a.summary)
    for p in (readme, summary):
        if not p.is_file():
            print(f"error: {p}: not found (run `make paper` first for the summary)", file=sys.stderr)
            return 2
    text = readme.read_text()
    try:
        new = spliced(text, summary.read_text())
    except ValueError as exc:
        print(f"error: {readme}: {exc}", file=sys.stderr)
        return 2
    if a.check:
        if new != text:
            print(f"{readme}: the findings block differs from {summary}; run `python -m paper.readme`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
