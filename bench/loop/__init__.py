"""The run loop and its parts: from a suite's runs to rows in the store; and the recording loop.

Owns the driver (``runner``: one suite, run by run; ``sweep``: runs in several processes; ``prefix``: the
smaller budgets' runs cut from one replay at the largest B), what answers
jobs (``backend``: real training or replay; ``jobs``: what a worker runs; ``tasks``: one training from
the command line), where jobs run (``executor``, ``pinning``, ``simworkers``), a run's state and budget
(``runstate``, ``ledger``, ``guard``), what it writes (``rows``, ``checkpoints``), resuming by re-telling
the log to a fresh tuner (``retell``), the process lifeline (``lifeline``), and recording learning curves
(``record``).

May import: ``bench.config``, ``bench.tables``, ``bench.storage``, ``methods``, ``segmentation``, Dask.
Never ``bench.instruments`` or the command line (``bench.cli``).
"""
