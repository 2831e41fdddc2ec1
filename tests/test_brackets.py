import json
import math
import subprocess
import sys

import pytest

from methods.brackets import (Bracket, Rung, hyperband_brackets, plan_summary, s_max,
                              successive_halving_bracket)


def test_float_log_pitfall_and_exact_s_max():
    assert math.floor(math.log(243, 3)) == 4  # the float trap the integer code avoids
    assert s_max(243, 3) == 5
    assert s_max(1000, 10) == 3
    assert s_max(81, 3) == 4 and s_max(80, 3) == 3 and s_max(2, 3) == 0
    assert s_max(81, 3, min_budget=3) == 3


def test_golden_algorithm1_r81_eta3():
    p = plan_summary(hyperband_brackets(81, 3))
    assert [b["rungs"][0]["n"] for b in p["brackets"]] == [81, 34, 15, 8, 5]
    assert p["cost_restart"] == 1902 and p["n_configs"] == 143
    assert p["brackets"][0] == {"s": 4, "rungs": [{"n": 81, "r": 1}, {"n": 27, "r": 3}, {"n": 9, "r": 9},
                                                  {"n": 3, "r": 27}, {"n": 1, "r": 81}]}
    assert p["brackets"][1]["rungs"] == [{"n": 34, "r": 3}, {"n": 11, "r": 9}, {"n": 3, "r": 27}, {"n": 1, "r": 81}]
    # resume cost: every rung pays only the epochs beyond the previous rung
    assert p["cost_resume"] == 297 + 276 + 279 + 324 + 405 == 1581


def test_golden_table1_r81_eta3():
    p = plan_summary(hyperband_brackets(81, 3, convention="table1"))
    assert [b["rungs"][0]["n"] for b in p["brackets"]] == [81, 27, 9, 6, 5]
    assert p["cost_restart"] == 1701 and p["n_configs"] == 128


def test_min_budget_and_max_brackets():
    b = hyperband_brackets(81, 3, min_budget=3)
    assert [x.s for x in b] == [3, 2, 1, 0]
    assert b[0].rungs[0] == Rung(27, 3) and b[0].rungs[-1] == Rung(1, 81)
    capped = hyperband_brackets(81, 3, max_brackets=2)
    assert [x.s for x in capped] == [1, 0]
    assert capped[0].rungs == (Rung(3, 27), Rung(1, 81))  # n = ceil(2*3/2) = 3
    assert capped[1].rungs == (Rung(2, 81),)
    single = hyperband_brackets(2, 3)  # R < eta is legal: one bracket
    assert len(single) == 1 and single[0].rungs == (Rung(1, 2),)


@pytest.mark.parametrize("kwargs,message", [
    (dict(max_budget=81, eta=1), r"eta must be >= 2, got 1"),
    (dict(max_budget=81, eta=2.5), r"eta must be an integer .* got 2.5"),
    (dict(max_budget=81, min_budget=0), r"min_budget must be > 0 epochs, got 0"),
    (dict(max_budget=5, min_budget=9), r"max_budget must be >= min_budget, got max_budget=5 < min_budget=9"),
    (dict(max_budget=81, convention="hpbandster"), r"convention must be one of"),
    (dict(max_budget=81, max_brackets=0), r"max_brackets must be >= 1"),
])
def test_invalid_settings_name_value_and_rule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hyperband_brackets(**kwargs)


def test_successive_halving_bracket_from_r_min_and_from_budget():
    b = successive_halving_bracket(81, 3, 27, r_min=1)
    assert b.rungs == (Rung(81, 1), Rung(27, 3), Rung(9, 9), Rung(3, 27))
    b = successive_halving_bracket(9, 3, 27, budget=100)  # r_min=3 costs 81, r_min=4 costs 9*4+3*12+1*27=99
    assert b.rungs[0] == Rung(9, 4) and b.cost_restart <= 100
    assert successive_halving_bracket(9, 3, 27, budget=99).rungs[0].r == 4
    assert successive_halving_bracket(9, 3, 27, budget=98).rungs[0].r == 3
    assert successive_halving_bracket(1, 3, 27, budget=27).rungs == (Rung(1, 27),)
    with pytest.raises(ValueError, match=r"budget=10 epochs is less than the cheapest bracket of n=9"):
        successive_halving_bracket(9, 3, 27, budget=10)
    with pytest.raises(ValueError, match="exactly one of"):
        successive_halving_bracket(9, 3, 27, r_min=1, budget=50)


def test_bracket_costs():
    b = Bracket(1, (Rung(8, 27), Rung(2, 81)))
    assert b.cost_restart == 8 * 27 + 2 * 81 and b.cost_resume == 8 * 27 + 2 * 54


def test_planner_cli_json_and_text():
    out = subprocess.run([sys.executable, "-m", "bench", "brackets", "--max-budget", "81", "--eta", "3", "--json"],
                         capture_output=True, text=True, check=True).stdout
    p = json.loads(out)
    assert p["cost_restart"] == 1902 and p["n_configs"] == 143 and p["cost_resume"] == 1581
    assert p["brackets"][0]["s"] == 4 and p["brackets"][0]["rungs"][0] == {"n": 81, "r": 1}
    t1 = json.loads(subprocess.run([sys.executable, "-m", "bench", "brackets", "--max-budget", "81", "--convention",
                                    "table1", "--json"], capture_output=True, text=True, check=True).stdout)
    assert t1["cost_restart"] == 1701 and t1["n_configs"] == 128
    text = subprocess.run([sys.executable, "-m", "bench", "brackets", "--max-budget", "2", "--eta", "3"],
                          capture_output=True, text=True, check=True).stdout
    assert "single bracket" in text
    bad = subprocess.run([sys.executable, "-m", "bench", "brackets", "--max-budget", "81", "--eta", "1.5"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "eta must be an integer" in bad.stderr


@pytest.mark.parametrize("R,eta", [(27, 2), (10, 3), (50, 3), (100, 4), (20, 2), (81, 2)])
def test_successive_halving_default_is_hyperbands_most_aggressive_bracket_when_R_is_no_power_of_eta(R, eta):
    """The default bracket ends at R (it used to stop short: R = 27, eta = 2 gave 16@1 ... 1@16)."""
    from methods import make_tuner
    from methods.brackets import hyperband_brackets, s_max
    from bench.instruments.perf import toy_space
    assert eta ** s_max(R, eta) != R
    rungs = make_tuner("successive-halving", toy_space(), 0, 1, R, eta=eta).brackets[0].rungs
    assert rungs == hyperband_brackets(R, eta)[0].rungs and rungs[-1].r == R
    if (R, eta) == (27, 2):
        assert rungs == (Rung(16, 1), Rung(8, 3), Rung(4, 6), Rung(2, 13), Rung(1, 27))
    for n in (1, 2, 5, eta ** 3, 100):  # any n and r_min: the last rung is at R, rungs increase
        for r_min in (1, 2, R // 2, R):
            b = successive_halving_bracket(n, eta, R, r_min=r_min)
            assert b.rungs[0] == (Rung(n, r_min) if n >= eta else Rung(n, R))  # n < eta: nothing to halve
            assert b.rungs[-1].r == R and b.rungs[-1].n >= 1
            assert all(a.r < c.r and a.n > c.n for a, c in zip(b.rungs, b.rungs[1:]))


def test_successive_halving_budget_is_charged_as_the_run_charges_it():
    """With resumed promotions a bracket costs sum n_i (r_i - r_{i-1}), so a larger r_0 fits into the same B."""
    restart = successive_halving_bracket(9, 3, 27, budget=81, cost="restart")
    resume = successive_halving_bracket(9, 3, 27, budget=81, cost="resume")
    assert restart.rungs == (Rung(9, 3), Rung(3, 9), Rung(1, 27)) and restart.cost_restart == 81
    # r_0 = 5: 9*5 + 3*(15-5) + 1*(27-15) = 87 > 81; r_0 = 4: 36 + 3*8 + 15 = 75
    assert resume.rungs == (Rung(9, 4), Rung(3, 12), Rung(1, 27)) and resume.cost_resume == 75
    with pytest.raises(ValueError, match="cost must be one of"):
        successive_halving_bracket(9, 3, 27, budget=81, cost="free")
