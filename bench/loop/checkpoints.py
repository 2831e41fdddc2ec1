"""Checkpoint keeping for one run that trains for real.

Checkpoints live in ``<checkpoints>/<run>/t<trial>-e<epoch>.pt``. After every tell,
one that no job can continue any more, and that is not the incumbent's, is deleted
(``prune``); the peak disk use of the run's folder is tracked. When the run ends the
folder goes, except the incumbent's weights, which are copied to
``<results>/incumbents/<run>.pt`` (``keep_incumbent``); the runner deletes the folder
once the run is recorded done.

Replay has no files: its runs use ``NoCheckpoints``, which does no bookkeeping at all;
there a promotion continues when the suite resumes promotions.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path


def safe_name(key: str) -> str:
    """A run key as a file or folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


class Checkpoints:
    keeps_files = True

    def __init__(self, root: Path, run_key: str, resume_promotions: bool, max_budget: int):
        self.dir = Path(root) / safe_name(run_key)
        self.resume = resume_promotions
        self.max_budget = max_budget
        self.peak_disk = 0      # bytes

    def path(self, trial: int, epoch: int) -> Path:
        return self.dir / f"t{trial}-e{epoch}.pt"

    def continues(self, job) -> Path | None:
        """The checkpoint ``job`` continues, or None when it trains from scratch."""
        if self.resume and job.resumes_from > 0:
            ck = self.path(job.trial_id, job.resumes_from)
            if ck.is_file():
                return ck
        return None

    def prune(self, inflight, ckpt_in, best, reached: dict, alive) -> None:
        """Delete checkpoints no job can continue any more; track the peak disk use.

        Kept: those jobs in flight continue (``ckpt_in``) or will write (``inflight``), the
        incumbent's (``best``), and, when promotions resume, each trial's newest one while the
        tuner may still promote it (``alive``: trial ids, or None for "unknown": then every
        trial below the maximum resource)."""
        sizes = {p: p.stat().st_size for p in self.dir.glob("*.pt")}
        self.peak_disk = max(self.peak_disk, sum(sizes.values()))
        keep = {p for p in ckpt_in if isinstance(p, Path)}
        keep |= {self.path(j.trial_id, j.resource) for j in inflight}
        if best is not None:
            keep.add(self.path(best.trial_id, best.resource))
        if self.resume:
            for trial, epoch in reached.items():
                if (trial in alive) if alive is not None else epoch < self.max_budget:
                    keep.add(self.path(trial, epoch))
        for p in sizes:
            if p not in keep:
                p.unlink(missing_ok=True)

    def keep_incumbent(self, best, incumbents_dir: Path) -> None:
        """The run ended: copy the incumbent's weights to ``<incumbents_dir>/<run>.pt`` (whole or not
        at all: written beside it, then renamed). The run's folder stays until the runner has
        recorded the run done: a crash in between must leave a resume the
        checkpoint it tests the incumbent from."""
        if best is not None:
            ck = self.path(best.trial_id, best.resource)
            if ck.is_file():
                dest = Path(incumbents_dir) / f"{safe_name(self.dir.name)}.pt"
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_suffix(".pt.tmp")
                shutil.copyfile(ck, tmp)
                tmp.replace(dest)


REPLAYED = "replayed"  # what a replayed promotion "continues": there are no files


class NoCheckpoints:
    """Replay: no files, no bookkeeping."""
    keeps_files = False
    peak_disk = 0

    def __init__(self, resume_promotions: bool):
        self.resume = resume_promotions

    def continues(self, job) -> str | None:
        return REPLAYED if self.resume and job.resumes_from > 0 else None

    def path(self, trial: int, epoch: int) -> None:
        return None

    def prune(self, *args) -> None:
        pass

    def keep_incumbent(self, best, incumbents_dir: Path) -> None:
        pass
