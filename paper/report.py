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

from methods.brackets import hyperband_brackets, plan_summary

from . import gpu
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


def values(numbers: dict, out: Path) -> _Values:
    v = _Values()
    v["brackets_cpu"] = _brackets_table(27, 3)
    v["brackets_gpu"] = _brackets_table(81, 3)
    v["gpu_check"] = gpu.section(numbers.get("gpu_check"), out)
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
            v[f"{key}_time"] = _fmt_seconds(c["recording_seconds"])
            v[f"{key}_device"] = ", ".join(c["recording_device"])
            v[f"{key}_epoch_seconds"] = f"{c['epoch_seconds_median']:.2f} s"
        v[f"{key}_figure"] = f"![Recorded learning curves](curves_{name}.png)"
    for name, r in numbers.get("results", {}).items():
        key = name.replace("-", "_")
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
        for stem in ("final", "speedup", "coverage", "nvsbn", "per_class", "speed"):
            f = out / f"{stem}_{name}.md"
            if f.is_file():
                v[f"{key}_{stem}_table"] = f.read_text()
        for stem in ("anytime_epochs", "anytime_seconds", "nvsbn", "brackets", "tile5", "incumbent_losses",
                     "per_class"):
            if (out / f"{stem}_{name}.png").is_file():
                v[f"{key}_{stem}_figure"] = f"![{stem} ({name})]({stem}_{name}.png)"
        if r.get("best_by_budget"):
            v[f"{key}_findings"] = "\n".join(
                f"- B = {b}: best mean test mIoU `{w['test']}` ({w['test_miou']:.3f}); "
                f"best mean validation mIoU `{w['val']}` ({w['val_miou']:.3f})."
                for b, w in sorted(r["best_by_budget"].items(), key=lambda kv: float(kv[0])))
        if "nvsbn_winners" in r:
            v[f"{key}_winners"] = "; ".join(
                f"B = {b}: n = {', '.join(map(str, ns))}{' (tied)' if len(ns) > 1 else ''}"
                for b, ns in sorted(r["nvsbn_winners"].items(), key=lambda kv: float(kv[0])))
        if "hb_test_miou" in r:
            v[f"{key}_hb_test_miou"] = f"{r['hb_test_miou']:.3f}"
    return v


def render(numbers: dict, out: Path) -> Path:
    text = Template(TEMPLATE.read_text()).substitute(values(numbers, out))
    dest = Path(out) / "paper.md"
    dest.write_text(text)
    return dest


if __name__ == "__main__":
    import sys
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "paper/build")
    print(render(json.loads((out / "numbers.json").read_text()), out))
