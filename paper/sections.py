"""Which section of ``paper.md`` a store fills, chosen by what the store holds, never by its directory name.

A section's template keys (``${nvsbn_iqm_table}``, ``${workers_findings}``, ``${smoke_final_table}`` ...) carry the
section's name; a store fills a section when its runs recorded what the section is about:

* ``workers``: the workers study, replayed runs at several simulated worker counts;
* ``nvsbn``: the n vs B/n sweep: replayed on a fixed-horizon (budget-unaware) table, one worker, successive halving
  at several n, objective ``val_loss`` (table sampling preferred where several stores qualify); ``nvsbn_miou``: the
  same with objective ``val_miou``;
* ``smoke`` and ``cpu``: real training on the profile of that name.

One store fills a section (``assign``); a store that fills none still has
its own tables and figures (named after its folder) and enters the Findings, the fidelity pairing and the hit rates,
which read every store by content already.
"""
from __future__ import annotations

import json

from .data import Results

SECTIONS = ("workers", "nvsbn", "nvsbn_miou", "smoke", "cpu")


def features(res: Results) -> dict:
    """What a store holds, from its runs' recorded identities and roles: ``backend``, ``profile``, ``objective``,
    ``sampling`` (the replay answering modes, a sorted list), ``workers`` (simulated worker counts),
    ``budget_aware`` (whether the replayed table has a budget column), ``sh_ns`` (the distinct n of its
    successive-halving runs)."""
    from .fidelity import budget_aware
    idents = [json.loads(i) for i in res.runs["identity"]]
    sh = res.runs[res.runs["method"] == "successive-halving"]
    return {"backend": res.backend, "profile": sorted({str(p) for p in res.runs["profile"]}),
            "objective": res.objective, "sampling": sorted({i.get("sampling", "neighbour") for i in idents}),
            "workers": res.worker_counts(), "budget_aware": bool(res.curves) and budget_aware(res.curves),
            "sh_ns": sorted({int(json.loads(p).get("n", 0)) for p in sh["params"]})}


def section_of(f: dict) -> str | None:
    """The section a store with features ``f`` (``features``) can fill, or None."""
    if f["backend"] == "replay" and len(f["workers"]) > 1:
        return "workers"
    if f["backend"] == "replay" and not f["budget_aware"] and f["workers"] == [1] and len(f["sh_ns"]) > 1:
        return {"val_loss": "nvsbn", "val_miou": "nvsbn_miou"}.get(f["objective"])
    if f["backend"] == "train" and len(f["profile"]) == 1 and f["profile"][0] in ("smoke", "cpu"):
        return f["profile"][0]
    return None


def assign(contents: dict[str, dict]) -> dict[str, str]:
    """Store name -> section, for the stores that fill one (``contents``: name -> ``features``, in the order the
    stores were given). Of the stores that can fill a section, one replayed with table sampling (the paper's n vs
    B/n design: every ask a recorded configuration) is preferred; otherwise the first given."""
    candidates: dict[str, list[str]] = {}
    for name, f in contents.items():
        s = section_of(f)
        if s is not None:
            candidates.setdefault(s, []).append(name)
    return {min(names, key=lambda n: (contents[n]["sampling"] != ["table"], names.index(n))): s
            for s, names in candidates.items()}
