"""The Findings family: Holm's step over the like-for-like comparisons, and a generated sentence checked by hand."""
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from paper.findings import text


def test_holm_step_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert multipletests(p, method="holm")[1] == pytest.approx([0.03, 0.06, 0.06, 0.02])


def _row(**kw):
    base = {"store": "nvsbn", "objective": "val_loss", "B": 13.222222222222221, "method": "skopt-gp",
            "answering": "table", "random_answering": "table", "runs": 30, "like_for_like": True,
            "iqm_diff": -0.0080, "lo": -0.0138, "hi": -0.0031, "effect_sd": -0.32, "test_miou_diff": 0.006,
            "p": 0.001, "p_holm": 0.012, "verdict": "lower regret"}
    return {**base, **kw}


def test_findings_sentence_by_hand():
    df = pd.DataFrame([_row(), _row(method="hyperband", iqm_diff=0.001, lo=-0.004, hi=0.006, p=0.4, p_holm=1.0,
                                    verdict="indistinguishable"),
                       _row(method="smac-bo", answering="neighbour", like_for_like=False, iqm_diff=np.nan,
                            p=np.nan, p_holm=np.nan, verdict="not tested (no random search answered alike)")])
    out = text(df).splitlines()
    assert out[0] == ("- `skopt-gp` at B = 13.2222 R (nvsbn, objective val_loss, it and random search answered by the table): validation "
                      "regret lower than random search's by 0.0080 [-0.0138, -0.0031] (IQM difference, 95% CI; "
                      "Holm-corrected p = 0.012), 0.32 training-seed sds; test mIoU +0.0060.")
    assert "Of 2 comparisons with random search answered alike" in out[1] and "1 differ" in out[1]
    assert "1 comparison(s) were not tested" in out[2] and "`smac-bo`" in out[2]
