"""Recorded learning-curve tables: reading, checking, querying and exporting them.

Owns the curves table format (``curves``: export from recording stores, replay lookups of one job),
the checks a table passes on load (``check``), the public query API (``table``: ``bench.load_table``),
the standard exports (``export``: parquet + ConfigSpace JSON, Syne Tune's blackbox format) and the
recipe report that chose the training recipe from recordings (``recipe``).

May import: ``bench.storage``, ``segmentation.space`` (the search space), pandas, pyarrow, ConfigSpace.
Never the run loop (``bench.loop``) or the suite (``bench.config``).
"""
