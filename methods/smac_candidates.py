"""SMAC3 choosing only among given configurations (HPOBench's tabular protocol), through SMAC's own parts.

SMAC proposes configurations in four places; each gets the candidates here:

* the initial design: :class:`CandidateInitialDesign`, an ``AbstractInitialDesign`` whose
  configurations are the first ``n_configs`` of a seeded shuffle of the candidates;
* the acquisition search: :class:`CandidateMaximizer`, an ``AbstractAcquisitionMaximizer`` that
  evaluates SMAC's acquisition function on every candidate not yet in the run history and returns
  them best first (SMAC's own ``_sort_by_acquisition_value``, ties broken by its seeded RNG):
  the acquisition is maximised over the finite set;
* the random configurations SMAC interleaves with the acquisition's choices (its random design,
  probability 0.2 in both facades), the ones its config selector draws while no trial has
  finished (SMAC-HB's first bracket asks more than the initial design holds) and its fallback
  when the acquisition offers nothing new: all three call ``configspace.sample_configuration()``,
  so the scenario's space is a :class:`CandidateSpace`, whose draws are the candidates in a seeded
  random order (without replacement until every candidate has been drawn once, then a new order).

SMAC never proposes a configuration twice, so a run ends when every candidate has been proposed
(SMAC raises ``ConfigurationSpaceExhaustedException`` or stops its iterator; the tuner then
finishes).
"""
from __future__ import annotations

import copy

import numpy as np
from ConfigSpace import Configuration, ConfigurationSpace
from smac.acquisition.maximizer.abstract_acquisition_maximizer import AbstractAcquisitionMaximizer
from smac.initial_design import AbstractInitialDesign


def vector_key(config: Configuration) -> bytes:
    """A configuration's identity as SMAC sees it: the bytes of its vector representation."""
    return np.asarray(config.get_array(), dtype=np.float64).tobytes()


class CandidateSpace(ConfigurationSpace):
    """``space`` (same hyperparameters, conditions and forbidden clauses) whose ``sample_configuration``
    draws from ``candidates`` (dicts of values of the space) instead of the whole space.

    The draws are the candidates in an order shuffled with the space's own RNG (``self.random``,
    seeded by ``seed``): every candidate once before any is drawn again. Candidates are kept as tuples
    of their vectors (``ConfigurationSpace.__eq__`` compares attributes by value), each draw is a
    fresh ``Configuration`` (SMAC writes its ``origin``)."""

    def __init__(self, space: ConfigurationSpace, candidates: list[dict], seed: int):
        super().__init__(name=space.name, seed=seed)
        self.add(copy.deepcopy(list(space.values())))
        if space.conditions:
            self.add(copy.deepcopy(list(space.conditions)))
        if space.forbidden_clauses:
            self.add(copy.deepcopy(list(space.forbidden_clauses)))
        vectors = []
        for c in candidates:
            vector = tuple(float(x) for x in Configuration(self, values=c).get_array())
            if vector not in vectors:  # a table lists each configuration once; repeats would be drawn twice as often
                vectors.append(vector)
        if not vectors:
            raise ValueError("CandidateSpace needs at least one candidate")
        self.candidate_vectors = tuple(vectors)
        self._order: list[int] = []

    def candidate_configurations(self) -> list[Configuration]:
        """Every candidate, in the order given, as fresh configurations of this space."""
        return [Configuration(self, vector=np.array(v)) for v in self.candidate_vectors]

    def _draw(self) -> Configuration:
        if not self._order:
            self._order = [int(i) for i in self.random.permutation(len(self.candidate_vectors))]
        return Configuration(self, vector=np.array(self.candidate_vectors[self._order.pop(0)]))

    def sample_configuration(self, size: int | None = None):
        if size is None:
            return self._draw()
        return [self._draw() for _ in range(int(size))]


class CandidateInitialDesign(AbstractInitialDesign):
    """SMAC's initial design over the candidates: the first ``n_configs`` configurations of a shuffle
    of them (distinct; all of them if there are fewer), drawn with the design's seeded RNG."""

    def _select_configurations(self) -> list[Configuration]:
        space = self._configspace
        if not isinstance(space, CandidateSpace):
            raise TypeError("CandidateInitialDesign needs a scenario whose configspace is a CandidateSpace")
        configs = space.candidate_configurations()
        order = self._rng.permutation(len(configs))[: self._n_configs]
        chosen = [configs[int(i)] for i in order]
        for config in chosen:
            config.origin = "Initial Design: Candidates"
        return chosen


class CandidateMaximizer(AbstractAcquisitionMaximizer):
    """SMAC's acquisition function maximised over a finite set: evaluated on every candidate of the
    ``CandidateSpace`` that is not among ``previous_configs`` (the run history's configurations; all
    candidates once every one is among them), returned best first, at most ``n_points`` (default: all)."""

    def __init__(self, configspace: CandidateSpace, acquisition_function=None, seed: int = 0):
        if not isinstance(configspace, CandidateSpace):
            raise TypeError("CandidateMaximizer needs a CandidateSpace")
        super().__init__(configspace, acquisition_function, challengers=len(configspace.candidate_vectors), seed=seed)

    def _maximize(self, previous_configs: list[Configuration], n_points: int) -> list[tuple[float, Configuration]]:
        seen = {vector_key(c) for c in previous_configs}
        configs = self._configspace.candidate_configurations()
        # with every candidate seen, all of them (SMAC's ChallengerList fails on an empty list; its config
        # selector skips seen configurations and then raises ConfigurationSpaceExhaustedException)
        configs = [c for c in configs if vector_key(c) not in seen] or configs
        for c in configs:
            c.origin = "Acquisition Function Maximizer: Candidates"
        return self._sort_by_acquisition_value(configs)[:n_points]
