"""The store: one SQLite results database per results directory, and what reads or writes it whole.

Owns every SQL statement of the project (``store``), packing a finished store into one compressed file
and back (``packing``), what a run records about where it ran (``meta``) and reading a results
directory as status lines or one tidy table (``report``), and the scratch folders of a sitting (``scratch``).

May import: the standard library, pandas. Nothing else of ``bench``: every other package stands on this one.
"""
