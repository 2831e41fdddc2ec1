"""The harness that joins the task (``segmentation``) and the tuners (``methods``).

Public API: ``load_table(name_or_path)`` opens a recorded learning-curve table as a benchmark
(``bench.tables.table``). Importing ``bench`` itself stays cheap: nothing heavy loads until it is called.
"""


def load_table(name_or_path, profile=None):
    """Open a recorded curves table by name (``"cpu-v2"``, in ``results/curves/``) or path; see
    ``bench.tables.table.load_table`` and ``bench.tables.table.Table``."""
    from bench.tables.table import load_table as _load_table
    return _load_table(name_or_path, profile)


__all__ = ["load_table"]
