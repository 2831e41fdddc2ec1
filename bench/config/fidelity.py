"""Which suites a budget-aware curves table can answer, decided before anything runs.

On a budget-aware table (a ``budget`` column, ``bench.tables.curves``) every budget r is a training of
its own whose learning rate reached zero after epoch r. A job at resource r is answered by the
r-run, so:

* promotions cannot continue a checkpoint: the suite must say ``resume_promotions = false``, and
  a successive-halving bracket sized to B must be charged as restarts (``cost = "restart"``);
* a method whose protocol reads the intermediate epochs of one continued training
  (``Tuner.needs_one_training``: Optuna's per-epoch pruning) has nothing to read here;
* every resource a method can ask must be one of the table's budgets. The resources are derived
  from the method and its parameters: the rungs of the bracket methods (``methods.roles``), R for
  methods without fidelities (random search, SMAC-BO, skopt-GP), and for the other multi-fidelity
  methods (SMAC-HB, DEHB, ASHA, asynchronous Hyperband) both geometric ladders their libraries
  use, ``min_budget * eta**k`` and ``R * eta**-k`` (rounded), within [min_budget, R]. A method not
  covered here is checked when it asks: an unrecorded budget stops the suite in one line.

``check(suite)`` raises ``SuiteError`` naming the file, the key and what was expected.
"""
from __future__ import annotations

import json
import math

from methods.roles import BRACKET_METHODS, role

WITHOUT_FIDELITY = ("random-search", "smac-bo", "skopt-gp")


def table_budgets(path) -> list[int] | None:
    """The budgets (epochs) of a budget-aware curves table; None for a budget-unaware one."""
    import pandas as pd

    from bench.tables.curves import resolve
    p = resolve(path)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq
        if "budget" not in pq.read_schema(p).names:
            return None
        col = pd.read_parquet(p, columns=["budget"])["budget"]
    else:
        if "budget" not in pd.read_csv(p, nrows=0).columns:
            return None
        col = pd.read_csv(p, usecols=["budget"])["budget"]
    return sorted(int(b) for b in col.dropna().unique())


def method_resources(method: str, params: dict, min_budget: int, max_budget: int) -> set[int] | None:
    """The resources (epochs, within [min_budget, max_budget] inclusive) a method can ask; None where
    this module does not know them (checked when the method asks)."""
    if method in WITHOUT_FIDELITY:
        return {int(max_budget)}
    if method in BRACKET_METHODS:
        r = role(method, params, min_budget, max_budget)
        if not r.get("brackets"):
            return None
        return {int(res) for bracket in json.loads(r["brackets"]) for _, res in bracket}
    eta = params.get("eta", 3)
    if not isinstance(eta, int) or eta < 2:
        return None
    out = {int(max_budget)}
    k = 0
    while min_budget * eta ** k < max_budget:
        out.add(int(min_budget * eta ** k))
        k += 1
    k = 1
    while (r := max_budget / eta ** k) >= min_budget - 1e-9:
        out.add(int(round(r)))
        k += 1
    return {r for r in out if min_budget <= r <= max_budget}


def check(suite, one_training: list[bool]) -> None:
    """Refuse (``SuiteError``) a replay suite whose methods or settings a budget-aware table cannot
    answer; a budget-unaware table, or real training, passes unchecked. ``one_training``: per method of
    the suite, whether its tuner (as the suite check built it) reads one continued training's epochs."""
    from bench.config.keys import key_error
    if suite.backend != "replay" or not suite.curves:
        return
    budgets = table_budgets(suite.curves)
    if budgets is None:
        return
    what = f"on the budget-aware curves table {suite.curves} (budgets {budgets} epochs, each a training of its own)"
    if suite.resume:
        raise key_error(suite.path, "resume_promotions", f"false {what}: a promotion is a new training at its "
                                                     "resource, an annealed run cannot be continued", True)
    if int(suite.max_budget) not in budgets:
        raise key_error(suite.path, "max_budget", f"one of the table's budgets {what}", suite.max_budget)
    for i, m in enumerate(suite.methods):
        if one_training[i]:
            raise key_error(suite.path, f"methods[{i}].method",
                        f"a method that does not read the intermediate epochs of one continued training {what} "
                        f"({m.label!r}: {m.method!r} reports every epoch of one training to its pruner)", m.method)
        if m.method == "successive-halving" and m.params.get("cost", "restart") != "restart":
            raise key_error(suite.path, f"methods[{i}].params.cost", f'"restart" {what} (promotions retrain)',
                        m.params.get("cost"))
        for b in suite.budgets:  # "$B" is each run's budget in epochs, as the runner gives it
            epochs = int(math.floor(b * suite.max_budget + 1e-9))
            at_b = {k: (epochs if v == "$B" else v) for k, v in m.params.items()}
            try:
                asked = method_resources(m.method, at_b, suite.min_budget, suite.max_budget)
            except ValueError:  # e.g. n configurations do not fit into B: that run is infeasible, not wrong
                continue
            if asked is not None and not asked <= set(budgets):
                hint = (" (successive halving sized to B: add on_ladder = true)"
                        if m.method == "successive-halving" else "")
                raise key_error(suite.path, f"methods[{i}]", f"resources the table has recorded {what}; {m.label!r} "
                            f"can ask {sorted(asked - set(budgets))} epochs at B = {b:g}{hint}", m.method)
