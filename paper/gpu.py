"""The GPU check in the paper: tables from ``results/gpu-check/*.json`` (written by ``python -m bench gpu-check``).

``summary(folder, out)`` reads every check JSON in ``folder``, writes ``gpu_check_throughput`` and
``gpu_check_proxy`` tables (Markdown, CSV, LaTeX) under ``out`` and returns the numbers for
``numbers.json``; ``section(numbers, out)`` is the paper's text for ``$gpu_check``: the tables, or
"GPU check: not measured yet" when no check has been run. Nothing here trains or times anything.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .tables import write_table

class CheckFileError(ValueError):
    """A file in the gpu-check folder that is not a check's JSON."""


NOT_MEASURED = "GPU check: not measured yet (no `results/gpu-check/*.json`; see docs/gpu.md, \"The GPU check\")."


def load_checks(folder: Path | None) -> list[dict]:
    """Every gpu-check JSON in ``folder`` (none if the folder is missing), oldest first."""
    if folder is None or not Path(folder).is_dir():
        return []
    checks = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CheckFileError(f"{path}: not valid JSON ({exc}); expected the output of python -m bench gpu-check") from None
        if isinstance(data, dict) and data.get("kind") == "gpu-check":
            data["file"] = path.name
            checks.append(data)
    return sorted(checks, key=lambda c: (c["created"], c["file"]))


def _num(x, digits=2):
    """Rounded to ``digits`` decimals (an integer for 0); None stays None."""
    return None if x is None else int(round(float(x))) if digits == 0 else round(float(x), digits)


def _sig(x):
    return None if x is None else f"{x:.4g}"


def _mfu(x):
    return "unknown" if x is None else f"{100 * x:.1f} %"


def throughput_table(checks: list[dict]) -> pd.DataFrame:
    rows = []
    for c in checks:
        for t in c.get("throughput", []):
            if "trainer" not in t:
                continue
            tr, ba, cfg = t["trainer"], t["bare"], t["config"]
            rows.append({
                "device": c["device_name"] or c["device"], "profile": c["profile"],
                "configuration": f"{t['name']} ({cfg['encoder']}, width {cfg['decoder_width']}, "
                                 f"batch {cfg['batch_size']}, {cfg['loss']})",
                "GFLOPs/image (train)": _num(t["flops_per_image"]["train"] / 1e9),
                "s/epoch": _num(tr["epoch_seconds"], 3),
                "train img/s": _num(tr["train_images_per_s"], 0),
                "bare train img/s": _num(ba["train_images_per_s"], 0),
                "ratio to bare (train)": _num(t["ratio"]["train"]),
                "eval img/s": _num(tr["eval_images_per_s"], 0),
                "ratio to bare (eval)": _num(t["ratio"]["eval"]),
                "MFU (train)": _mfu(t["mfu"]["trainer_train"]),
                "peak memory (MiB)": "n/a" if tr["peak_memory_bytes"] is None
                else f"{tr['peak_memory_bytes'] / 2**20:.0f}",
            })
    return pd.DataFrame(rows)


def proxy_table(check: dict) -> pd.DataFrame:
    pr = check.get("proxy") or {}
    lo, fu = pr.get("low", {}).get("name", "low"), pr.get("full", {}).get("name", "full")
    rows = []
    for i, c in enumerate(pr.get("configs", []), 1):
        cfg = c["config"]
        rows.append({"#": i, "encoder": cfg["encoder"], "width": cfg["decoder_width"], "batch": cfg["batch_size"],
                     "loss": cfg["loss"], "lr": f"{cfg['learning_rate']:.2g}", "wd": f"{cfg['weight_decay']:.2g}",
                     "augment": "on" if cfg["augment"] else "off",
                     f"{lo} val loss": _sig(c["low"]["val_loss"]), f"{fu} val loss": _sig(c["full"]["val_loss"]),
                     f"{lo} val mIoU": _num(c["low"]["val_miou"], 3), f"{fu} val mIoU": _num(c["full"]["val_miou"], 3)})
    return pd.DataFrame(rows)


def packing_table(check: dict) -> pd.DataFrame:
    """K concurrent trials of the default configuration on one device: aggregate training images/s, its ratio to
    K = 1, the aggregate MFU and the median seconds per epoch of a trial (``packing`` of a check)."""
    import statistics
    rows = []
    for r in (check.get("packing") or {}).get("rows", []):
        per = r.get("trial_epoch_seconds") or []
        rows.append({"K trials": r["k"], "aggregate train img/s": _num(r.get("aggregate_images_per_s"), 0),
                     "ratio to K = 1": _num(r.get("ratio_to_one")), "MFU (aggregate)": _mfu(r.get("mfu")),
                     "median s/epoch per trial": _num(statistics.median(per), 3) if per else None,
                     "failed": len(r.get("failed") or [])})
    return pd.DataFrame(rows)


def captured_sentence(check: dict) -> str | None:
    """Eager against captured step (``captured`` of a check), or None where it was not run."""
    cap = check.get("captured") or {}
    if not cap or cap.get("status") == "skipped":
        return None
    d, t, es = cap.get("relative_difference") or {}, cap.get("tolerance") or {}, cap.get("epoch_seconds") or {}
    first, most = d.get("first_step"), d.get("max_first_steps")
    verdict = "within" if cap.get("within_tolerance") else "outside"
    speed = (f"; seconds per epoch {es['eager']:.3f} eager vs {es['captured']:.3f} captured "
             f"({cap['speedup']:.2f}x)" if cap.get("speedup") else "")
    return (f"Captured step (CUDA graph) against the eager step on the default configuration: relative difference "
            f"of the first step's loss {'n/a' if first is None else f'{first:.1e}'} (tolerance {t.get('first')}), the "
            f"largest over the first {d.get('steps')} steps {'n/a' if most is None else f'{most:.1e}'} (tolerance "
            f"{t.get('steps')}): **{verdict} tolerance**{speed}.")


def _rho(s: dict) -> str:
    if not s or s.get("rho") is None:
        return f"undefined ({s.get('note', 'not computed')})" if s else "not computed"
    ci = s.get("ci95")
    return f"{s['rho']:.2f}" + (f" (95% bootstrap CI {ci[0]:.2f} to {ci[1]:.2f})" if ci else "") + f", n = {s['n']}"


def summary(folder: Path | None, out: Path) -> dict:
    """Write the GPU-check tables under ``out``; the numbers for ``numbers.json`` (empty when none)."""
    checks = load_checks(folder)
    if not checks:
        return {}
    thr = throughput_table(checks)
    if len(thr):
        write_table(thr, out, "gpu_check_throughput", (
            "Throughput of the project's trainer (training + validation seconds per epoch; training and "
            "evaluation images per second) next to a bare hand-written smp loop on the same batches in the same "
            "run (ratio: trainer ÷ bare, 1 = no overhead); MFU: counted model FLOPs (FlopCounterMode) × training "
            "images/s ÷ the device's peak dense bf16 rate ('unknown' where the device is not in the table); peak "
            "memory includes the resident dataset. Source: `python -m bench gpu-check`."))
    nums = {"checks": []}
    for c in checks:
        pr = c.get("proxy") or {}
        n = {"file": c["file"], "device": c["device"], "device_type": c["device_type"], "profile": c["profile"],
             "created": c["created"], "git_commit": c["git_commit"], "peak_assumed": c.get("peak", {}).get("assumed"),
             "complete": c.get("complete"), "skipped": [s["part"] for s in c.get("skipped", [])],
             "errors": [f"{e['part']}: {e['error']}" for e in c.get("errors", [])],
             "throughput": {t["name"]: {"ratio_train": t["ratio"]["train"], "ratio_eval": t["ratio"]["eval"],
                                        "mfu_train": t["mfu"]["trainer_train"],
                                        "epoch_seconds": t["trainer"]["epoch_seconds"]}
                            for t in c.get("throughput", []) if "trainer" in t},
             "max_batch": {k: (c.get("max_batch") or {}).get(k) for k in ("batch_size", "status", "peak_memory_bytes")},
             "proxy": {"low": pr.get("low", {}).get("name"), "full": pr.get("full", {}).get("name"),
                       "epochs": pr.get("epochs"), "configs": len(pr.get("configs", [])),
                       "spearman": pr.get("spearman", {}), "note": pr.get("note")}}
        pack = packing_table(c)
        if len(pack):
            pstem = f"gpu_check_packing_{Path(c['file']).stem}"
            write_table(pack, out, pstem, (
                f"Several trials on one device ({c['device']}): K single-threaded trial processes of the default "
                "configuration started together after a warm-up epoch; aggregate training images per second over "
                "the wall time of their measured epochs, its ratio to one trial, and the aggregate MFU."))
            n["packing_table"] = f"{pstem}.md"
        n["captured"] = captured_sentence(c)
        stem = f"gpu_check_proxy_{Path(c['file']).stem}"
        table = proxy_table(c)
        if len(table):
            write_table(table, out, stem, (
                f"Proxy check ({c['device']}): the same {len(table)} configurations trained {pr['epochs']} epochs "
                f"at the `{n['proxy']['low']}` and the `{n['proxy']['full']}` profile's resolution, final "
                "validation metrics. " + (pr.get("note") or "")))
            n["proxy_table"] = f"{stem}.md"
        nums["checks"].append(n)
    return nums


def section(numbers: dict | None, out: Path) -> str:
    """The Markdown for the paper's GPU-check section."""
    checks = (numbers or {}).get("checks", [])
    if not checks:
        return NOT_MEASURED
    out = Path(out)
    parts = []
    if not any(c["device_type"] == "cuda" for c in checks):
        parts.append("GPU check: not measured on a GPU yet. The numbers below come from a run of the check on "
                     "CPU (they show that the command works, not how fast the GPU path is).")
    if (out / "gpu_check_throughput.md").is_file():
        parts.append((out / "gpu_check_throughput.md").read_text())
    for c in checks:
        p, mb = c["proxy"], c["max_batch"]
        head = (f"**{c['device']}**, profile `{c['profile']}`, {c['created']}, code `{c['git_commit'][:12]}`; "
                f"peak assumed for MFU: {c['peak_assumed']}.")
        if mb.get("status"):
            mem = mb.get("peak_memory_bytes")
            head += (f" Largest batch size of the space ({mb['batch_size']}) with the costliest model: "
                     f"{mb['status']}" + (f", peak memory {mem / 2**20:.0f} MiB." if mem else "."))
        if c["skipped"]:
            head += f" Skipped or shrunk to fit the time: {', '.join(c['skipped'])}."
        if c["errors"]:
            head += f" Failed: {'; '.join(c['errors'])}."
        if not c["complete"]:
            head += " The check was interrupted before its end."
        parts.append(head)
        if c.get("captured"):
            parts.append(c["captured"])
        if c.get("packing_table") and (out / c["packing_table"]).is_file():
            parts.append((out / c["packing_table"]).read_text())
        if p["configs"]:
            sp = p["spearman"]
            parts.append(f"Proxy check, `{p['low']}` vs `{p['full']}`, {p['configs']} configurations × {p['epochs']} "
                         f"epoch{'s' if p['epochs'] != 1 else ''}: Spearman rho of the final validation loss {_rho(sp.get('val_loss'))}; of the final "
                         f"validation mIoU {_rho(sp.get('val_miou'))}.")
            if c.get("proxy_table") and (out / c["proxy_table"]).is_file():
                parts.append((out / c["proxy_table"]).read_text())
    return "\n\n".join(parts)
