"""What a method label *is*: its family, bracket settings, and which labels are the same algorithm.

``role(method, params, min_budget, max_budget)`` is derived from a run's registered method
name and its parameters (with ``"$B"`` already replaced by the run's budget in epochs), with
the bracket maths of ``methods.brackets``; nothing here looks at a label. The runner writes
it into the run's row when the run is created; readers of stores made before that derive it
from the stored method and parameters with the same function.

Fields (``None`` where they do not apply):

* ``family`` — ``hyperband`` (iterations of several brackets), ``bracket`` (one
  successive-halving bracket repeated: ``successive-halving``, ``hyperband-bracket``),
  ``random-search`` (every configuration at R, including a bracket that cannot halve), or the
  model-based tuner's method name (``smac-bo``, ``smac-hb``, ``skopt-gp``);
* ``eta`` (halving rate), ``r_max`` (R, epochs), ``bracket_s`` (halvings of a single bracket,
  rungs - 1), ``bracket_n`` (configurations per bracket), ``brackets`` (JSON: per bracket the
  rungs as [n_i, r_i epochs]);
* ``algorithm`` — a canonical text: two runs of one cell (same suite, B and seed) with equal
  ``algorithm`` ask the same jobs and so give the same results. Random search, successive
  halving with n < eta or with every configuration at R, and Hyperband's bracket s = 0 are all
  ``random-search R=<R>`` then.
"""
from __future__ import annotations

import json

from .brackets import Bracket, hyperband_brackets, successive_halving_bracket

COLUMNS = ("family", "eta", "r_max", "bracket_s", "bracket_n", "brackets", "algorithm")
BRACKET_METHODS = ("successive-halving", "hyperband-bracket", "hyperband")
_SKIP = {"workdir"}


def _brackets(method: str, params: dict, min_budget: int, max_budget: int) -> list[Bracket]:
    """The brackets a bracket method cycles through (the same maths as its factory)."""
    p = {k: v for k, v in params.items() if k not in _SKIP | {"max_configs"}}
    eta = p.get("eta", 3)
    if method == "successive-halving":
        if p.get("n") is None and p.get("r_min") is None and p.get("bracket_budget") is None:
            return [hyperband_brackets(max_budget, eta, min_budget)[0]]
        n = p.get("n") if p.get("n") is not None else hyperband_brackets(max_budget, eta, min_budget)[0].n_configs
        r_min = p.get("r_min")
        if r_min is None and p.get("bracket_budget") is None:
            r_min = min_budget
        return [successive_halving_bracket(n, eta, max_budget, min_budget, r_min=r_min,
                                           budget=p.get("bracket_budget"), cost=p.get("cost", "restart"),
                                           on_ladder=bool(p.get("on_ladder", False)))]
    brackets = hyperband_brackets(max_budget, eta, min_budget, p.get("convention", "algorithm1"),
                                  p.get("max_brackets"))
    if method == "hyperband-bracket":
        from .brackets import s_max
        s = p.get("s", s_max(max_budget, eta, min_budget))
        brackets = [b for b in brackets if b.s == s]
        if not brackets:
            raise ValueError(f"no bracket s = {s}")
    return brackets


def role(method: str, params: dict, min_budget: int, max_budget: int) -> dict:
    """The role columns of a run (see the module docstring); never raises for bad parameters
    (a run that cannot be built keeps its method name as family and no bracket fields)."""
    params = {k: v for k, v in (params or {}).items() if k not in _SKIP}
    out = dict.fromkeys(COLUMNS)
    out.update(family=method, r_max=int(max_budget), eta=params.get("eta"))
    extra = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True, separators=(",", ":"))
    out["algorithm"] = f"{method} R={max_budget} {extra}"
    if method == "random-search":
        out["family"] = "random-search"
        if params.get("max_configs") is None:
            out["algorithm"] = f"random-search R={max_budget}"
        return out
    if method not in BRACKET_METHODS:
        return out
    out["eta"] = params.get("eta", 3)
    try:
        brackets = _brackets(method, params, min_budget, max_budget)
    except (ValueError, TypeError):
        return out
    rungs = [[[g.n, g.r] for g in b.rungs] for b in brackets]
    out["brackets"] = json.dumps(rungs, separators=(",", ":"))
    out["family"] = "hyperband" if len(brackets) > 1 else "bracket"
    if len(brackets) == 1:
        out["bracket_s"], out["bracket_n"] = len(brackets[0].rungs) - 1, brackets[0].n_configs
    cap = params.get("max_configs")
    if all(len(b.rungs) == 1 for b in brackets) and cap is None:
        out["family"], out["algorithm"] = "random-search", f"random-search R={max_budget}"
    else:
        out["algorithm"] = (f"brackets R={max_budget} {out['brackets']}" + (f" max_configs={cap}" if cap else "")
                            + (" parallel_brackets" if params.get("parallel_brackets") is True else ""))
    return out
