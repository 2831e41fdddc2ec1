"""Malformed suites get one error naming the file, the key and what was expected."""
import pytest

from pathlib import Path

from bench.config.suite import SuiteError, load_suite

REPO_SUITES = Path(__file__).resolve().parents[1] / "bench" / "suites"

GOOD = """
profile = "smoke"
budgets = [1, 2]
seeds = [0]
[[methods]]
label = "hb"
method = "hyperband"
params = { eta = 3 }
"""


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_suite_expands_to_runs(tmp_path):
    s = load_suite(_write(tmp_path, GOOD))
    runs = s.runs()
    assert [r.key for r in runs] == ["hb/B1/seed0", "hb/B2/seed0"]
    two = load_suite(_write(tmp_path, GOOD.replace("seeds = [0]", "seeds = [0, 1]") +
                            '[[methods]]\nlabel = "rs"\nmethod = "random-search"\n', "two.toml"))
    assert [r.key for r in two.runs()][:4] == ["hb/B1/seed0", "rs/B1/seed0", "hb/B1/seed1", "rs/B1/seed1"]
    assert runs[1].budget_epochs == 18 and runs[1].max_budget == 9 and runs[1].resume is True


def test_several_worker_counts_expand_every_run(tmp_path):
    """``workers = [1, 4]`` (replay) repeats every (B, seed, method) per count: keys and identities name N;
    one count keeps today's keys and identities."""
    from bench.config.suite import canonical
    replay = GOOD.replace('profile = "smoke"', 'profile = "smoke"\nbackend = "replay"\n'
                          'curves = "tests/fixtures/smoke-curves.csv"')
    one = load_suite(_write(tmp_path, "workers = 4\n" + replay, "one.toml"))
    assert [r.key for r in one.runs()] == ["hb/B1/seed0", "hb/B2/seed0"]
    assert one.runs()[0].identity()["workers"] == 4 and one.worker_counts == (4,)
    assert "workers" not in load_suite(_write(tmp_path, replay, "w1.toml")).runs()[0].identity()
    two = load_suite(_write(tmp_path, "workers = [1, 4]\n" + replay.replace("seeds = [0]", "seeds = [0, 1]"),
                            "two.toml"))
    runs = two.runs()
    assert [r.key for r in runs][:4] == ["hb/B1/seed0/w1", "hb/B1/seed0/w4", "hb/B1/seed1/w1", "hb/B1/seed1/w4"]
    assert len(runs) == 8 and [r.workers for r in runs[:2]] == [1, 4]
    assert runs[0].identity()["workers"] == 1 and runs[1].identity()["workers"] == 4
    assert len({canonical(r.identity()) for r in runs}) == len(runs) == len({r.key for r in runs})


@pytest.mark.parametrize("value,pattern", [
    ("[]", r"key 'workers': expected a positive integer or a non-empty list of distinct positive integers"),
    ("[1, 0]", r"key 'workers\[1\]': expected a positive integer \(workers per run\), got 0"),
    ('[1, "4"]', r"key 'workers\[1\]': expected a positive integer .*got '4'"),
    ("[4, 4]", r"key 'workers\[1\]': expected a worker count listed once only, got 4"),
    ("[1, 2.5]", r"key 'workers\[1\]': expected a positive integer"),
    ("1.5", r"key 'workers': expected a positive integer or a non-empty list"),
])
def test_bad_worker_counts(tmp_path, value, pattern):
    replay = GOOD.replace('profile = "smoke"', 'profile = "smoke"\nbackend = "replay"\n'
                          'curves = "tests/fixtures/smoke-curves.csv"')
    with pytest.raises(SuiteError, match=r"s\.toml: " + pattern):
        load_suite(_write(tmp_path, f"workers = {value}\n" + replay))
    with pytest.raises(SuiteError, match=r"s\.toml: " + pattern):
        load_suite(_write(tmp_path, f"workers = {value}\n" + GOOD))  # the same checks for real training


def test_training_suites_name_their_workers_per_run(tmp_path):
    """In real training ``workers`` is the most jobs a run keeps in flight; it is part of each run."""
    runs = load_suite(_write(tmp_path, "workers = [1, 2]\n" + GOOD)).runs()
    assert [r.key for r in runs][:2] == ["hb/B1/seed0/w1", "hb/B1/seed0/w2"] and [r.workers for r in runs[:2]] == [1, 2]


@pytest.mark.parametrize("edit,pattern", [
    (lambda t: "budgetz = 3\n" + t, r"s\.toml: key 'budgetz': expected one of .* \(unknown key\)"),
    (lambda t: t.replace('method = "hyperband"', 'method = "hyperbandd"'),
     r"key 'methods\[0\]\.method': expected a registered method, one of .*got 'hyperbandd'"),
    (lambda t: t.replace("seeds = [0]", 'seeds = "0"'), r"key 'seeds': expected a non-empty list of non-negative"),
    (lambda t: t.replace("budgets = [1, 2]", "budgets = [1, 0.05]"),
     r"key 'budgets\[1\]': expected B \* R of at least one epoch \(R = 9 epochs.*got 0\.05"),
    (lambda t: t.replace("budgets = [1, 2]", 'budgets = [1, "2"]'), r"key 'budgets\[1\]': expected a positive number"),
    (lambda t: t.replace("eta = 3", "eta = 1"), r"key 'methods\[0\]\.params\.eta': expected an integer >= 2.*got 1$"),
    (lambda t: t.replace("eta = 3", "etaa = 3"),
     r"key 'methods\[0\]\.params\.etaa': expected one of \['convention', 'eta', .*\] \(unknown parameter\)$"),
    (lambda t: t.replace('profile = "smoke"', 'profile = "tpu"'), r"key 'profile': expected one of"),
    (lambda t: t.replace('profile = "smoke"', ""), r"key 'profile': expected to be present"),
    (lambda t: t + '\n[[methods]]\nlabel = "hb"\nmethod = "random-search"\n', r"methods\[1\]\.label': expected a label used once"),
    (lambda t: "resume_promotions = 1\n" + t, r"key 'resume_promotions': expected true or false"),
    (lambda t: t.replace("[[methods]]", "[[methods]]\nlabels = 'x'"), r"key 'methods\[0\]\.labels'.*unknown key"),
    (lambda t: "max_budget = 0\n" + t, r"key 'max_budget': expected a positive integer"),
    (lambda t: t + "\n[[[broken", r"s\.toml: not valid TOML"),
    (lambda t: 'sampling = "grid"\n' + t, r"key 'sampling': expected one of \['neighbour', 'table', 'candidates'\], got 'grid'"),
    (lambda t: 'sampling = "table"\n' + t, r"key 'sampling': expected to be set only with backend = \"replay\""),
])
def test_malformed_suites(tmp_path, edit, pattern):
    with pytest.raises(SuiteError, match=pattern):
        load_suite(_write(tmp_path, edit(GOOD)))


def test_missing_file(tmp_path):
    with pytest.raises(SuiteError, match="nope.toml: suite file not found"):
        load_suite(tmp_path / "nope.toml")


def test_shipped_suites_are_valid():
    from pathlib import Path
    for p in sorted((Path(__file__).parents[1] / "bench" / "suites").glob("*.toml")):
        assert load_suite(p).runs()


@pytest.mark.parametrize("name", ["nvsbn", "nvsbn-miou"])
def test_nvsbn_budget_grid_fits_whole_brackets(name):
    """On the n vs B/n grid Hyperband finishes whole iterations, every single bracket completes
    at least once, and successive halving is charged as the runs charge it (resumed promotions)."""
    from pathlib import Path

    from methods.brackets import Bracket, Rung, planned_use
    from methods.roles import role
    suite = load_suite(Path(__file__).resolve().parents[1] / "bench" / "suites" / f"{name}.toml")
    assert suite.resume
    seen = set()
    for spec in suite.runs():
        if spec.seed:
            continue
        r = role(spec.method, spec.params, spec.min_budget, spec.max_budget)
        if spec.method == "successive-halving":
            assert spec.params["cost"] == "resume"
        if r["brackets"] is None or r["family"] == "random-search":
            continue  # no brackets, or one rung at R (every job reaches R: nothing is cut off)
        import json
        brackets = [Bracket(len(b) - 1, tuple(Rung(n, e) for n, e in b)) for b in json.loads(r["brackets"])]
        use = planned_use(brackets, spec.budget_epochs, "resume")
        assert use["complete"] >= 1, spec.key
        if r["family"] == "hyperband":
            assert use["left"] == 0 and use["complete"] % len(brackets) == 0, spec.key
            seen.add(spec.budget)
        if spec.method != "successive-halving":  # SH: one bracket sized to B (integer r_0 leaves up to ~1/3)
            assert use["left"] <= 0.25 * spec.budget_epochs, spec.key
    assert seen == set(suite.budgets)


def _nvsbn_with(tmp_path, budget_lines: str):
    text = (REPO_SUITES / "nvsbn.toml").read_text()
    lines = [budget_lines if ln.startswith("budgets = ") else ln for ln in text.splitlines()
             if not (ln.startswith("resume_promotions") and "resume_promotions" in budget_lines)]
    return load_suite(_write(tmp_path, "\n".join(lines), "nvsbn-iter.toml"))


def test_budgets_in_hyperband_iterations_equal_the_written_out_quotients(tmp_path):
    """One iteration at R = 27, eta = 3 costs 357 epochs resumed and 423 restarted (bench brackets)."""
    written = load_suite(REPO_SUITES / "nvsbn.toml")
    iters = _nvsbn_with(tmp_path, 'budget_unit = "hyperband-iterations"\nbudgets = [1, 2, 4]')
    assert iters.budgets == written.budgets == [357 / 27, 714 / 27, 1428 / 27]
    assert [r.key for r in iters.runs()] == [r.key for r in written.runs()]
    restart = _nvsbn_with(tmp_path, 'budget_unit = "hyperband-iterations"\nbudgets = [1]\n'
                                    'resume_promotions = false').budgets
    assert restart == [423 / 27]
    eta2 = _nvsbn_with(tmp_path, 'budget_unit = "hyperband-iterations"\nhyperband_eta = 2\nbudgets = [1]').budgets
    assert eta2 != iters.budgets[:1] and eta2[0] > 1


@pytest.mark.parametrize("lines, pattern", [
    ('budget_unit = "iterations"\nbudgets = [1]', r"key 'budget_unit': expected one of \['R', 'hyperband-iterations'\]"),
    ('hyperband_eta = 3\nbudgets = [1]', r"key 'hyperband_eta': expected to be set only with budget_unit"),
    ('budget_unit = "hyperband-iterations"\nhyperband_eta = 1\nbudgets = [1]', r"key 'hyperband_eta': expected"),
])
def test_bad_budget_units_are_one_line(tmp_path, lines, pattern):
    with pytest.raises(SuiteError, match=pattern):
        _nvsbn_with(tmp_path, lines)
