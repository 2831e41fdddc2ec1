"""The Hyperband planner: brackets, their cost with and without checkpoint reuse, configurations."""
from __future__ import annotations

from methods.brackets import check_budgets, check_eta, hyperband_brackets, optuna_bracket_count, plan_summary, s_max


def plan_json(max_budget, eta=3, min_budget=1, convention="algorithm1", max_brackets=None) -> dict:
    out = plan_summary(hyperband_brackets(max_budget, eta, min_budget, convention, max_brackets))
    lo, hi = check_budgets(min_budget, max_budget)
    out["exact_bracket_count"] = s_max(hi, check_eta(eta), lo) + 1
    out["optuna_bracket_count"] = optuna_bracket_count(lo, hi, check_eta(eta))
    return out


def plan_text(max_budget, eta=3, min_budget=1, convention="algorithm1", max_brackets=None) -> str:
    lo, hi = check_budgets(min_budget, max_budget)
    eta = check_eta(eta)
    brackets = hyperband_brackets(hi, eta, lo, convention, max_brackets)
    summary = plan_summary(brackets)
    top = s_max(hi, eta, lo)
    lines = [f"Hyperband, convention {convention}: min_budget={lo}, max_budget={hi} epochs, eta={eta}, "
             f"R={hi}/{lo}, s_max={top}" + (f" (capped to {brackets[0].s} by max_brackets={max_brackets})"
                                            if brackets[0].s != top else "")]
    if hi // lo < eta:
        lines.append(f"note: R = {hi}/{lo} < eta = {eta}, so there is a single bracket (s = 0): "
                     "plain random search at max_budget")
    for b in brackets:
        rungs = "  ".join(f"{g.n:>4} x {g.r:<4}" for g in b.rungs)
        lines.append(f"  s={b.s}: {b.n_configs:>4} configs | n_i x r_i: {rungs}"
                     f" | epochs restart {b.cost_restart}, resume {b.cost_resume}")
    optuna = optuna_bracket_count(lo, hi, eta)
    if optuna != top + 1:
        lines.append(f"note: Optuna's HyperbandPruner builds {optuna} brackets here, not {top + 1}: it takes "
                     f"floor(log(max/min, eta)) in floating point (optuna-tpe-hb runs with Optuna's count)")
    lines.append(f"one iteration: {summary['n_configs']} configurations; {summary['cost_restart']} epochs if every "
                 f"promotion restarts, {summary['cost_resume']} epochs with checkpoint reuse "
                 f"({summary['cost_restart'] / hi:.1f} R and {summary['cost_resume'] / hi:.1f} R)")
    lines.append('in a suite: budget_unit = "hyperband-iterations"' + (f", hyperband_eta = {eta}" if eta != 3 else "")
                 + ", budgets = [1, 2, 4] runs 1, 2 and 4 such iterations (no decimals to copy)")
    return "\n".join(lines)
