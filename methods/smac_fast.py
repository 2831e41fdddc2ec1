"""SMAC3's random forest with the same predictions in less time: trees predicted one after another.

SMAC's ``EPMRandomForest.all_trees_pred`` dispatches every tree's prediction through joblib
(``Parallel(..., require="sharedmem")``), also with one job; SMAC's acquisition search predicts
small batches of neighbours hundreds of times per ask, so the dispatch cost more than the trees.
:class:`SerialEPMForest` calls SMAC's own per-tree function (``estimator_predict``, the same
``tree.predict(X, check_input=False)`` into the same column) in a plain loop, as SMAC's own comment
there says is equivalent; :class:`SerialRandomForest` is SMAC's ``RandomForest`` that trains it.
Every prediction is bit-identical, so SMAC asks the same configurations (``tests/test_tuner_asks.py``
compares the asks with SMAC's own forest on a fixed seed; ``python -m bench.instruments.asks`` prints the time ratio).
"""
from __future__ import annotations

import numpy as np
from smac.model.random_forest.random_forest import EPMRandomForest, RandomForest, estimator_predict


class SerialEPMForest(EPMRandomForest):
    def all_trees_pred(self, X: np.ndarray) -> np.ndarray:
        X = self._validate_X_predict(X)
        if X.ndim == 1:
            X = X[None, :]
        shape = (X.shape[0], self.n_estimators) + ((self.n_outputs_,) if self.n_outputs_ > 1 else ())
        preds = np.zeros(shape, dtype=np.float64)
        for tree_idx, tree in enumerate(self.estimators_):
            estimator_predict(tree.predict, X, preds, tree_idx)
        return preds


class SerialRandomForest(RandomForest):
    """SMAC's ``RandomForest`` whose fitted forest is a :class:`SerialEPMForest` (its ``_train``, that class swapped)."""

    def _train(self, X: np.ndarray, y: np.ndarray) -> SerialRandomForest:
        X = self._impute_inactive(X)
        y = y.flatten()
        self._rf = SerialEPMForest(**self._rf_opts)
        self._rf.fit(X, y)
        return self
