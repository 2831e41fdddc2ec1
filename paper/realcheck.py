"""Replay checked against real training: the same suite run with real training and replayed.

Inputs: two results directories, the real-training store (``bench/suites/realcheck.toml``,
``results/realcheck``) and its replayed twin on the recorded curves table
(``results/realcheck-replay``; the README gives the suite text and the commands). Methods are
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
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bench.packing import DB_NAME, PACKED

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
    rows (``final_table``), matched by the stored ``algorithm`` role and B."""
    fr, fp = final_table(real), final_table(replay)
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


def _mwu(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Mann-Whitney U p-value of two samples of final test mIoU (NaN: one is empty)."""
    a, b = a.dropna(), b.dropna()
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue) if len(a) and len(b) else float("nan")


def fidelity(pairs: list[dict]) -> list[dict]:
    """Per method and B: do the real runs' and the replayed runs' final test mIoU come from one
    distribution? Two-sided Mann-Whitney U, real runs against replayed runs (unpaired: a replayed
    seed does not ask what the real seed asked), ``p`` and ``p_holm`` (Holm-corrected over the
    methods of one B). A method without replayed runs is left out."""
    from statsmodels.stats.multitest import multipletests
    out = []
    for p in pairs:
        r, q = p["real"]["test_miou"], p["replay"]["test_miou"] if len(p["replay"]) else pd.Series(dtype=float)
        pval = _mwu(r, q)
        if pval == pval:
            out.append({"label": p["label"], "budget": p["budget"], "p": pval, "real_median": float(r.median()),
                        "replay_median": float(q.median()), "real_n": int(r.notna().sum()),
                        "replay_n": int(q.notna().sum())})
    for b in {f["budget"] for f in out}:  # one family of tests per B: Holm's step-down correction over its methods
        fs = [f for f in out if f["budget"] == b]
        for f, adj in zip(fs, multipletests([f["p"] for f in fs], method="holm")[1]):
            f["p_holm"] = float(adj)
    return out


def table(real: Results, replay: Results, pairs: list[dict]) -> pd.DataFrame:
    rows = []
    for p in pairs:
        r, q = p["real"], p["replay"]
        pval = _mwu(r["test_miou"], q["test_miou"]) if len(q) else float("nan")
        c = replaystats.cell(replay, p["replay_label"], p["budget"]) if p["replay_label"] else {}
        name = p["label"] if p["replay_label"] in (None, p["label"]) else f"{p['label']} (replay: {p['replay_label']})"
        rows.append({"method": name, "B": f"{p['budget']:g}",
                     "real: test mIoU, median [IQR]": _quartiles(r["test_miou"]),
                     "real runs": f"{int(r['test_miou'].notna().sum())}/{len(r)}",
                     "replay: test mIoU, median [IQR]": _quartiles(q["test_miou"]) if len(q) else "not in the replay store",
                     "replay runs": f"{int(q['test_miou'].notna().sum())}/{len(q)}" if len(q) else "0/0",
                     replaystats.ENTRIES: c.get(replaystats.ENTRIES, "—"),
                     replaystats.SHARE: c.get(replaystats.SHARE, "—"),
                     MWU: f"{pval:.2g}" if pval == pval else "—"})
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
            a, c = ps[i]["real"]["test_miou"].dropna(), ps[j]["real"]["test_miou"].dropna()
            pval = float(stats.mannwhitneyu(a, c, alternative="two-sided").pvalue) if len(a) and len(c) else float("nan")
            pair_rows.append({"a": ps[i]["label"], "b": ps[j]["label"], "real_sign": int(sr), "replay_sign": int(sp),
                              "agree": bool(sr == sp), "real_p": pval})
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
    profiles = [str(real.runs["profile"].iloc[0]), str(replay.runs["profile"].iloc[0])]
    kinds = [real.backend, replay.backend]
    stand_in = kinds != ["train", "replay"]
    nums = {"real": str(_short(real_dir)), "replay": str(_short(replay_dir)), "profiles": profiles, "backends": kinds,
            "curves": replay.curves, "ranking": ranking(pairs), "fidelity": fidelity(pairs), "stand_in": stand_in,
            "unmatched": list(dict.fromkeys(p["label"] for p in pairs if p["replay_label"] is None))}
    note = (f" Stand-in inputs: the stores' backends are {kinds[0]} and {kinds[1]}, not real training and replay."
            if stand_in else "")
    note += f" Profiles differ ({profiles[0]} vs {profiles[1]})." if profiles[0] != profiles[1] else ""
    write_table(table(real, replay, pairs), out, "realcheck", (
        f"Real vs replayed training: final test mIoU (Tile 5) of each run's incumbent, median [interquartile range] "
        f"over seeds, per method and B (`{nums['real']}`, {kinds[0]}, profile {profiles[0]}; `{nums['replay']}`, "
        f"{kinds[1]} on `{replay.curves}`). Methods matched by their stored algorithm role (method, parameters, R), not "
        f"by label. runs: with an incumbent / asked. Distinct entries and neighbour share: how the replayed runs were "
        f"answered (medians over seeds). Mann-Whitney p: two-sided U test of the real runs' against the replayed "
        f"runs' final test mIoU of that method and B (unpaired, uncorrected; the text corrects it over the methods "
        f"by Holm).{note}"))
    return nums


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
                "`bench/suites/realcheck.toml` and its replayed twin are run as the README's \"Replay checked against "
                "real training\" says; `make paper` then builds this table.*")
    p = Path(out) / "realcheck.md" if out else None
    parts = [p.read_text() if p and p.is_file() else ""]
    for b, r in sorted(nums["ranking"].items(), key=lambda kv: float(kv[0])):
        agree = sum(x["agree"] for x in r["pairs"])
        sep = [x for x in r["pairs"] if x["real_p"] == x["real_p"] and x["real_p"] < ALPHA]
        sep_agree = sum(x["agree"] for x in sep)
        order_real = " > ".join(m for _, m in sorted(zip(r["real_median"], r["methods"]), key=lambda t: -t[0]))
        order_rep = " > ".join(m for _, m in sorted(zip(r["replay_median"], r["methods"]), key=lambda t: -t[0]))
        seeds = "/".join(map(str, r["real_seeds"]))
        verdict = ("The replay orders the methods as real training does" if agree == len(r["pairs"]) else
                   "The replay does not order the methods as real training does")
        s = (f"B = {b} R: {verdict} (median final test mIoU; real: {order_real}; replay: {order_rep}): Kendall tau = "
             f"{r['kendall_tau']:.2f} (p = {r['kendall_p']:.2g}) over {len(r['methods'])} methods, {agree} of {len(r['pairs'])} pairwise orders agree"
             + (" (" + "; ".join(f"{x['a']} vs {x['b']}" for x in r["pairs"] if not x["agree"]) + " disagree)"
                if agree < len(r["pairs"]) else "")
             + f". With {seeds} real runs per method, real training itself separates {len(sep)} of the "
             f"{len(r['pairs'])} pairs (two-sided Mann-Whitney U, p < {ALPHA})"
             + (f", and the replay keeps the order of {sep_agree} of them" if sep else
                ": the orders of medians are within seed noise, so this check cannot confirm or refute the replay's ranking")
             + ".")
        parts.append(s)
    for b in sorted({f["budget"] for f in nums.get("fidelity", [])}):
        fs = [f for f in nums["fidelity"] if f["budget"] == b]
        differ = [f for f in fs if f["p_holm"] < ALPHA]
        same = [f for f in fs if f["p_holm"] >= ALPHA]
        s = (f"B = {b:g} R, each method's real runs against its replayed runs (final test mIoU, two-sided "
             f"Mann-Whitney U, Holm-corrected over the {len(fs)} methods, p < {ALPHA}): ")
        if differ:
            s += ("the replay's distribution differs from real training for " + "; ".join(
                f"{f['label']} (median {f['real_median']:.3f} real, {f['replay_median']:.3f} replayed, "
                f"p = {f['p']:.2g}, Holm {f['p_holm']:.2g})" for f in differ))
            s += (", and no difference is detected for " + ", ".join(f["label"] for f in same)) if same else ""
        else:
            s += "no method's replayed distribution differs detectably from its real one"
        n = sorted({(f["real_n"], f["replay_n"]) for f in fs})
        s += (" (" + ", ".join(f"{a} real vs {c} replayed runs" for a, c in n) + "; with this few runs only large "
              "shifts are detectable, so \"no difference detected\" is not evidence of fidelity).")
        parts.append(s)
    if nums.get("unmatched"):
        parts.append("Not in the replay store: " + ", ".join(f"`{m}`" for m in nums["unmatched"]) + ".")
    if nums.get("stand_in"):
        parts.append(f"*(Stand-in inputs: backends {nums['backends'][0]} and {nums['backends'][1]}.)*")
    return "\n\n".join(x for x in parts if x)
