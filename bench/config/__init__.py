"""What a run is: suites, their declared keys, the checks made when a suite loads, and the bracket planner.

Owns the suite file (``suite``: load, expand into runs, detect a changed suite), the declaration of
every suite key (``keys``, pydantic), the budget-aware fidelity check made at load (``fidelity``) and
the Hyperband planner behind ``bench brackets`` (``planner``).

May import: ``bench.tables``, ``bench.storage``, ``methods`` (registry, roles, brackets) and
``segmentation`` (profiles, space). Never the run loop (``bench.loop``).
"""
