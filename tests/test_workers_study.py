"""The workers study: a replayed suite with workers = [1, 2] gives one run per N, its run rows record N,
and the paper's utilisation and incumbent-over-simulated-time equal a hand computation from the jobs'
recorded epoch seconds."""
import json
import math
import re
import sqlite3
from pathlib import Path

import pytest

from bench.loop.runner import Runner
from bench.config.suite import load_suite
from paper import stats as st
from paper.build import workers_study
from paper.data import incumbent_trace, load
from paper.report import workers_findings

CURVES = Path(__file__).parent / "fixtures" / "smoke-curves.csv"
# smoke profile: R = 9 epochs; B = 2 R = 18 epochs is two jobs of random search (a third would overshoot)
SUITE = f"""
profile = "smoke"
backend = "replay"
curves = "{CURVES}"
workers = [1, 2]
budgets = [2]
seeds = [0, 1]
[[methods]]
label = "random"
method = "random-search"
[[methods]]
label = "hyperband"
method = "hyperband"
params = {{ eta = 3 }}
[[methods]]
label = "asha"
method = "asha"
params = {{ eta = 3 }}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    (tmp / "w.toml").write_text(SUITE)
    assert Runner(load_suite(tmp / "w.toml"), tmp / "workers", progress=False).run() == 0
    return tmp / "workers"


def _durations(db: Path, key: str) -> list[tuple[int, float, float]]:
    """(job id, simulated seconds, loss) of the jobs of ``key`` that ran, in ask order: the sum of the
    job's recorded epoch seconds."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT j.job_id, SUM(e.seconds), j.loss FROM jobs j JOIN evaluations e USING (run_key, job_id) "
                       "WHERE j.run_key = ? AND j.status = 'ok' GROUP BY j.job_id ORDER BY j.ask_seq",
                       (key,)).fetchall()
    con.close()
    return rows


def test_one_run_per_worker_count_recorded_with_its_n(study):
    con = sqlite3.connect(study / "results.db")
    rows = con.execute("SELECT run_key, workers, identity FROM runs ORDER BY run_key").fetchall()
    con.close()
    assert len(rows) == 3 * 2 * 2
    for key, n, ident in rows:
        assert key.endswith(f"/w{n}") and json.loads(ident)["workers"] == n
    assert load(study).worker_counts() == [1, 2]


def test_utilisation_and_incumbent_over_time_equal_a_hand_computation(study):
    res = load(study)
    util = st.utilisation(res).set_index("run_key")
    trace = incumbent_trace(res)
    for seed in (0, 1):
        (j0, d0, l0), (j1, d1, l1) = _durations(study / "results.db", f"random/B2/seed{seed}/w1")
        # one worker: back to back, never idle
        u = util.loc[f"random/B2/seed{seed}/w1"]
        assert u["makespan"] == pytest.approx(d0 + d1) and u["share"] == pytest.approx(1.0)
        t = trace[trace["run_key"] == f"random/B2/seed{seed}/w1"]
        assert t["finished"].tolist() == pytest.approx([d0, d0 + d1])
        assert t["value"].tolist() == pytest.approx([l0, min(l0, l1)])
        # two workers: both jobs start at 0 s; the run lasts as long as the longer one
        (k0, e0, m0), (k1, e1, m1) = _durations(study / "results.db", f"random/B2/seed{seed}/w2")
        u = util.loc[f"random/B2/seed{seed}/w2"]
        assert u["jobs"] == 2 and u["busy"] == pytest.approx(e0 + e1)
        assert u["makespan"] == pytest.approx(max(e0, e1))
        assert u["share"] == pytest.approx((e0 + e1) / (2 * max(e0, e1))) and u["share"] < 1
        t = trace[trace["run_key"] == f"random/B2/seed{seed}/w2"]
        first = m0 if e0 <= e1 else m1
        assert t["finished"].tolist() == pytest.approx(sorted([e0, e1]))
        assert t["value"].tolist() == pytest.approx([first, min(m0, m1)])
        assert (t["workers"] == 2).all()
    # every run: utilisation is busy / (N x makespan) and lies in (0, 1]
    assert ((util["share"] > 0) & (util["share"] <= 1 + 1e-12)).all()
    one = util.loc[util["workers"] == 1, "share"].tolist()
    assert len(one) == 6 and one == pytest.approx([1.0] * 6)


def test_workers_section_is_generated_from_the_store(study, tmp_path):
    from paper.style import setup
    setup()
    res = load(study)
    best = st.table_best(res.curves, res.objective)
    nums = workers_study(res, tmp_path, best)
    assert (tmp_path / f"workers_anytime_{res.name}.png").stat().st_size > 1000
    table = (tmp_path / f"workers_utilisation_{res.name}.csv").read_text()
    assert table.splitlines()[0] == "method,\"B=2, N=1\",\"B=2, N=2\""
    util = st.utilisation(res)
    hb2 = util[(util["label"] == "hyperband") & (util["workers"] == 2)]["share"]
    f = nums["findings"]["2/2"]
    assert f["columns"]["hyperband"]["share"][0] == pytest.approx(st.iqm(hb2.to_numpy()))
    assert set(f["sync_vs_async"]) == {"hyperband - asha"}  # the roles in the store, not the labels
    text = workers_findings(res.name, {"workers_study": nums, "curves": res.curves})
    assert "**N = 2, B = 2 R.**" in text and "`hyperband` against `asha`" in text
    assert "N = 1," not in text and not re.search(r"\bnan\b", text)
    # synchronous Hyperband and random search ask the same jobs whatever N is
    assert {"random", "hyperband"} <= set(nums["findings"]["same_at_every_n"]["2"])
    assert math.isclose(nums["table_best"]["val"], best["val"])


def test_stores_made_before_the_columns_read_as_one_worker_without_a_clock(study, tmp_path):
    """A store without the runs' ``workers`` and the jobs' ``started``/``finished`` (made before they
    existed, as the committed n vs B/n sweeps): N comes from the identity, the trace has no clock."""
    import shutil
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(study / "results.db", old / "results.db")
    con = sqlite3.connect(old / "results.db")
    for table, column in (("runs", "workers"), ("jobs", "started"), ("jobs", "finished"), ("jobs", "worker")):
        con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    con.commit()
    con.close()
    res = load(old)
    assert res.worker_counts() == [1, 2]  # from each run's identity
    trace = incumbent_trace(res)
    assert len(trace) and trace["finished"].isna().all()
