"""Leave-top-k-out (issue 24, item 3): a suite's ``drop_top = k`` replays the table without its k best
configurations (by the seed mean at R of the suite's objective); the paper measures regret against the best
that remains, ranks hit rates in the reduced table and never compares runs of different k."""
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from bench.tables.curves import best_config_ids, config_id, without_best
from bench.loop.runner import Runner
from bench.config.suite import SuiteError, load_suite
from segmentation.profiles import get_profile
from segmentation.space import search_space

# val_loss per (configuration, training seed) at R = 3: c1 has the best single seed (0.30) but not the best mean;
# c4 is best at epochs 1 and 2 but worst at R. Seed means at R: c2 0.45 < c3 0.48 < c0 0.50 < c1 0.567 < c4 0.60.
LOSS_AT_R = {0: (0.50, 0.50, 0.50), 1: (0.30, 0.70, 0.70), 2: (0.45, 0.45, 0.45), 3: (0.48, 0.48, 0.48),
             4: (0.60, 0.60, 0.60)}
# val_mIoU at R (higher is better): c4 0.6 > c0 0.5 > c1 0.4 > c2 0.3 > c3 0.2
MIOU_AT_R = {0: 0.5, 1: 0.4, 2: 0.3, 3: 0.2, 4: 0.6}
R = 3


def _table(tmp_path):
    space = search_space(get_profile("smoke"), seed=11)
    configs, rows = [], []
    while len(configs) < 5:
        c = {k: (v.item() if hasattr(v, "item") else v) for k, v in dict(space.sample_configuration()).items()}
        if c not in configs:
            configs.append(c)
    for i, config in enumerate(configs):
        for t in range(3):
            for e in range(1, R + 1):
                loss = LOSS_AT_R[i][t] if e == R else (0.1 if i == 4 else 1.0)
                miou = MIOU_AT_R[i] if e == R else 0.1
                rows.append({"config_id": config_id(config), "train_seed": t,
                             **{f"config.{k}": v for k, v in sorted(config.items())}, "epoch": e, "status": "ok",
                             "train_loss": 1.0, "val_loss": loss, "val_miou": miou, "test_loss": loss + 0.1,
                             "test_miou": miou - 0.05, "seconds": 1.0})
    path = tmp_path / "five.csv"
    df = pd.DataFrame(rows)
    df.to_csv(path, index=False)
    return path, df, [config_id(c) for c in configs]


def test_drop_top_removes_exactly_the_k_best_by_seed_mean_at_R(tmp_path):
    _, df, ids = _table(tmp_path)
    assert best_config_ids(df, "val_loss", 1) == [ids[2]]
    assert best_config_ids(df, "val_loss", 3) == [ids[2], ids[3], ids[0]]
    assert best_config_ids(df, "val_miou", 2) == [ids[4], ids[0]]
    assert best_config_ids(df, "val_loss", 0) == []
    left = without_best(df, "val_loss", 3)
    assert sorted(left["config_id"].unique()) == sorted([ids[1], ids[4]])
    assert len(left) == 2 * 3 * R  # every row of the others kept


def _suite(tmp_path, path, name, drop_top, methods=("random",), sampling="candidates", seeds=range(8), budget=4):
    text = (f'profile = "smoke"\nbackend = "replay"\ncurves = "{path}"\nsampling = "{sampling}"\nmax_budget = {R}\n'
            f'budgets = [{budget}]\nseeds = {list(seeds)}\n' + (f"drop_top = {drop_top}\n" if drop_top is not None else ""))
    for m in methods:
        text += {"random": '[[methods]]\nlabel = "rs"\nmethod = "random-search"\n',
                 "hyperband": '[[methods]]\nlabel = "hb"\nmethod = "hyperband"\n',
                 "sh": '[[methods]]\nlabel = "sh"\nmethod = "successive-halving"\nparams = { n = 3, eta = 3 }\n'}[m]
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def test_replay_never_meets_a_dropped_configuration_and_regret_is_against_the_reduced_best(tmp_path):
    from paper import stats as st
    from paper.data import load
    from paper.findings import hit_rates
    path, df, ids = _table(tmp_path)
    for sampling in ("candidates", "neighbour"):
        res_dir = tmp_path / f"drop1-{sampling}"
        suite = load_suite(_suite(tmp_path, path, f"drop1-{sampling}", 1, ("random", "hyperband"), sampling))
        assert suite.drop_top == 1 and all(s.identity()["drop_top"] == 1 for s in suite.runs())
        assert Runner(suite, res_dir, progress=False).run() == 0
        db = sqlite3.connect(res_dir / "results.db")
        answered = [r[0] for r in db.execute("SELECT run_key FROM runs")]
        evals = db.execute("SELECT count(*) FROM evaluations").fetchone()[0]
        db.close()
        assert len(answered) == 16 and evals > 0
        res = load(res_dir)
        assert res.drop_top == 1
        # every answer came from the reduced table: no job, neither asked nor answered, is the dropped one
        from bench.tables.curves import _table as curve_table
        table = curve_table(str(path), "smoke", 1, "val_loss")
        assert ids[2] not in table.ids
        asked = [json.loads(c) for c in res.jobs["config"]]
        assert all(table.match(c)[0] != ids[2] for c in asked)
        if sampling == "candidates":
            assert all(config_id(c) != ids[2] for c in asked) and all(table.match(c)[1] for c in asked)
        best = st.table_best(str(path), "val_loss", res.drop_top)
        assert best["val"] == pytest.approx(0.48) and best["configs"] == 4  # c3's seed mean: c2 is gone
        assert st.table_best(str(path), "val_loss")["val"] == pytest.approx(0.45)
        fin = st.final_regret(res, best).merge(res.incumbents[["run_key", "config"]], on="run_key")
        # each run's regret: its incumbent's seed mean at R (in the table it replayed) minus 0.48, never minus 0.45
        entry = [ids.index(table.match(json.loads(c))[0]) for c in fin["config"]]
        expected = [np.mean(LOSS_AT_R[i]) - 0.48 for i in entry]
        assert fin["val_regret"].to_numpy() == pytest.approx(expected) and (fin["val_regret"] >= -1e-12).all()
        hits = hit_rates(res, best)
        rs = hits[hits["label"] == "rs"].iloc[0]
        inc = res.incumbents.merge(res.runs[["run_key", "label"]], on="run_key")
        tops = [table.match(json.loads(c))[0] for c in inc.loc[inc["label"] == "rs", "config"]]
        assert len(tops) == 8 and rs["top1"] == pytest.approx(np.mean([t == ids[3] for t in tops]))
        if sampling == "candidates":  # ranked in the reduced table: c3 is its best (second in the full table,
            assert rs["top1"] > 0     # where no incumbent of this store could be first)


@pytest.mark.parametrize("value,expected", [
    ("-1", "drop_top"), ("1.5", "drop_top"), ('"1"', "drop_top"), ("true", "drop_top"),
    ("5", "fewer than the table's 5 configurations"), ("7", "fewer than the table's 5 configurations")])
def test_bad_drop_top_is_one_error_line_naming_the_key(tmp_path, capsys, value, expected):
    from bench.cli import main
    path, _, _ = _table(tmp_path)
    p = _suite(tmp_path, path, "bad", None)
    p.write_text(f"drop_top = {value}\n" + p.read_text())  # a top-level key (before any [[methods]] table)
    assert main(["run", str(p), "--results", str(tmp_path / "out"), "--no-progress"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "key 'drop_top'" in err[0] and expected in err[0] and str(p) in err[0]
    assert not (tmp_path / "out" / "results.db").exists()


def test_drop_top_needs_replay(tmp_path):
    p = tmp_path / "train.toml"
    p.write_text('profile = "smoke"\nbudgets = [1]\nseeds = [0]\ndrop_top = 1\n[[methods]]\nmethod = "random-search"\n')
    with pytest.raises(SuiteError, match=r"train\.toml: key 'drop_top': expected to be set only with backend"):
        load_suite(p)


def test_a_good_drop_top_loads(tmp_path):
    path, _, _ = _table(tmp_path)
    assert load_suite(_suite(tmp_path, path, "four", 4)).drop_top == 4
    assert load_suite(_suite(tmp_path, path, "none", None)).drop_top == 0
    assert "drop_top" not in load_suite(_suite(tmp_path, path, "zero", 0)).runs()[0].identity()


def test_runs_of_different_k_are_never_compared(tmp_path):
    """A k = 1 store whose only method is Hyperband is not compared with the random search of a k = 0 store of the
    same table, budgets and seeds; with random search at k = 1 it is compared with that one only."""
    from paper import findings
    from paper import stats as st
    from paper.data import load
    path, _, _ = _table(tmp_path)
    stores = {"k0": (0, ("random", "hyperband")), "k1hb": (1, ("hyperband",))}
    loaded, bests = {}, {}
    for name, (k, methods) in stores.items():
        assert Runner(load_suite(_suite(tmp_path, path, name, k, methods, seeds=range(6))), tmp_path / name,
                      progress=False).run() == 0
        loaded[name] = load(tmp_path / name)
        bests[name] = st.table_best(str(path), "val_loss", loaded[name].drop_top)
    df = findings.compute(loaded, bests)
    k1 = df[df["drop_top"] == 1]
    assert len(k1) == 1 and not k1["like_for_like"].iloc[0] and k1["random_answering"].iloc[0] == "none"
    # now give k = 1 its own random search: compared with it, never with k = 0's
    assert Runner(load_suite(_suite(tmp_path, path, "k1rs", 1, ("random",), seeds=range(6))), tmp_path / "k1rs",
                  progress=False).run() == 0
    loaded["k1rs"] = load(tmp_path / "k1rs")
    bests["k1rs"] = st.table_best(str(path), "val_loss", 1)
    df = findings.compute(loaded, bests)
    tested = df[df["like_for_like"].astype(bool)]
    assert set(tested["drop_top"]) == {0, 1}
    for _, r in tested.iterrows():
        assert loaded[r["random_store"]].drop_top == r["drop_top"] == loaded[r["store"]].drop_top
    table = findings.leave_out(df)
    assert list(table.columns[:4]) == ["objective", "B", "method", "answered"] and {"k=0", "k=1"} <= set(table.columns)
