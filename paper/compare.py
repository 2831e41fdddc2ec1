"""A suite's methods against a reference store's (``python -m bench compare``): the paper's statistics on the
final validation regret of the incumbent, one comparison per (B, new method column, reference column).

For each comparison (the statistics of ``paper.findings``): the IQM difference of validation regret over seeds
[95% percentile bootstrap CI, ``stats.iqm_difference_ci``], the IQM difference of the incumbents' test mIoU, a
two-sided Mann-Whitney U test over the seeds, and Holm's correction over every comparison of the report that was
answered alike (both sides' runs replayed the table's own configurations, neighbour share 0, or both went through
the nearest-neighbour map). A comparison answered differently keeps its IQM difference and CI as a description and
is not tested. Regret is against the best seed mean at R of the reference's table (``stats.table_best``), scored
as the paper scores replayed incumbents. Columns merge labels that are the same algorithm in a cell
(``stats.columns``); the reference column holding random search is named as such.

``compute`` is pure (frames in, frame out); ``render`` writes compare.md, compare.csv and compare.png.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import findings
from . import stats as st
from .data import Results

ALPHA = findings.ALPHA
COLUMNS = ["B", "method", "reference", "reference_is_random", "answering", "reference_answering", "runs",
           "reference_runs", "like_for_like", "iqm_diff", "lo", "hi", "test_miou_diff", "p", "p_holm", "verdict"]


def _cells(res: Results, fin: pd.DataFrame, b: float) -> list[tuple[str, pd.DataFrame, str, bool]]:
    """(column name, its rows at B, answering, holds random search) per distinct algorithm at B."""
    fb = fin[fin["budget"] == b]
    out = []
    for col, labels in st.columns(fb, res.methods()).items():
        g = fb[fb["label"] == labels[0]]
        out.append((col, g, findings.answering(res, labels[0], b),
                    str(g["algorithm"].iloc[0]).startswith("random-search R=")))
    return out


def compute(ref: Results, new: Results, best: dict) -> pd.DataFrame:
    """One row per (B, new column, reference column) on the reference's budgets (``COLUMNS``)."""
    fin_ref, fin_new = st.final_regret(ref, best), st.final_regret(new, best)
    rows = []
    for b in ref.budgets():
        refs = _cells(ref, fin_ref, b)
        for col, g, mode, _ in _cells(new, fin_new, b):
            v, t = g["val_regret"].dropna().to_numpy(), g["test_miou"].dropna().to_numpy()
            for rcol, base, rmode, is_random in refs:
                r, rt = base["val_regret"].dropna().to_numpy(), base["test_miou"].dropna().to_numpy()
                d, lo, hi = st.iqm_difference_ci(v, r)
                like = mode == rmode and mode != "unknown"
                p = (float(stats.mannwhitneyu(v, r, alternative="two-sided").pvalue)
                     if like and len(v) and len(r) else np.nan)
                rows.append({"B": float(b), "method": col, "reference": rcol, "reference_is_random": is_random,
                             "answering": mode, "reference_answering": rmode, "runs": len(v),
                             "reference_runs": len(r), "like_for_like": like, "iqm_diff": d, "lo": lo, "hi": hi,
                             "test_miou_diff": st.iqm_difference_ci(t, rt)[0], "p": p})
    df = pd.DataFrame(rows, columns=COLUMNS[:-2])
    df["p_holm"] = np.nan
    tested = df["like_for_like"].astype(bool) & df["p"].notna()
    if tested.any():
        from statsmodels.stats.multitest import multipletests
        df.loc[tested, "p_holm"] = multipletests(df.loc[tested, "p"].to_numpy(dtype=float), method="holm")[1]
    df["verdict"] = [("not tested (answered differently)" if not lf else
                      ("lower regret" if d < 0 else "higher regret") if ph == ph and ph < ALPHA
                      else "indistinguishable")
                     for lf, d, ph in zip(df["like_for_like"], df["iqm_diff"], df["p_holm"])]
    return df


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as a printable table."""
    def ci(r):
        if r["iqm_diff"] != r["iqm_diff"]:
            return "—"
        return (f"{r['iqm_diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]" if r["lo"] == r["lo"]
                else f"{r['iqm_diff']:+.4f} (too few runs for a CI)")
    return pd.DataFrame({
        "B": [f"{b:g}" for b in df["B"]], "method": df["method"],
        "against": [f"{c} (random search)" if rnd else c for c, rnd in zip(df["reference"], df["reference_is_random"])],
        "answered (method / reference)": [f"{a} / {b}" for a, b in zip(df["answering"], df["reference_answering"])],
        "runs": [f"{a} / {b}" for a, b in zip(df["runs"], df["reference_runs"])],
        "IQM regret difference [95% CI]": [ci(r) for _, r in df.iterrows()],
        "test mIoU difference (IQM)": [f"{x:+.4f}" if x == x else "—" for x in df["test_miou_diff"]],
        "p (Mann-Whitney)": [f"{p:.3g}" if p == p else "—" for p in df["p"]],
        "p (Holm)": [f"{p:.3g}" if p == p else "—" for p in df["p_holm"]],
        "verdict": df["verdict"]})


def sentences(df: pd.DataFrame) -> str:
    """Per new method and B: how it stands against random search, then every difference Holm keeps."""
    lines = []
    for (method, b), g in df.groupby(["method", "B"], sort=False):
        rnd = g[g["reference_is_random"]]
        if rnd.empty:
            lines.append(f"- `{method}` at B = {b:g} R: the reference has no random-search column at this budget.")
            continue
        r = rnd.iloc[0]
        ci = f"{r['iqm_diff']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}]" if r["lo"] == r["lo"] else f"{r['iqm_diff']:+.4f}"
        if not r["like_for_like"]:
            lines.append(f"- `{method}` at B = {b:g} R against random search (`{r['reference']}`): IQM regret difference "
                         f"{ci}, not tested: the method was answered by {r['answering']}, random search by "
                         f"{r['reference_answering']}.")
            continue
        what = {"lower regret": "lower regret than", "higher regret": "higher regret than"}.get(
            r["verdict"], "indistinguishable from")
        lines.append(f"- `{method}` at B = {b:g} R: {what} random search (`{r['reference']}`): IQM regret difference "
                     f"{ci}, Holm-corrected p = {r['p_holm']:.3g}; test mIoU {r['test_miou_diff']:+.4f}.")
    tested = df[df["like_for_like"].astype(bool)]
    found = tested[tested["verdict"].isin(["lower regret", "higher regret"])]
    lines.append(f"- Of {len(tested)} comparisons answered alike (Holm's family), {len(found)} differ at corrected "
                 f"p < {ALPHA}: " + ("; ".join(f"`{r['method']}` {r['verdict']} than `{r['reference']}` at B = "
                                              f"{r['B']:g} R ({r['iqm_diff']:+.4f})" for _, r in found.iterrows())
                                    if len(found) else "none") + f". {len(df) - len(tested)} were answered differently "
                 "and are not tested.")
    return "\n".join(lines)


def render(ref: Results, new: Results, best: dict, df: pd.DataFrame, out: Path, grid: dict,
           suite_path: str | Path) -> Path:
    """Write ``compare.md`` (grid, IQM table, comparisons, sentences), ``compare.csv`` (the rows of ``compute``)
    and ``compare.png`` (IQM regret with CIs per column and B) under ``out``."""
    import matplotlib.pyplot as plt

    from . import figures
    from .style import save, setup
    from .tables import to_markdown
    out = Path(out)
    setup()
    fin = pd.concat([st.final_regret(ref, best), st.final_regret(new, best)], ignore_index=True)
    order = ref.methods() + new.methods()
    budgets = ref.budgets()
    iqm = st.iqm_table(fin, order, budgets, "val_regret")
    new_labels = set(new.methods())
    iqm.insert(1, "from", ["compared" if set(m.split(" = ")) <= new_labels else
                           "reference" if not set(m.split(" = ")) & new_labels else "both" for m in iqm["method"]])
    df.to_csv(out / "compare.csv", index=False, lineterminator="\n")
    points = []
    for b in budgets:
        for col, labels in st.columns(fin[fin["budget"] == b], order).items():
            g = fin[(fin["budget"] == b) & (fin["label"] == labels[0])]
            p, lo, hi = st.iqm_ci([g["val_regret"].dropna().to_numpy()])
            points.append({"label": col, "budget": b, "iqm": p, "lo": lo, "hi": hi})
    points = pd.DataFrame(points)
    names = list(dict.fromkeys(points["label"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) * len(budgets)), 4.2), layout="constrained")
    figures.plot_iqm(points, ax, names, "validation regret (IQM over seeds)")
    fig.suptitle(f"{Path(suite_path).name} against {ref.path}: IQM of the incumbent's validation regret and 95% "
                 "bootstrap CI over seeds (lower is better)")
    save(fig, out, "compare")
    wall = float(new.runs["wall_seconds"].fillna(0).sum())
    grid_lines = "\n".join(f"- `{k}`: {v!r}" for k, v in grid.items() if k not in ("labels",))
    text = (f"# {Path(suite_path).name} compared with `{ref.path}`\n\n"
            f"The methods of `{suite_path}` ({', '.join(f'`{m}`' for m in new.methods())}; {len(new.runs)} runs in "
            f"`{new.path}`, {wall:.1f} s of wall time summed over runs) replayed on the grid of the reference store "
            f"`{ref.path}` ({', '.join(f'`{m}`' for m in ref.methods())}; {len(ref.runs)} runs), read from what its "
            f"runs recorded:\n\n{grid_lines}\n\n"
            f"Regret: the incumbent's objective ({'validation cross-entropy' if ref.objective == 'val_loss' else '1 - validation mIoU'}) "
            f"minus the best seed mean at R = {best['R']} in `{best['path']}` ({best['val']:.4f}), over "
            f"{best['configs']} recorded configurations.\n\n"
            "## Against random search\n\n" + sentences(df) + "\n\n"
            "## Validation regret, IQM over seeds [95% bootstrap CI]\n\n" + to_markdown(iqm) + "\n"
            "Labels that are the same algorithm in a cell are one row, named together; the last column pools the "
            "budgets, stratified by budget.\n\n![IQM regret](compare.png)\n\n"
            "## Every comparison\n\n" + to_markdown(table(df)) + "\n"
            "IQM difference: method minus reference (negative: the method's incumbents have lower regret), 95% "
            "percentile bootstrap CI over both sets of seeds; two-sided Mann-Whitney U over the seeds; Holm's "
            "correction over every comparison answered alike (table: neighbour share 0; neighbour: through the "
            "nearest-neighbour map). Comparisons answered differently are described, not tested.\n")
    dest = out / "compare.md"
    dest.write_text(text)
    return dest


def report(reference: str | Path, results: str | Path, grid: dict, suite_path: str | Path,
           out: str | Path | None = None) -> Path:
    """Load both stores, compute and render into ``out`` (default: the compared store's folder)."""
    from .data import load
    ref, new = load(reference), load(results)
    best = st.table_best(ref.curves, ref.objective)
    df = compute(ref, new, best)
    return render(ref, new, best, df, Path(out or results), grid, suite_path)
