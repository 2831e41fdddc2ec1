"""Replay checked against real training: the same suite run with real training and replayed.

Inputs: two results directories, the real-training store (``bench/suites/realcheck.toml``,
``results/realcheck``) and its replayed twin on the recorded curves table
(``results/realcheck-replay``; docs/replay.md gives the suite text and the commands). Methods are
matched by the ``algorithm`` role the runs table stores (``methods.roles``: method, parameters
and R), never by label, and by B.

Output: a table of the final test mIoU (Tile 5) of each run's incumbent per method and B, real
and replayed side by side (median [interquartile range], runs with an incumbent / runs), with
the replay's distinct recorded entries and neighbour share (medians over seeds); and per B
whether the replay ranks the methods as real training does: Kendall's tau between the two
orderings of the methods by median, every pairwise order (agree or not), and how many pairs the
real runs themselves separate (two-sided Mann-Whitney U over seeds, p < 0.05), since with a few
seeds per method most pairwise orders of medians are noise.
"""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bench.storage.packing import DB_NAME, PACKED

from . import replaystats
from .data import Results, final_table, load

REPO = Path(__file__).resolve().parents[1]
ALPHA = 0.05


def has_store(path: Path) -> bool:
    return (Path(path) / DB_NAME).is_file() or (Path(path) / PACKED).is_file()


def _quartiles(v: pd.Series) -> str:
    v = v.dropna()
    if v.empty:
        return "—"
    q1, m, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return f"{m:.3f} [{q1:.3f}, {q3:.3f}]"


def matched(real: Results, replay: Results) -> list[dict]:
    """Per (real label, B) in the real suite's order: the real runs' and the replayed runs' final
    rows (``final_table``), matched by the stored ``algorithm`` role and B. The replayed runs'
    incumbents keep the values of the training seed they drew (``drawn=True``), not their
    configuration's seed mean: like for like with a real run, whose incumbent is one trained model."""
    fr, fp = final_table(real), final_table(replay, drawn=True)
    out = []
    for b in real.budgets():
        groups: dict[str, list[str]] = {}  # labels that are one algorithm count once, named together
        for label in real.methods():
            g = fr[(fr["label"] == label) & (fr["budget"] == b)]
            if len(g):
                groups.setdefault(g["algorithm"].iloc[0], []).append(label)
        for alg, labels in groups.items():
            g = fr[(fr["label"] == labels[0]) & (fr["budget"] == b)]
            h = fp[(fp["algorithm"] == alg) & (fp["budget"] == b)]
            twin = list(dict.fromkeys(h["label"]))
            out.append({"label": " = ".join(labels), "budget": b, "algorithm": alg, "real": g,
                        "replay_label": twin[0] if twin else None,
                        "replay": h[h["label"] == twin[0]] if twin else h})
    order = {lab: i for i, lab in enumerate(real.methods())}
    return sorted(out, key=lambda p: (order[p["label"].split(" = ")[0]], p["budget"]))


MWU = "real vs replay: Mann-Whitney p"
SHIFT = "replay - real: Hodges-Lehmann shift"


def _mwu(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Mann-Whitney U p-value of two samples (NaN: one is empty), exact over all
    reassignments of the pooled values (``PermutationMethod``: with ties too, where scipy's default
    falls back to the normal approximation, which is off at five runs a side)."""
    a, b = a.dropna(), b.dropna()
    if not len(a) or not len(b):
        return float("nan")
    return float(stats.mannwhitneyu(a, b, alternative="two-sided", method=stats.PermutationMethod()).pvalue)


def _min_p(n1: int, n2: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value samples of n1 and n2 can reach (no ties)."""
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def _holm(ps: list[float]) -> list[float]:
    from statsmodels.stats.multitest import multipletests
    return [float(x) for x in multipletests(ps, method="holm")[1]] if ps else []


def fidelity(pairs: list[dict]) -> list[dict]:
    """Per method and B: are the replayed runs' final test mIoU shifted against the real runs'?
    Two-sided exact Mann-Whitney U, real runs against replayed runs (unpaired: a replayed seed does
    not ask what the real seed asked), ``p`` and ``p_holm`` (Holm over the tested methods of one B),
    the Hodges-Lehmann shift (median of all replayed - real differences) and ``min_p``, the smallest
    p these sample sizes allow. U looks for a shift, not for a difference in spread: the table's
    IQRs show that. Methods without runs on both sides are listed with ``tested`` False."""
    out = []
    for p in pairs:
        r = p["real"]["test_miou"].dropna()
        q = p["replay"]["test_miou"].dropna() if len(p["replay"]) else pd.Series(dtype=float)
        f = {"label": p["label"], "budget": p["budget"], "real_n": len(r), "replay_n": len(q),
             "tested": bool(len(r) and len(q))}
        if f["tested"]:
            f.update(p=_mwu(r, q), min_p=_min_p(len(r), len(q)), real_median=float(r.median()),
                     replay_median=float(q.median()),
                     shift=float(np.median(np.subtract.outer(q.to_numpy(), r.to_numpy()))))
        out.append(f)
    for b in {f["budget"] for f in out}:  # one family of tests per B
        fs = [f for f in out if f["budget"] == b and f["tested"]]
        for f, adj in zip(fs, _holm([f["p"] for f in fs])):
            f["p_holm"] = adj
    return out


def table(real: Results, replay: Results, pairs: list[dict], fid: list[dict]) -> pd.DataFrame:
    rows = []
    for p, f in zip(pairs, fid):
        r, q = p["real"], p["replay"]
        c = replaystats.cell(replay, p["replay_label"], p["budget"]) if p["replay_label"] else {}
        name = p["label"] if p["replay_label"] in (None, p["label"]) else f"{p['label']} (replay: {p['replay_label']})"
        rows.append({"method": name, "B": f"{p['budget']:g}",
                     "real: test mIoU, median [IQR]": _quartiles(r["test_miou"]),
                     "real runs": f"{int(r['test_miou'].notna().sum())}/{len(r)}",
                     "replay: test mIoU, median [IQR]": _quartiles(q["test_miou"]) if len(q) else "not in the replay store",
                     "replay runs": f"{int(q['test_miou'].notna().sum())}/{len(q)}" if len(q) else "0/0",
                     replaystats.ENTRIES: c.get(replaystats.ENTRIES, "—"),
                     replaystats.SHARE: c.get(replaystats.SHARE, "—"),
                     SHIFT: f"{f['shift']:+.3f}" if f["tested"] else "—",
                     MWU: f"{f['p']:.2g}" if f["tested"] else "—"})
    return pd.DataFrame(rows)


def ranking(pairs: list[dict]) -> dict:
    """Per B: Kendall's tau between real and replayed medians of final test mIoU over the methods
    with results in both, and every pair's order (higher mIoU first) in both."""
    out = {}
    for b in sorted({p["budget"] for p in pairs}):
        ps = [p for p in pairs if p["budget"] == b and p["real"]["test_miou"].notna().any()
              and len(p["replay"]) and p["replay"]["test_miou"].notna().any()]
        if len(ps) < 2:
            continue
        real_med = [float(p["real"]["test_miou"].median()) for p in ps]
        rep_med = [float(p["replay"]["test_miou"].median()) for p in ps]
        tau = stats.kendalltau(real_med, rep_med)
        pair_rows = []
        for i, j in itertools.combinations(range(len(ps)), 2):
            sr, sp = np.sign(real_med[i] - real_med[j]), np.sign(rep_med[i] - rep_med[j])
            pval = _mwu(ps[i]["real"]["test_miou"], ps[j]["real"]["test_miou"])
            pair_rows.append({"a": ps[i]["label"], "b": ps[j]["label"], "real_sign": int(sr), "replay_sign": int(sp),
                              "agree": bool(sr == sp), "real_p": pval})
        for x, adj in zip(pair_rows, _holm([x["real_p"] for x in pair_rows])):  # one family: the pairs of one B
            x["real_p_holm"] = adj
        seeds = sorted({int(p["real"]["test_miou"].notna().sum()) for p in ps})
        out[f"{b:g}"] = {"methods": [p["label"] for p in ps], "real_median": real_med, "replay_median": rep_med,
                         "kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue), "pairs": pair_rows,
                         "real_seeds": seeds}
    return out


def summary(real_dir: Path, replay_dir: Path, out: Path) -> dict:
    """Write ``realcheck.md/.csv/.tex`` under ``out`` when both stores exist; the numbers the
    report quotes (or which inputs are missing)."""
    from .tables import write_table
    real_dir, replay_dir = Path(real_dir), Path(replay_dir)
    missing = [str(_short(p)) for p in (real_dir, replay_dir) if not has_store(p)]
    if missing:
        return {"missing": missing}
    real, replay = load(real_dir), load(replay_dir)
    pairs = matched(real, replay)
    fid = fidelity(pairs)
    profiles = [str(real.runs["profile"].iloc[0]), str(replay.runs["profile"].iloc[0])]
    kinds = [real.backend, replay.backend]
    stand_in = kinds != ["train", "replay"]
    nums = {"real": str(_short(real_dir)), "replay": str(_short(replay_dir)), "profiles": profiles, "backends": kinds,
            "curves": replay.curves, "curves_complete": _table_complete(replay.curves), "ranking": ranking(pairs),
            "fidelity": fid, "stand_in": stand_in,
            "unmatched": list(dict.fromkeys(p["label"] for p in pairs if p["replay_label"] is None))}
    note = (f" Stand-in inputs: the stores' backends are {kinds[0]} and {kinds[1]}, not real training and replay."
            if stand_in else "")
    note += f" Profiles differ ({profiles[0]} vs {profiles[1]})." if profiles[0] != profiles[1] else ""
    note += (f" The replayed table `{replay.curves}` is a partial recording (exported with --partial)."
             if nums["curves_complete"] is False else "")
    write_table(table(real, replay, pairs, fid), out, "realcheck", (
        f"Real vs replayed training: final test mIoU (Tile 5) of each run's incumbent, median [interquartile range] "
        f"over seeds, per method and B (`{nums['real']}`, {kinds[0]}, profile {profiles[0]}; `{nums['replay']}`, "
        f"{kinds[1]} on `{replay.curves}`). Methods matched by their stored algorithm role (method, parameters, R), not "
        f"by label. runs: with an incumbent / asked. Distinct entries and neighbour share: how the replayed runs were "
        f"answered (medians over seeds). Shift: Hodges-Lehmann estimate of replayed minus real final test mIoU (median "
        f"of all pairwise differences). Mann-Whitney p: two-sided exact U test of the real runs' against the replayed "
        f"runs' final test mIoU of that method and B (unpaired, uncorrected; the text corrects it over the methods "
        f"by Holm). U tests for a shift; a difference in spread shows in the IQRs.{note}"))
    return nums


def _sizes(fs: list[dict]) -> str:
    return ", ".join(f"{a} real vs {c} replayed runs" for a, c in sorted({(f["real_n"], f["replay_n"]) for f in fs}))


def _table_complete(curves) -> bool | None:
    """Whether a curves table's ``.meta.json`` says it holds a whole recording (None: no meta, or a
    table exported before the flag existed)."""
    if not curves:
        return None
    meta = (REPO / curves if not Path(curves).is_absolute() else Path(curves)).with_suffix(".meta.json")
    try:
        return json.loads(meta.read_text()).get("complete")
    except (OSError, ValueError):
        return None


def _short(p: Path) -> Path:
    try:
        return Path(p).resolve().relative_to(REPO)
    except ValueError:
        return Path(p)


def text(nums: dict | None, out: Path | None = None) -> str:
    """The generated table and one sentence per B on whether the replay ranks the methods as real
    training does; a "not measured yet" line when an input store is absent."""
    if not nums or nums.get("missing"):
        miss = ", ".join(f"`{m}`" for m in (nums or {}).get("missing", ["results/realcheck", "results/realcheck-replay"]))
        return (f"*Real vs replay: not measured yet ({miss} not found). The real-training suite "
                "`bench/suites/realcheck.toml` and its replayed twin are run as docs/replay.md's \"Replay checked against "
                "real training\" says; `make paper` then builds this table.*")
    p = Path(out) / "realcheck.md" if out else None
    parts = [p.read_text() if p and p.is_file() else ""]
    for b, r in sorted(nums["ranking"].items(), key=lambda kv: float(kv[0])):
        agree = sum(x["agree"] for x in r["pairs"])
        sep = [x for x in r["pairs"] if x.get("real_p_holm", x["real_p"]) < ALPHA]
        sep_agree = sum(x["agree"] for x in sep)
        order_real = " > ".join(m for _, m in sorted(zip(r["real_median"], r["methods"]), key=lambda t: -t[0]))
        order_rep = " > ".join(m for _, m in sorted(zip(r["replay_median"], r["methods"]), key=lambda t: -t[0]))
        seeds = "/".join(map(str, r["real_seeds"]))
        n_pairs = len(r["pairs"])
        verdict = ("The replay orders the methods as real training does" if agree == n_pairs else
                   "The replay does not order the methods as real training does")
        s = (f"B = {b} R: {verdict} (median final test mIoU; real: {order_real}; replay: {order_rep}): Kendall tau = "
             f"{r['kendall_tau']:.2f} (p = {r['kendall_p']:.2g}) over {len(r['methods'])} methods, {agree} of {n_pairs} pairwise orders agree"
             + (" (" + "; ".join(f"{x['a']} vs {x['b']}" for x in r["pairs"] if not x["agree"]) + " disagree)"
                if agree < n_pairs else "")
             + f". With {seeds} real runs per method, real training itself separates {len(sep)} of the "
             f"{n_pairs} pairs (two-sided exact Mann-Whitney U, Holm-corrected over the {n_pairs} pairs, p < {ALPHA})"
             + (f", and the replay keeps the order of {sep_agree} of them" if sep else
                ": the orders of medians are within seed noise, so this check cannot confirm or refute the replay's ranking")
             + ".")
        parts.append(s)
    for b in sorted({f["budget"] for f in nums.get("fidelity", [])}):
        fs = [f for f in nums["fidelity"] if f["budget"] == b and f.get("tested", True)]
        untested = [f["label"] for f in nums["fidelity"] if f["budget"] == b and not f.get("tested", True)]
        s = f"B = {b:g} R, each method's replayed runs against its real runs (final test mIoU): "
        if not fs:
            s += "no method has runs on both sides, so none is tested"
        elif all(f["min_p"] * len(fs) >= ALPHA for f in fs):
            s += (f"with {_sizes(fs)}, no two-sided exact Mann-Whitney p-value can fall below {ALPHA} after Holm's "
                  f"correction over the {len(fs)} methods, so this test cannot detect any shift; the shifts "
                  "(Hodges-Lehmann, replayed minus real) are " + ", ".join(f"{f['label']} {f['shift']:+.3f}" for f in fs))
        else:
            shifted = [f for f in fs if f["p_holm"] < ALPHA]
            s += f"two-sided exact Mann-Whitney U, Holm-corrected over the {len(fs)} methods, p < {ALPHA}: "
            if shifted:
                s += ("the replayed results are shifted against real training for " + "; ".join(
                    f"{f['label']} (Hodges-Lehmann shift {f['shift']:+.3f}: median {f['real_median']:.3f} real, "
                    f"{f['replay_median']:.3f} replayed; p = {f['p']:.2g}, Holm {f['p_holm']:.2g})" for f in shifted))
                rest = [f for f in fs if f["p_holm"] >= ALPHA]
                s += ("; no shift is detected for " + ", ".join(f"{f['label']} ({f['shift']:+.3f})" for f in rest)) if rest else ""
            else:
                s += ("no shift is detected for any method (Hodges-Lehmann shifts " +
                      ", ".join(f"{f['label']} {f['shift']:+.3f}" for f in fs) + ")")
            s += (f". With {_sizes(fs)} only large shifts are detectable, so \"no shift detected\" is not evidence "
                  "of fidelity; U does not test the spread, which the IQRs compare")
        if untested:
            s += "; not tested (no runs with an incumbent on one side): " + ", ".join(untested)
        parts.append(s + ".")
    if nums.get("unmatched"):
        parts.append("Not in the replay store: " + ", ".join(f"`{m}`" for m in nums["unmatched"]) + ".")
    if nums.get("stand_in"):
        parts.append(f"*(Stand-in inputs: backends {nums['backends'][0]} and {nums['backends'][1]}.)*")
    return "\n\n".join(x for x in parts if x)
