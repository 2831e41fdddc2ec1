"""What the tuners ask, pinned: the default modes ask exactly what they asked before table-candidate
mode and the speed-ups (issues 24 and 26) were added.

The digests below were computed with ``bench.asks`` at commit 421453b, before either change, on this
project's pinned library versions (SMAC 2.4.1, scikit-optimize 0.10.2, scikit-learn 1.9.1, DEHB 0.1.2,
Optuna 5.0.0, numpy 1.26.4). A library upgrade may change them; a change in methods/ must not.
"""
import pytest

from bench.asks import ask_digest, method_jobs, toy_candidates

BEFORE = [  # method, parameters, jobs driven, digest of their asks (seed 0)
    ("random-search", {}, 40, "0bc848966b0e579ad2a95ff418a1a98cda56f8939ff81f730805eda6c50ded3e"),
    ("hyperband", {}, 40, "44b58b2f48b9e44a2e0d5aa2f8afce9e2d01495989ff4329287e3a513f6c4dc3"),
    ("asha", {}, 40, "607e36c4118f2d9567e034adde7fc4262e92c3bdf471b5df08d0afbd2856869a"),
    ("smac-bo", {"n_initial": 4}, 12, "24173a9e69c9f028244257e666d55326ca12b9d36bf001b1c2587d5739e72f68"),
    ("smac-hb", {"n_initial": 4, "max_budget": 9}, 30,
     "c27b11994b059c16073317396339c20a84c9a17f858091259f60ab2408942139"),
    ("skopt-gp", {"n_initial": 4}, 12, "20938a7a734f1f30f2b5afe072d7f4a4efbbe0a7fc6354fc459778a0e79b9834"),
    ("dehb", {"max_budget": 9}, 40, "c3dc8a96c76d0925c1725e60e5e1a0fc29fd185fbe3e8fca5c361bccdbbae872"),
    ("optuna-tpe-hb", {"n_startup_trials": 4, "max_budget": 3}, 60,
     "34b71067e7c2b8bb7a96da2ebfd6fa7a4f73ef636c6f4b0d9e49ac0c9fd1771c"),
]
BEFORE_TABLE = [  # base-class samplers under set_candidates(toy_candidates()), seed 0, 40 jobs
    ("random-search", "0fab310223aace947bb5aa1bd92cc3ed0d83590337f3c38f2c716f0a8b863be9"),
    ("hyperband", "e48e840425a4ed17ed0bfb23405cf42936b92096d59c9a04b44badb10b600055"),
    ("asha", "ec9e575002745af7399f0e0d0baa64308eceafdb1e6896651edc1de65cb1ad6b"),
]


@pytest.mark.parametrize("method,params,n,digest", BEFORE, ids=[b[0] for b in BEFORE])
def test_default_asks_unchanged(method, params, n, digest):
    assert ask_digest(method_jobs(method, 0, n, **params)) == digest


@pytest.mark.parametrize("method,digest", BEFORE_TABLE, ids=[b[0] for b in BEFORE_TABLE])
def test_table_sampling_asks_unchanged(method, digest):
    assert ask_digest(method_jobs(method, 0, 40, candidates=toy_candidates())) == digest
