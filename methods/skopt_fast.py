"""scikit-optimize's GP with the same asks in less time: bookkeeping cached through thin subclasses.

Where skopt-GP's time goes at our sizes (tens of observations, 1000 random points per tell): the
GP's kernel fit evaluates the likelihood thousands of times, and every evaluation asks the kernel
for its ``hyperparameters`` (scikit-learn lists them with ``dir()``) and its ``get_params()``
(scikit-learn reads the constructor's signature with ``inspect``), several times per node; and
every tell one-hot encodes the 1000 random points through scikit-learn's ``LabelBinarizer``.

* :func:`cached_kernel` rebuilds a kernel with leaves of the ``Cached*`` subclasses of skopt's
  kernels, which compute those two lists of names once per class (the same names in the same
  order: ``dir()`` sorts, so do they) and read the values as before. Sums and products keep
  skopt's classes; the ``WhiteKernel`` skopt's GP adds at fit time is made a cached one too
  (:class:`CachedProduct`'s ``+``). Every number computed is the same.
* :class:`LookupCategorical` is skopt's ``Categorical`` whose one-hot encoder looks rows up in a
  table of the ``LabelBinarizer``'s own output for each category (same rows, same dtype), instead
  of running the binarizer's input validation at every call.

``tests/test_tuner_asks.py`` checks that the tuner asks the same configurations with and without
them on a fixed seed, and ``python -m bench.instruments.asks`` prints the time ratio.
"""
from __future__ import annotations

from functools import lru_cache
from inspect import signature

import numpy as np
from skopt.learning.gaussian_process import kernels as sk
from skopt.space import Categorical
from skopt.space.transformers import CategoricalEncoder


@lru_cache(maxsize=None)
def _hyperparameter_names(cls) -> tuple[str, ...]:
    return tuple(a for a in dir(cls) if a.startswith("hyperparameter_"))  # dir() is sorted


@lru_cache(maxsize=None)
def _init_args(cls) -> tuple[str, ...]:
    params = signature(cls.__init__).parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        raise RuntimeError(f"{cls.__name__} takes *args; scikit-learn kernels name their parameters")
    return tuple(p.name for p in params if p.kind != p.VAR_KEYWORD and p.name != "self")


class _CachedNames:
    """``hyperparameters`` and ``get_params`` of scikit-learn's ``Kernel``, with the attribute and
    argument names looked up once per class (kernels keep no ``hyperparameter_*`` instance attributes)."""

    @property
    def hyperparameters(self):
        assert not any(k.startswith("hyperparameter_") for k in vars(self))
        return [getattr(self, a) for a in _hyperparameter_names(type(self))]

    def get_params(self, deep=True):
        return {a: getattr(self, a) for a in _init_args(type(self))}


class CachedConstantKernel(_CachedNames, sk.ConstantKernel):
    pass


class CachedMatern(_CachedNames, sk.Matern):
    pass


class CachedWhiteKernel(_CachedNames, sk.WhiteKernel):
    pass


class CachedHammingKernel(_CachedNames, sk.HammingKernel):
    pass


_CACHED = {sk.ConstantKernel: CachedConstantKernel, sk.Matern: CachedMatern, sk.WhiteKernel: CachedWhiteKernel,
           sk.HammingKernel: CachedHammingKernel}


class CachedProduct(sk.Product):
    """skopt's ``Product``; ``+`` turns its other operand's leaves into cached ones (skopt's GP adds its
    ``WhiteKernel`` this way at every fit)."""

    def __add__(self, b):
        return super().__add__(cached_kernel(b) if isinstance(b, sk.Kernel) else b)


def cached_kernel(kernel):
    """``kernel`` with every leaf of a class in ``_CACHED`` replaced by its cached subclass (same
    parameters); a product at the top becomes a :class:`CachedProduct`. Other kernels are kept."""
    if isinstance(kernel, (sk.Sum, sk.Product)):
        cls = CachedProduct if type(kernel) in (sk.Product, CachedProduct) else type(kernel)
        return cls(cached_kernel(kernel.k1), cached_kernel(kernel.k2))
    cls = _CACHED.get(type(kernel))
    if cls is None:
        return kernel
    return cls(**kernel.get_params(deep=False))


class LookupEncoder(CategoricalEncoder):
    """skopt's one-hot ``CategoricalEncoder`` whose ``transform`` indexes a table of the fitted
    ``LabelBinarizer``'s rows (one per category) instead of calling the binarizer."""

    def fit(self, X):
        super().fit(X)
        classes = self._lb.classes_  # the labels of ``mapping_``, sorted
        self._rows = self._lb.transform(classes)
        self._row_of = {v: int(np.searchsorted(classes, label)) for v, label in self.mapping_.items()}
        return self

    def transform(self, X):
        return self._rows[np.fromiter((self._row_of[v] for v in X), dtype=np.intp, count=len(X))]


class LookupCategorical(Categorical):
    """skopt's ``Categorical`` whose one-hot transform is a :class:`LookupEncoder`."""

    def set_transformer(self, transform="onehot"):
        super().set_transformer(transform)
        if transform == "onehot":
            self.transformer = LookupEncoder().fit(self.categories)
