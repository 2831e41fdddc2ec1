"""Rendering ``paper/paper.md`` (a template) into ``<out>/paper.md``.

Every number in the text comes from ``numbers.json`` (written by the build from the
stored results) or from the generated tables, included verbatim; nothing is typed
by hand. A piece whose results do not exist yet renders as a visible
"not available" note instead of a number.
"""
from __future__ import annotations

import json
from pathlib import Path
from string import Template

import pandas as pd

from methods.brackets import hyperband_brackets, plan_summary

from . import fidelity, findings, gpu, ladder, landscape, realcheck, replaystats
from .tables import to_markdown

TEMPLATE = Path(__file__).with_name("paper.md")


class _Values(dict):
    def __missing__(self, key):
        return f"*(not available: `{key}` needs results that have not been produced yet)*"


def _fmt_seconds(s: float) -> str:
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def _brackets_table(R: int, eta: int) -> str:
    import pandas as pd
    p = plan_summary(hyperband_brackets(R, eta))
    rows = [{"s": b["s"], "rungs (n_i × r_i epochs)": "  ".join(f"{g['n']}×{g['r']}" for g in b["rungs"])}
            for b in p["brackets"]]
    return (to_markdown(pd.DataFrame(rows)) + f"\nOne iteration: {p['n_configs']} configurations, "
            f"{p['cost_restart']} epochs if every promotion restarts, {p['cost_resume']} with checkpoint reuse.\n")


def _ci(d: float, lo: float, hi: float) -> str:
    return f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" if lo == lo else f"{d:+.4f} (too few runs for a CI)"


def _finding(b: str, f: dict) -> str:
    """One per-budget bullet: the effect size against random search with its CI, and what it says."""
    if f.get("random") is None:
        return f"- B = {b}: lowest IQM validation regret `{f['best']}` ({f['best_iqm']:.4f}); no random-search column."
    if f["best"] == f["random"]:
        return (f"- B = {b}: random search (`{f['random']}`) has the lowest IQM validation regret ({f['best_iqm']:.4f}) "
                f"of {f['columns']} distinct methods.")
    parts = []
    for split, name in (("val", "validation"), ("test", "test")):
        lo, hi = f[f"{split}_lo"], f[f"{split}_hi"]
        verdict = ("indistinguishable from random search" if not (lo == lo) or lo <= 0 <= hi
                   else "better than random search" if hi < 0 else "worse than random search")
        parts.append(f"{name} regret {_ci(f[f'{split}_diff'], lo, hi)}: {verdict}")
    return (f"- B = {b}: lowest IQM validation regret of {f['columns']} distinct methods: `{f['best']}` "
            f"({f['best_iqm']:.4f}). IQM difference to random search (`{f['random']}`), 95% bootstrap CI: "
            + "; ".join(parts) + ".")


def _threats(name: str, r: dict, curves: dict) -> str:
    """The threats-to-validity bullets of one sweep, from its numbers."""
    s = r.get("statistics", {})
    best = s.get("table_best", {})
    lines = []
    if best:
        lines.append(f"- **Table size.** Every tuner of `{name}` is answered from {best['configs']} recorded "
                     f"configurations (`{best['path']}`); regret is measured against the best of them at R, "
                     "not against the best configuration of the search space.")
    if "neighbour_share" in r:
        lines.append(f"- **Neighbours.** {r['neighbour_share']:.0%} of the configurations the tuners sampled are not "
                     "in the table and were answered with the curve of their nearest recorded neighbour, so "
                     "model-based tuners are answered at the neighbour, not at the point they chose.")
    rs = r.get("replay_stats") or {}
    if rs.get("runs_with_values"):
        lines.append(f"- **Entries drawn.** As the runs stored it ({rs['runs_with_values']} of {rs['runs']} runs): a "
                     f"median of {rs['entries_median']:g} distinct recorded configurations answered a run, and a median "
                     f"{rs['neighbour_share_median']:.0%} of a run's asks were answered by a neighbour (per method and "
                     f"B: the table beside the final results).")
    elif rs:
        lines.append(f"- **Entries drawn.** Not stored: `{name}` was made before runs stored their distinct entries "
                     "and neighbour shares (n/a in its tables).")
    f = s.get("findings", {})
    if f:
        widths = [x["val_hi"] - x["val_lo"] for x in f.values() if x.get("val_lo") == x.get("val_lo")
                  and "val_lo" in x]
        covers = [b for b, x in f.items() if "val_lo" in x and x["val_lo"] <= 0 <= x["val_hi"]]
        lines.append(f"- **Seed noise.** {r['seeds']} seeds per cell; the 95% CI of the best method's IQM difference "
                     f"to random search is up to {max(widths):.4f} wide" if widths else
                     f"- **Seed noise.** {r['seeds']} seeds per cell")
        lines[-1] += (f" and covers zero at B = {', '.join(covers)}." if covers else
                      "; at no budget does it cover zero." if widths else ".")
    if s.get("wasted_max"):
        worst = ", ".join(f"B = {b}: {w:.0%} (`{s['wasted_worst'][b]}`)" for b, w in
                          sorted(s["wasted_max"].items(), key=lambda kv: float(kv[0])))
        lines.append(f"- **Wasted budget.** The largest mean share of B spent in brackets that never reached R: "
                     f"{worst}; {s.get('incumbents_below_R', 0)} runs ended with an incumbent below R.")
    cd = s.get("critical_difference", {})
    if cd:
        lines.append("- **Multiple comparisons.** Friedman p-values per budget over the distinct methods "
                     "(identical algorithms merged; the seeds of one budget are the blocks, since a seed's runs at "
                     "different budgets share its random stream): "
                     + ", ".join(f"B = {b}: {c['pvalue']:.3g} ({len(c['methods'])} methods)" for b, c in
                                 sorted(cd.items(), key=lambda kv: float(kv[0]))) + ".")
    return "\n".join(lines)


def _pct(t) -> str:
    """An IQM share with its CI, as percentages: (point, lo, hi)."""
    p, lo, hi = t
    return f"{p:.0%} [{lo:.0%}, {hi:.0%}]" if lo == lo else f"{p:.0%}"


def _pp(t) -> str:
    """An IQM difference of shares with its CI, in percentage points."""
    d, lo, hi = t
    return f"{100 * d:+.0f} pp [{100 * lo:+.0f}, {100 * hi:+.0f}]" if lo == lo else f"{100 * d:+.0f} pp"


def _verdict(t, what: str) -> str:
    d, lo, hi = t
    if not lo == lo or lo <= 0 <= hi:
        return f"indistinguishable in {what}"
    return f"{'higher' if lo > 0 else 'lower'} {what}"


def workers_findings(name: str, w: dict) -> str:
    """The generated text of the workers study (one store), from ``numbers.json``."""
    ws = w["workers_study"]
    f = ws["findings"]
    busy = 0.8
    lines = []
    cells = {k: c for k, c in f.items() if k != "same_at_every_n"}
    for key, cell in sorted(cells.items(), key=lambda kv: (kv[1]["budget"], kv[1]["workers"])):
        n, b = cell["workers"], cell["budget"]
        if n == 1:
            continue
        ranked = sorted(cell["columns"].items(), key=lambda kv: -kv[1]["share"][0])
        keep = [m for m, c in ranked if c["share"][0] >= busy]
        lines.append(f"- **N = {n}, B = {b:g} R.** Utilisation, IQM over seeds [95% CI]: "
                     + "; ".join(f"`{m}` {_pct(c['share'])} ({c['epochs_per_job']:.1f} epochs per job)"
                                 for m, c in ranked) + ". "
                     + (f"At or above {busy:.0%}: {', '.join(f'`{m}`' for m in keep)}."
                        if keep else f"No method keeps its workers {busy:.0%} busy."))
        for pair, v in cell["sync_vs_async"].items():
            s, a = pair.split(" - ")
            lines.append(f"  - `{s}` against `{a}`: utilisation {_pp(v['share'])} "
                         f"({_verdict(v['share'], 'utilisation')}); "
                         f"median makespan {v['makespan_ratio']:.2f}× `{a}`'s; final validation regret "
                         f"{_ci(*v['val_regret'])} ({_verdict(v['val_regret'], 'regret')}).")
    same = f.get("same_at_every_n", {})
    if any(same.values()):
        lines.append("\nEvery seed's final incumbent is the same at every N for "
                     + "; ".join(f"B = {b}: {', '.join(f'`{m}`' for m in ms) or 'no method'}"
                                 for b, ms in sorted(same.items(), key=lambda kv: float(kv[0])))
                     + ", as expected of methods whose asks do not depend on the order in which answers come "
                       "(synchronous rungs, random search): more workers change only when they finish. The "
                       "asynchronous methods and the model-based tuners decide on what has finished so far, so "
                       "their results change with N.")
    best = ws["table_best"]
    curves = w.get("curves") or best["path"]
    per = ws["curves_per_config"]
    lines.append(
        f"\nEvery run here is replayed from one recording, `{curves}`: {best['configs']} configurations, "
        f"{per} learning curve{'s' if per > 1 else ''} (training seed{'s' if per > 1 else ''}) each. A job's "
        "duration is its configuration's recorded epoch seconds times its epochs, the same in every replay, so "
        "the study has no straggler noise: a real cluster's run-to-run variation in trial time would make "
        "synchronous Hyperband wait longer at each rung, so its idle share here is a lower bound. The seeds "
        f"({ws['seeds']} per cell) vary the tuners only; the spread and CIs are over tuner seeds, not over "
        "training noise, and regret is measured against the best of the recorded configurations.")
    return "\n".join(lines)


def _hyperband_plan(numbers: dict, profile: str):
    """(R, eta) of the Hyperband runs of the first store on ``profile``, from the store's roles."""
    for r in numbers.get("results", {}).values():
        if r.get("profile") == profile and r.get("hyperband_eta"):
            return r["R"], r["hyperband_eta"]
    return None


def values(numbers: dict, out: Path) -> _Values:
    v = _Values()
    from segmentation.profiles import get_profile
    for profile in ("cpu", "gpu"):
        plan = _hyperband_plan(numbers, profile) or (get_profile(profile).max_epochs, _default_eta())
        v[f"brackets_{profile}"] = _brackets_table(*plan)
        v[f"brackets_{profile}_R"], v[f"brackets_{profile}_eta"] = str(plan[0]), str(plan[1])
    v["gpu_check"] = gpu.section(numbers.get("gpu_check"), out)
    v["landscape"] = landscape.text(numbers.get("landscape"), out)
    v["realcheck"] = realcheck.text(numbers.get("realcheck"), out)
    v["fidelity"] = fidelity.text(numbers.get("fidelity"), out)
    v["ladder"] = ladder.text(numbers.get("ladder"), out)
    v["title"] = title(numbers.get("methods_held", []))
    fam = numbers.get("findings")
    v["findings"] = findings.text(pd.DataFrame(fam) if fam else None) + (
        "\n\n" + (Path(out) / "findings.md").read_text() if (Path(out) / "findings.md").is_file() else "")
    if (Path(out) / "leave_out.md").is_file():
        v["findings"] += ("\n\n**Leave-top-k-out** (robustness to the table): the same comparisons on the table without "
                          "its k best configurations (k = 1, 3), regret against the best configuration that remains.\n\n"
                          + (Path(out) / "leave_out.md").read_text())
    if (Path(out) / "hits.md").is_file():
        v["findings"] += "\n\n" + (Path(out) / "hits.md").read_text()
    for name, c in numbers.get("curves", {}).items():
        key = name.replace("-", "_")
        q = c["final_val_miou"]
        v[f"{key}_configs"] = str(c["configs"])
        v[f"{key}_R"] = str(c["R"])
        v[f"{key}_spread"] = (f"{q['min']:.3f} (worst), {q['q25']:.3f} / {q['median']:.3f} / {q['q75']:.3f} "
                              f"(quartiles), {q['max']:.3f} (best)")
        rho = c.get("spearman_val_loss_vs_final", {})
        v[f"{key}_rho1"] = f"{rho.get('1', rho.get(1, float('nan'))):.2f}"
        v[f"{key}_rho_all"] = ", ".join(f"epoch {e}: {r:.2f}" for e, r in sorted(rho.items(), key=lambda kv: int(kv[0])))
        if "final_by_training_loss" in c:
            v[f"{key}_by_loss"] = "; ".join(
                f"{k}: {g['configs']} configurations, median validation cross-entropy {g['val_loss_median']:.3f}, "
                f"median validation mIoU {g['val_miou_median']:.3f}" for k, g in c["final_by_training_loss"].items())
        v[f"{key}_rho_loss_miou"] = f"{c['spearman_final_val_loss_vs_val_miou']:.2f}"
        if "spearman_final_val_miou_vs_test_miou" in c:
            v[f"{key}_rho_val_test"] = f"{c['spearman_final_val_miou_vs_test_miou']:.2f}"
        if "recording_seconds" in c:
            procs = c.get("recording_processes", 1)
            part = ("" if c.get("recording_cpu_epochs") == c.get("recording_epochs") else
                    f" over the {c.get('recording_cpu_epochs')} of {c.get('recording_epochs')} epochs that measured it")
            v[f"{key}_time"] = (f"{_fmt_seconds(c['recording_cpu_seconds'])} of CPU time (the trained epochs' "
                                f"summed CPU seconds of training and validation{part}, the per-epoch test "
                                f"evaluation not counted; {_fmt_seconds(c['recording_seconds'])} of wall time summed over "
                                f"{procs} recording process{'es' if procs > 1 else ''}, pauses included)"
                                if "recording_cpu_seconds" in c else _fmt_seconds(c["recording_seconds"]))
            v[f"{key}_device"] = ", ".join(c["recording_device"])
            v[f"{key}_epoch_seconds"] = (f"{c['epoch_seconds_median']:.2f} s"
                                         + (" of CPU time per epoch, the replay's clock"
                                            if c.get("epoch_seconds_kind") == "CPU" else " per epoch"))
        why = "; ".join(c.get("recording_incomplete_because") or [])
        v[f"{key}_partial"] = ("" if c.get("recording_complete", True) else
                               f" **This table is a partial recording:** it was exported before its recording was "
                               f"whole (`bench export-curves --partial`{': ' + why if why else ''}), so it holds "
                               f"only the {c.get('recording_curves') or '?'} curves that had ended by then; the "
                               f"configurations counted here are those with every training seed among them.")
        v[f"{key}_figure"] = f"![Recorded learning curves](curves_{name}.png)"
    v.update(table_values(numbers, v))
    studies = numbers.get("workers", {})
    for name, w in studies.items():
        key = w.get("section")  # the section the store's content fills (paper.sections), never its folder's name
        ws = w.get("workers_study")
        if not ws or not key:
            continue
        v[f"{key}_source"] = (f"`results/{name}/` (replayed learning curves, {w['runs']} runs: "
                              f"{len(w['methods'])} methods × {len(w['budgets'])} budgets × "
                              f"{len(ws['worker_counts'])} worker counts × {ws['seeds']} seeds)")
        v[f"{key}_counts"] = ", ".join(str(n) for n in ws["worker_counts"])
        v[f"{key}_budgets"] = ", ".join(f"{b:g}" for b in w["budgets"])
        v[f"{key}_methods"] = ", ".join(f"`{m}`" for m in w["methods"])
        v[f"{key}_time"] = (f"{_fmt_seconds(w['wall_seconds'])} of wall time, of which the tuners' own decisions "
                            f"{_fmt_seconds(w['tuner_seconds'])}")
        v[f"{key}_findings"] = workers_findings(name, w)
        for stem in ("workers_utilisation", "workers_makespan", "workers_regret"):
            f = out / f"{stem}_{name}.md"
            if f.is_file():
                v[f"{key}_{stem}_table"] = f.read_text()
        if (out / f"workers_anytime_{name}.png").is_file():
            v[f"{key}_workers_anytime_figure"] = f"![workers study ({name})](workers_anytime_{name}.png)"
    for name, r in numbers.get("results", {}).items():
        key = r.get("section")  # the section the store's content fills (paper.sections), never its folder's name
        if not key:
            continue  # its own tables and figures, the Findings and the fidelity pairing still read it
        kind = "replayed learning curves" if r["backend"] == "replay" else "real training"
        v[f"{key}_source"] = f"`results/{name}/` ({kind}, {r['runs']} runs, {r['seeds']} seeds per cell)"
        v[f"{key}_budgets"] = ", ".join(f"{b:g}" for b in r["budgets"])
        v[f"{key}_R"] = str(r["R"])
        v[f"{key}_methods"] = ", ".join(f"`{m}`" for m in r["methods"])
        v[f"{key}_time"] = (f"{_fmt_seconds(r['wall_seconds'])} of wall time; training and evaluation "
                            f"{_fmt_seconds(r['eval_seconds'])}{' (simulated)' if r['backend'] == 'replay' else ''}, "
                            f"tuners' own decisions {_fmt_seconds(r['tuner_seconds'])}")
        v[f"{key}_devices"] = ", ".join(r["devices"])
        v[f"{key}_commits"] = ", ".join(f"`{c[:12]}`" for c in r["commits"])
        v[f"{key}_versions"] = ", ".join(f"{k} {val}" for k, val in sorted(r["versions"].items()) if val)
        v[f"{key}_missing"] = str(r["missing_or_failed"])
        v[f"{key}_replay_table"] = replaystats.section(r, out, name)
        for stem in ("final", "speedup", "coverage", "nvsbn", "per_class", "speed", "iqm", "regret", "wasted"):
            f = out / f"{stem}_{name}.md"
            if f.is_file():
                v[f"{key}_{stem}_table"] = f.read_text()
        for stem in ("anytime_epochs", "anytime_seconds", "nvsbn", "brackets", "tile5", "incumbent_losses",
                     "per_class", "iqm", "cd", "regret_dist"):
            if (out / f"{stem}_{name}.png").is_file():
                v[f"{key}_{stem}_figure"] = f"![{stem} ({name})]({stem}_{name}.png)"
        f = r.get("statistics", {}).get("findings")
        if f:
            v[f"{key}_findings"] = "\n".join(_finding(b, x) for b, x in sorted(f.items(), key=lambda kv: float(kv[0])))
        if r.get("statistics"):
            v[f"{key}_threats"] = _threats(name, r, numbers.get("curves", {}))
        if "nvsbn_winners" in r:
            v[f"{key}_winners"] = "; ".join(
                f"B = {b}: n = {', '.join(map(str, ns))}{' (tied)' if len(ns) > 1 else ''}"
                for b, ns in sorted(r["nvsbn_winners"].items(), key=lambda kv: float(kv[0])))
        if "hb_test_miou" in r:
            v[f"{key}_hb_test_miou"] = f"{r['hb_test_miou']:.3f}"
    return v


def replayed_table(numbers: dict) -> str | None:
    """The path of the curves table the n vs B/n sweep replays (the store filling section ``nvsbn`` first, then
    any replayed sweep), as its store records it; None when no replayed sweep has statistics."""
    results = numbers.get("results", {})
    for name in [n for n, r in results.items() if r.get("section") == "nvsbn"] + sorted(results):
        path = results.get(name, {}).get("statistics", {}).get("table_best", {}).get("path")
        if path:
            return path
    return None


def table_values(numbers: dict, v: dict) -> dict:
    """``table_*``: the values of the curves table the sweeps replay (``replayed_table``), so that the
    paper's section on the recorded curves follows whichever table the committed sweeps were run on."""
    tables = numbers.get("curves", {})
    path = replayed_table(numbers)
    if path is None and len(tables) == 1:  # no sweep: the one table
        path = f"results/curves/{next(iter(tables))}.csv"
    stem = Path(path).stem if path else None
    c = tables.get(stem) if stem else None
    if c is None:
        return {}
    key = stem.replace("-", "_")
    out = {f"table_{k[len(key) + 1:]}": val for k, val in v.items() if k.startswith(key + "_")}
    seeds = int(c.get("train_seeds", 1))
    out["table_name"] = f"`{path}`"
    out["table_seeds"] = ("one training seed each" if seeds == 1 else
                          f"{seeds} training seeds each (spread and rank correlations below use each "
                          f"configuration's mean over its seeds)")
    out["table_scoring"] = ("" if seeds == 1 else
                            f" The table has {seeds} training seeds per configuration. A tuner is told the value of the "
                            "one seed its trial drew, but an incumbent is scored by its configuration's mean over its "
                            f"recorded seeds at its resource ({seeds}, fewer where a seed's curve failed before that "
                            "epoch; how NAS-Bench-201 scores a chosen architecture), against the best seed mean at R: "
                            "regret then measures the tuner's choice, not the luck of one draw, and cannot go below "
                            "zero at R. Every figure and table of a store replayed on a table with seeds says so in "
                            "its caption; the table of final regret gives the drawn seed's regret beside it, and only "
                            "the real-vs-replay check keeps the drawn seed (like for like with a real run's one "
                            "trained model).")
    if seeds == 1:
        out["table_threat_seeds"] = (
            "- **One recording seed.** Each configuration was trained once; seed-to-seed noise of the same "
            "configuration is not in the table, which favours methods that rely on a single evaluation.")
    else:
        out["table_threat_seeds"] = (
            f"- **{seeds} recording seeds.** Each configuration was trained with {seeds} training seeds; a replayed "
            "trial draws one of them from its run seed and keeps it through its promotions, so a replayed run "
            f"meets training noise, but only {seeds} draws of it per configuration: a configuration asked in many "
            f"runs repeats its {seeds} curves, where real training would give a new curve every time.")
    out["table_threat_seeds"] += (
        f" The table is finite ({v.get(key + '_configs', '?')} configurations): a run that draws a large share of it "
        "(Hyperband's most exploratory bracket, for one) meets the same best configurations as "
        "other seeds do, so the replayed spread of final results over seeds can understate the real one; the distinct "
        "entries printed beside every replayed result say how much of the table each run drew.")
    return out


def _default_eta() -> int:
    import inspect

    from methods.hyperband import Hyperband
    return int(inspect.signature(Hyperband).parameters["eta"].default)


# How the title names a registered method (methods sharing a name are named once, in this order).
TITLE_NAMES = {"hyperband": "Hyperband", "hyperband-bracket": "successive halving",
               "successive-halving": "successive halving", "asha": "ASHA", "async-hyperband": "asynchronous Hyperband",
               "random-search": "random search", "smac-bo": "SMAC", "smac-hb": "SMAC", "skopt-gp": "scikit-optimize",
               "dehb": "DEHB", "optuna-tpe-hb": "Optuna", "optuna": "Optuna"}


def title(methods: list[str]) -> str:
    """The paper's title, naming every method the stores hold (a method not in ``TITLE_NAMES`` by its name)."""
    names = list(dict.fromkeys(TITLE_NAMES.get(m, m) for m in sorted(methods, key=lambda m: (
        list(TITLE_NAMES).index(m) if m in TITLE_NAMES else len(TITLE_NAMES), m))))
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else "tuners"
    return f"Which tuner for expensive trials? {listed[0].upper() + listed[1:]} on U-Net segmentation of aerial imagery"


def render(numbers: dict, out: Path) -> Path:
    text = Template(TEMPLATE.read_text()).substitute(values(numbers, out))
    dest = Path(out) / "paper.md"
    dest.write_text(text)
    return dest


if __name__ == "__main__":
    import sys
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "paper/build")
    print(render(json.loads((out / "numbers.json").read_text()), out))
