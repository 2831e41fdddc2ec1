"""Prefix reuse: one replayed run at the largest B of its (method, seed), the smaller budgets cut from it.

A tuner is never told B (``methods.make_tuner`` gets the space, the seed and the rung bounds R_min
and R_max, in epochs), so a run at a smaller B asks, and is told, exactly what the same run at a
larger B asks and is told, up to the first job its own ledger (``bench.loop.ledger``) refuses:
that job is recorded ``skipped`` with its overshoot and the run stops. With one job at a time
(``workers = 1``) nothing is in flight at an ask, so the smaller run is a prefix of the larger one,
row for row. ``tests/test_prefix.py`` establishes this per registered method (every method of
the registry replayed at two budgets, separately: the smaller run's jobs and epochs are the first
ones of the larger run's), and checks that a sweep with prefix reuse stores the rows of one
without it (every compared column of ``bench.instruments.crashtest``).

So the runner (``bench.loop.runner``) groups a suite's runs that differ in B alone and replays only
the largest; while it runs, each smaller one shadows it with a ledger of its own budget, and when
that ledger refuses a job (or the tuner finishes first) the smaller run is written whole, in one
transaction: its run row, the larger run's jobs and epochs so far under its own key, its skipped
job, its incumbent's test (answered from the table, as its own run would be) and its totals. Its
``tuner_seconds``, ``eval_seconds`` and ``wall_seconds`` are the larger run's up to that point (the
same asks and tells, measured once).

Which runs are grouped (``plan``): replayed runs with ``workers = 1`` whose identities are equal but
for ``budget`` / ``budget_epochs``, and none of which the store holds yet. A method whose parameters
name ``$B`` (successive halving sized to B) has another identity at every B and runs as before; so
does a run a sitting left unfinished (resumed by re-telling its log), and the smaller runs of a group
whose larger run was interrupted (run on their own). Nothing of this changes a result: a sweep run
with ``bench run --no-prefix-reuse`` stores the same rows, at about twice the CPU time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from bench.config.suite import RunSpec
from bench.loop.ledger import Ledger


@dataclass
class Cut:
    """A smaller run shadowing a larger one: its spec, and its own ledger fed the same jobs."""
    spec: RunSpec
    ledger: Ledger


def _group_key(spec: RunSpec) -> str | None:
    """What a run's group is named by (its identity without B), or None for a run that is never grouped."""
    if spec.backend != "replay" or spec.workers != 1:
        return None
    ident = {k: v for k, v in spec.identity().items() if k not in ("budget", "budget_epochs")}
    return json.dumps(ident, sort_keys=True, default=repr)


def plan(specs: list[RunSpec], fresh: set[str]) -> tuple[list[RunSpec], dict[str, list[RunSpec]]]:
    """The runs to drive, in order, and per driven run the smaller runs cut from it.

    ``specs``: runs to do, in the suite's order; ``fresh``: the keys of those the store holds no row
    of. A group (same identity but for B, all fresh, at least two) is driven at its largest B (ties
    of B: the first listed), in the place of its first member; its other members are cut from it,
    smallest B first. Every other run is driven as it is."""
    groups: dict[str, list[RunSpec]] = {}
    for s in specs:
        g = _group_key(s) if s.key in fresh else None
        if g is not None:
            groups.setdefault(g, []).append(s)
    order, cuts, placed = [], {}, set()
    for s in specs:
        g = _group_key(s) if s.key in fresh else None
        members = groups.get(g) if g is not None else None
        if not members or len(members) < 2:
            order.append(s)
            continue
        if g in placed:
            continue
        placed.add(g)
        carrier = max(members, key=lambda m: (m.budget_epochs, m.budget, -members.index(m)))
        order.append(carrier)
        cuts[carrier.key] = sorted((m for m in members if m is not carrier), key=lambda m: (m.budget_epochs, m.budget))
    return order, cuts


def groups(specs: list[RunSpec], fresh: set[str]) -> list[list[str]]:
    """The keys of ``specs`` in bundles that one process must run together (a driven run and the runs
    cut from it; every other run alone), in the order ``plan`` drives them."""
    order, cuts = plan(specs, fresh)
    return [[s.key] + [c.key for c in cuts.get(s.key, [])] for s in order]


def shadows(cut_specs: list[RunSpec]) -> list[Cut]:
    """Fresh shadows of a driven run (ledgers at zero, as the run's own starts)."""
    return [Cut(s, Ledger(s.budget_epochs)) for s in cut_specs]
