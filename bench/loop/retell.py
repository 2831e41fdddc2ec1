"""Resume: re-telling a run's log to a fresh tuner.

The jobs table is the log. A run that did not finish is rebuilt by telling a fresh
tuner the recorded asks and tells again, in their recorded order (each ask must
equal the recorded one, else the tuner is not deterministic or the code changed).
The budget ledger, the incumbent and the simulated clock are rebuilt on the way;
jobs that were in flight are handed back, to be redone from their trial's last
checkpoint (or, in replay, from the recorded curves at the same simulated start).
"""
from __future__ import annotations

import logging

from methods import FINISHED, WAIT
from methods.base import Job

from bench.loop.runstate import RunState, objective
from bench.storage.store import dumps

log = logging.getLogger("bench.run")


class ResumeError(RuntimeError):
    """A fresh tuner, told the recorded log again, does not ask what the log holds."""


def retell(st: RunState, rows) -> None:
    """Tell ``st.tuner`` the log ``rows`` (the run's jobs table) again; fills ``st`` in place."""
    events = sorted([(j["ask_seq"], "ask", j) for j in rows]
                    + [(j["tell_seq"], "tell", j) for j in rows if j["tell_seq"] is not None],
                    key=lambda e: e[0])
    jobs: dict[int, Job] = {}
    for seq, kind, row in events:
        st.seq = seq + 1
        if kind == "ask":
            job = st.tuner.ask()
            want = (row["job_id"], row["trial_id"], row["config"], row["resource"], row["resumes_from"])
            got = None if job in (WAIT, FINISHED) else (job.job_id, job.trial_id, dumps(job.config),
                                                        job.resource, job.resumes_from)
            if got != want:
                raise ResumeError(f"run {st.spec.key} cannot resume: re-telling its log, the tuner asked {got} "
                                  f"where the log has {want} (the tuner is not deterministic, or the code "
                                  f"changed since); rerun with --fresh to move the old results aside, or give "
                                  f"another --results directory")
            jobs[job.job_id] = job
            st.trials.add(job.trial_id)
            if row["status"] == "skipped":
                st.stopped = True
                st.ledger.overshoot = row["overshoot"]
            elif row["status"] == "asked":
                st.inflight[job.job_id] = job
                st.placed[job.job_id] = (row["worker"], row["started"], row["ask_seq"])
        else:
            job = jobs[row["job_id"]]
            told = objective(st.spec, row["status"], row["loss"], row["val_miou"])
            st.tuner.tell(job, told)
            st.ledger.charge(job, row["epochs_trained"] or 0)
            st.account(job, row["status"], told, row["loss"], row["val_miou"])
            if row["finished"] is not None:
                st.clock = max(st.clock, row["finished"])
    # Every job still "asked" passed the budget decision before it was written (a job the budget
    # refuses is written together with its "skipped" outcome, in one transaction), so it is held
    # again without a second check: a kill anywhere cannot make a resume spend past B.
    for job in st.inflight.values():  # to be redone from the trial's last checkpoint
        ck = st.backend.checkpoints.continues(job)
        st.ledger.reserve(job, ck is not None)
        st.ckpt_in[job.job_id] = ck
    log.info("resumed %s: %d jobs re-told, %d epochs spent, %d job(s) to redo",
             st.spec.key, len(jobs), st.ledger.spent, len(st.inflight))
