"""The resolution ladder (issue 28): pairs of tables by profile, rho with a bootstrap CI, and its verdict."""
import json

import numpy as np
import pandas as pd
import pytest

from paper import ladder


def _table(values_loss, values_miou, seeds=(0,), R=3):
    rows = []
    for i, (l, m) in enumerate(zip(values_loss, values_miou)):
        for s in seeds:
            for e in range(1, R + 1):
                rows.append({"config_id": f"c{i:02d}", "train_seed": s, "epoch": e, "status": "ok",
                             "val_loss": l + (R - e), "val_miou": m})
    return pd.DataFrame(rows)


def test_rho_is_one_for_the_same_ranking_and_minus_one_reversed():
    x = np.linspace(0.5, 1.0, 12)
    df, _, common = ladder.ladder(_table(x, x), _table(2 * x, x[::-1]))
    got = df.set_index("metric")
    assert got.loc["val_loss", "rho"] == pytest.approx(1) and got.loc["val_miou", "rho"] == pytest.approx(-1)
    assert got.loc["val_loss", "lo"] == pytest.approx(1) and got.loc["val_miou", "hi"] == pytest.approx(-1)
    assert list(got["configs"]) == [12, 12] and len(common) == 12


def test_only_configurations_and_seeds_both_tables_hold_count():
    x = np.linspace(0.5, 1.0, 10)
    low = _table(x, x, seeds=(0, 1))
    high = _table(x[:7], x[:7], seeds=(0,))
    df, _, _ = ladder.ladder(low, high)
    assert set(df["configs"]) == {7} and set(df["seeds"]) == {1}


def test_pairs_come_from_the_recorded_profiles(tmp_path):
    def table(name, profile):
        p = tmp_path / f"{name}.csv"
        p.write_text("x\n")
        (tmp_path / f"{name}.meta.json").write_text(json.dumps({"runs": [{"profile": profile}]}))
        return p
    a, b, c = table("t1", "cpu-v2"), table("t2", "cpu-v2-64px"), table("t3", "cpu-v2-budget")
    assert ladder.rung_pairs([c, b, a]) == [(a, b)]


def test_text_restricts_the_conclusions_when_the_lower_bound_is_below_half(tmp_path):
    nums = [{"low": "cpu-v2", "high": "cpu-v2-64px", "complete": False, "rows": [
        {"metric": "val_loss", "rho": 0.8, "lo": 0.6, "hi": 0.9, "configs": 16, "seeds": 1},
        {"metric": "val_miou", "rho": 0.5, "lo": 0.1, "hi": 0.8, "configs": 16, "seeds": 1}]}]
    out = ladder.text(nums, tmp_path)
    assert "validation cross-entropy: rho = 0.80 [0.60, 0.90]" in out and "a partial recording" in out
    assert "The ranking by validation mIoU is not shown to survive doubling the resolution" in out
    assert ladder.text(None, tmp_path).startswith("*Resolution ladder: not measured yet")
