"""Declared inputs: every suite key and every method parameter is checked against its declaration
before anything runs; a mistake is one line naming the file, the key and what was expected."""
import subprocess
import sys
from pathlib import Path

import pytest

from bench.config.suite import SuiteError, load_suite
from methods import PARAMS, REGISTRY, ParamError, make_tuner
from methods.params import describe

REPO = Path(__file__).resolve().parents[1]

GOOD = """
profile = "smoke"
budgets = [1, 2]
seeds = [0]
[[methods]]
label = "m"
method = "METHOD"
params = PARAMS
"""


def _suite(tmp_path, method="hyperband", params="{ eta = 3 }", head="", name="s.toml"):
    p = tmp_path / name
    p.write_text(head + GOOD.replace("METHOD", method).replace("PARAMS", params))
    return p


def test_every_method_declares_its_parameters():
    assert set(PARAMS) == set(REGISTRY)
    for method, model in PARAMS.items():
        names = [p["name"] for p in describe(model)]
        assert "max_configs" in names and all(p["expected"] for p in describe(model)), method


@pytest.mark.parametrize("method,params,key,pattern", [
    ("smac-bo", '{ n_initial = "2" }', "n_initial", r"an integer >= 1.*got '2'$"),
    ("smac-bo", "{ n_initial = 0 }", "n_initial", r"an integer >= 1.*got 0$"),
    # SMAC builds its initial design with the tuner: 10**9 configurations used to hang the suite's load
    ("smac-bo", "{ n_initial = 1000000000 }", "n_initial", r"an integer >= 1 and <= 1000.*got 1000000000$"),
    ("smac-hb", "{ eta = 2.5 }", "eta", r"an integer >= 2.*got 2\.5$"),
    ("smac-hb", "{ local_search_iterations = -1 }", "local_search_iterations", r"an integer >= 0.*got -1$"),
    ("smac-bo", "{ retrain_after = 0 }", "retrain_after", r"an integer >= 1.*got 0$"),
    ("smac-bo", "{ eta = 3 }", "eta", r"one of \[.*'n_initial'.*\] \(unknown parameter\)$"),  # BO has no eta
    ("optuna-tpe-hb", "{ n_startup_trials = -5 }", "n_startup_trials", r"an integer >= 0.*got -5$"),
    ("dehb", "{ crossover_prob = -1 }", "crossover_prob", r"a finite number >= 0 and <= 1.*got -1$"),
    ("dehb", "{ mutation_factor = nan }", "mutation_factor", r"a finite number > 0 and <= 2.*got nan$"),
    ("dehb", "{ mutation_factor = 2.5 }", "mutation_factor", r"a finite number > 0 and <= 2.*got 2\.5$"),
    ("dehb", '{ strategy = "nope" }', "strategy", r"one of \['rand1_bin'.*got 'nope'$"),
    ("skopt-gp", '{ acq_func = "XX" }', "acq_func", r"one of \['EI', 'PI', 'LCB', 'gp_hedge'\].*got 'XX'$"),
    ("hyperband", "{ parallel_brackets = 1 }", "parallel_brackets", r"true or false.*got 1$"),
    ("hyperband", '{ convention = "table2" }', "convention", r"one of \['algorithm1', 'table1'\].*got 'table2'$"),
    ("asha", "{ eta = true }", "eta", r"an integer >= 2.*got True$"),
    ("random-search", "{ max_configs = 0 }", "max_configs", r"an integer >= 1 \(or absent\).*got 0$"),
    ("successive-halving", '{ n = 9, cost = "free" }', "cost", r"one of \['restart', 'resume'\].*got 'free'$"),
])
def test_method_parameters_are_checked_at_load(tmp_path, method, params, key, pattern):
    with pytest.raises(SuiteError, match=rf"s\.toml: key 'methods\[0\]\.params\.{key}': expected " + pattern):
        load_suite(_suite(tmp_path, method, params))


def test_make_tuner_checks_the_declaration_too():
    from bench.instruments.perf import toy_space
    with pytest.raises(ParamError, match=r"parameter 'n_startup_trials': expected an integer >= 0"):
        make_tuner("optuna-tpe-hb", toy_space(), 0, 1, 9, n_startup_trials=-5)
    # integral floats stay accepted, as the bracket maths always accepted them
    assert make_tuner("hyperband", toy_space(), 0, 1, 9, eta=3.0).eta == 3.0


@pytest.mark.parametrize("value", ['"../../x"', '"/tmp/elsewhere"', '""', '".."', '"."', '"a/b"', "5",
                                   '"a\\u0000b"'])
def test_a_suite_name_is_a_name_not_a_path(tmp_path, value):
    with pytest.raises(SuiteError, match=r"s\.toml: key 'name': expected (a name, not a path|a string)"):
        load_suite(_suite(tmp_path, head=f"name = {value}\n"))


def test_a_file_whose_stem_is_no_name_must_name_itself(tmp_path):
    with pytest.raises(SuiteError, match=r"key 'name': expected a name, not a path.*gives '\.'"):
        load_suite(_suite(tmp_path, name="..toml"))
    assert load_suite(_suite(tmp_path, head='name = "ok"\n', name="..toml")).name == "ok"


@pytest.mark.parametrize("edit,pattern", [
    (lambda t: t.replace("budgets = [1, 2]", "budgets = [1, 1.0000001]"),
     r"key 'budgets\[1\]': expected a budget whose runs are keyed apart from budgets\[0\] = 1 \(both key as B1"),
    (lambda t: t.replace("seeds = [0]", "seeds = [0, 3, 0]"), r"key 'seeds\[2\]': expected a seed listed once only, got 0"),
    (lambda t: t.replace("budgets = [1, 2]", "budgets = [1e308]"),
     r"key 'budgets\[0\]': expected a positive number \(B in units of R, or in budget_unit\) of at most 10000, got 1e\+308"),
    (lambda t: t.replace("budgets = [1, 2]", "budgets = [inf]"), r"key 'budgets\[0\]': expected a positive number"),
    (lambda t: t.replace("budgets = [1, 2]", "budgets = [nan]"), r"key 'budgets\[0\]': expected a positive number"),
    (lambda t: t.replace("seeds = [0]", "seeds = [true]"), r"key 'seeds\[0\]': expected an integer from 0"),
    (lambda t: t.replace('label = "m"', "label = 5"), r"key 'methods\[0\]\.label': expected a non-empty string"),
    (lambda t: t.replace('label = "m"', 'label = ""'), r"key 'methods\[0\]\.label': expected a non-empty string"),
    (lambda t: "description = 5\n" + t, r"key 'description': expected a string, got 5"),
    (lambda t: "min_budget = 2.0\n" + t, r"key 'min_budget': expected a positive integer number of epochs, got 2\.0"),
    (lambda t: 'backend = ["replay"]\n' + t, r"key 'backend': expected one of \['train', 'replay'\]"),
    (lambda t: t.replace("params = { eta = 3 }", 'params = "eta=3"'), r"key 'methods\[0\]\.params': expected a table"),
    (lambda t: t.replace('method = "hyperband"', ""), r"key 'methods\[0\]\.method': expected to be present"),
    (lambda t: "methods = [1]\n" + t.split("[[methods]]")[0], r"key 'methods\[0\]': expected a table with label"),
])
def test_suite_keys_are_checked(tmp_path, edit, pattern):
    p = tmp_path / "s.toml"
    p.write_text(edit(GOOD.replace("METHOD", "hyperband").replace("PARAMS", "{ eta = 3 }")))
    with pytest.raises(SuiteError, match=r"s\.toml: " + pattern):
        load_suite(p)


def test_a_suite_file_that_is_not_utf8(tmp_path):
    p = tmp_path / "s.toml"
    p.write_bytes(GOOD.replace("METHOD", "hyperband").replace("PARAMS", "{ eta = 3 }").encode() + b"# \xff\xfe\n")
    with pytest.raises(SuiteError, match=r"s\.toml: not a UTF-8 text file \(byte \d+"):
        load_suite(p)


def test_bench_run_refuses_before_writing_anything(tmp_path):
    """A bad name exits 2 with one line and creates no results anywhere."""
    suite = _suite(tmp_path, head='name = "../escaped"\n')
    res = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--no-progress"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "key 'name'" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_bench_methods_prints_the_declarations():
    res = subprocess.run([sys.executable, "-m", "bench", "methods"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    for method, model in PARAMS.items():
        assert f"\n{method}\n" in "\n" + res.stdout
        for p in describe(model):
            assert f"  {p['name']} (default " in res.stdout
    assert "mutation_factor (default 0.5): a finite number > 0 and <= 2" in res.stdout
