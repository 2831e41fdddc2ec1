"""``python -m bench gpu-check``: one time-boxed measurement of the GPU path, prepared to run wherever a GPU is.

Within ``minutes`` (wall clock, from the start of the command) it writes
``<out>/<profile>-<device>.json`` and a Markdown summary beside it, rewritten after every part
so that an interrupted check keeps what it measured:

1. **FLOPs** per image of every encoder of the profile (widest decoder) and of the default
   configuration, counted with ``torch.utils.flop_counter.FlopCounterMode`` (``bench.flops``); the
   costliest configuration is the encoder with the most training FLOPs per image, the widest
   decoder, dice + focal loss and the smallest batch size of the space (most steps per epoch).
2. **Throughput** of the default and the costliest configuration with the project's trainer
   (``segmentation.train.train`` and ``evaluate``: device-resident uint8 data, bf16 autocast and
   channels_last on CUDA), next to a bare hand-written smp loop (``bench.bare``) on the same
   batches, in the same process, alternating: one warm-up epoch each, then measured epochs.
   Reported: seconds per epoch (training + validation, as the trainer records them), training
   and evaluation images per second, their ratio trainer / bare loop (1 = no overhead), model
   FLOPs utilisation against the device's peak dense bf16 rate (``bench.flops.PEAK_BF16``;
   "unknown" for a device not in that table), and peak GPU memory
   (``torch.cuda.max_memory_allocated``, which includes the resident dataset).
3. **Largest batch**: the costliest model at the largest batch size of the space, one epoch;
   an out-of-memory error is caught and reported as such.
4. **Proxy check**: k configurations trained for the same E epochs at the proxy profile's
   resolution and at full resolution (``cpu`` vs ``gpu``; with ``--profile smoke``, the smoke
   images at 1/8 scale vs 1/4 scale, a stand-in that trains in seconds), and the Spearman rank
   correlation of their final validation loss and mIoU, with a 95% bootstrap interval over the
   configurations. The two profiles offer different encoders and batch sizes, so configurations
   are sampled from the space both can train: the encoders, decoder widths and batch sizes they
   share, each profile keeping its own resolution, patch size and U-Net depth.

Every part checks the time left before it starts and is shrunk (fewer measured epochs, fewer
configurations or epochs) or skipped to stay within ``minutes``; what was skipped is recorded.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import os
import re
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.gpu_check")

PROFILES = ("gpu", "cpu", "smoke")
SAFETY = 1.3  # estimates of uninterruptible work are multiplied by this before they are compared with the time left


class CheckError(ValueError):
    """A bad argument of the check (one line for the user)."""


def check_args(out: str, minutes: str) -> tuple[Path, float]:
    """The output folder (created) and the minutes as a number, or a CheckError naming the bad value."""
    try:
        m = float(minutes)
    except (TypeError, ValueError):
        raise CheckError(f"--minutes expects a positive number of minutes, got {minutes!r}") from None
    if not math.isfinite(m) or m <= 0:
        raise CheckError(f"--minutes expects a positive number of minutes, got {minutes!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise CheckError(f"--out {out} is a file; expected a directory (created when missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckError(f"--out {out}: cannot create the directory ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise CheckError(f"--out {out}: the directory is not writable")
    return path, m


class Clock:
    """Seconds since the command started, against its limit."""

    def __init__(self, minutes: float, reserve: float | None = None, start: float | None = None):
        self.t0 = time.perf_counter() if start is None else start
        self.limit = minutes * 60.0
        self.reserve = reserve if reserve is not None else min(15.0, max(3.0, 0.03 * self.limit))

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        """Seconds left for work (the reserve for writing the results is kept back)."""
        return self.limit - self.reserve - self.elapsed()

    def fits(self, estimate: float) -> bool:
        return estimate * SAFETY <= self.left()


def smoke_full(smoke):
    """The smoke images at twice the smoke resolution and the gpu profile's depth: the tiny
    stand-in for full resolution in the proxy check of ``--profile smoke``."""
    return dataclasses.replace(smoke, name="smoke-x2", scale=2 * smoke.scale, patch=2 * smoke.patch, encoder_depth=5)


def common_profile(low, full):
    """A profile with the encoders, decoder widths and batch sizes both profiles offer (low's resolution)."""
    enc = tuple(e for e in low.encoders if e in full.encoders)
    widths = tuple(w for w in low.decoder_widths if w in full.decoder_widths)
    batches = tuple(b for b in low.batch_sizes if b in full.batch_sizes)
    if not (enc and widths and batches):
        raise CheckError(f"profiles {low.name!r} and {full.name!r} share no encoder, decoder width or batch size")
    d = dict(low.default)
    d["encoder"] = d["encoder"] if d["encoder"] in enc else enc[0]
    d["decoder_width"] = d["decoder_width"] if d["decoder_width"] in widths else widths[0]
    d["batch_size"] = d["batch_size"] if d["batch_size"] in batches else batches[0]
    return dataclasses.replace(low, name=f"{low.name}+{full.name}", encoders=enc, decoder_widths=widths,
                               batch_sizes=batches, default=d)


def _differences(low, full) -> str:
    fields = (("encoders", "encoders"), ("decoder_widths", "decoder widths"), ("batch_sizes", "batch sizes"),
              ("encoder_depth", "U-Net depth"), ("scale", "resolution"), ("patch", "patch size"))
    return ", ".join(name for f, name in fields if getattr(low, f) != getattr(full, f))


def _describe(profile) -> dict:
    return {"name": profile.name, "scale": profile.scale, "patch": profile.patch,
            "encoder_depth": profile.encoder_depth, "encoders": list(profile.encoders),
            "decoder_widths": list(profile.decoder_widths), "batch_sizes": list(profile.batch_sizes)}


def _median(xs):
    return float(statistics.median(xs)) if xs else None


def spearman(a: list[float], b: list[float], seed: int = 0, resamples: int = 2000) -> dict:
    """Spearman's rho (scipy.stats.spearmanr), its p-value and a 95% percentile bootstrap interval
    over the configurations (resamples where either side is constant are left out)."""
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    if n < 3:
        return {"rho": None, "p": None, "ci95": None, "n": n, "note": "fewer than 3 configurations trained on both sides"}
    res = stats.spearmanr(a, b)
    rho = float(res.statistic)
    if not math.isfinite(rho):
        return {"rho": None, "p": None, "ci95": None, "n": n, "note": "undefined: one side ranks every configuration equal"}
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        i = rng.integers(0, n, n)
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            boot.append(stats.spearmanr(a[i], b[i]).statistic)
    boot = [x for x in boot if math.isfinite(x)]
    ci = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))] if len(boot) >= 100 else None
    return {"rho": rho, "p": float(res.pvalue), "ci95": ci, "n": n}


class GpuCheck:
    def __init__(self, out: Path, clock: Clock, profile: str = "gpu", data: str | None = None,
                 device: str | None = None, seed: int = 0, proxy_configs: int | None = None,
                 proxy_epochs: int | None = None, measure_epochs: int = 2):
        from segmentation.profiles import get_profile
        from segmentation.train import pick_device
        if profile not in PROFILES:
            raise CheckError(f"--profile expects one of {', '.join(PROFILES)}, got {profile!r}")
        for name, v, least in (("--proxy-configs", proxy_configs, 3), ("--proxy-epochs", proxy_epochs, 1)):
            if v is not None and v < least:
                raise CheckError(f"{name} expects an integer of at least {least}, got {v}")
        self.clock = clock
        self.out, self.minutes, self.data, self.seed = out, clock.limit / 60, data, seed
        self.profile = get_profile(profile)
        self.device = pick_device(device)
        self.proxy_configs = proxy_configs
        self.proxy_epochs = proxy_epochs
        self.measure_epochs = measure_epochs
        self.result: dict = {}
        self.skipped: list[dict] = []

    # ----------------------------------------------------------------------------------------- helpers
    def skip(self, part: str, reason: str) -> None:
        log.warning("skipped %s: %s", part, reason)
        self.skipped.append({"part": part, "reason": reason, "at_seconds": round(self.clock.elapsed(), 1)})

    def _cuda(self) -> bool:
        return self.device.type == "cuda"

    def _reset_memory(self) -> None:
        import torch
        gc.collect()
        if self._cuda():
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def _peak_memory(self) -> int | None:
        import torch
        return int(torch.cuda.max_memory_allocated(self.device)) if self._cuda() else None

    def stem(self) -> str:
        name = self.result.get("device_name") or self.device.type
        return f"{self.profile.name}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")

    def write(self, complete: bool = False) -> Path:
        self.result["complete"] = complete
        self.result["elapsed_seconds"] = round(self.clock.elapsed(), 2)
        self.result["skipped"] = self.skipped
        path = self.out / f"{self.stem()}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.result, indent=2, default=_jsonable) + "\n")
        tmp.replace(path)
        path.with_suffix(".md").write_text(markdown(self.result))
        return path

    # ------------------------------------------------------------------------------------------- parts
    def run(self) -> Path:
        import torch

        from bench.flops import peak_bf16
        from bench.meta import device_string, git_commit, host, versions
        from segmentation.data import default_data_root
        self.result = {
            "kind": "gpu-check", "format": 1,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "minutes": self.minutes, "profile": self.profile.name, "seed": self.seed,
            "device": device_string(str(self.device)), "device_type": self.device.type,
            "device_name": torch.cuda.get_device_name(self.device) if self._cuda() else None,
            "git_commit": _commit(git_commit()), "versions": versions(), "host": host(),
            "data_root": str(Path(self.data) if self.data else default_data_root()),
            "torch_threads": torch.get_num_threads(),
        }
        self.result["peak"] = peak_bf16(self.result["device_name"])
        self.parts: dict[str, float] = {}
        self.result["parts_seconds"] = self.parts
        t0 = time.perf_counter()
        self.result["errors"] = []
        self.part_data()  # a dataset problem ends the check with the dataset's one-line error
        self.parts["data"] = round(time.perf_counter() - t0, 2)
        self.write()
        for name, part in (("flops", self.part_flops), ("throughput", self.part_throughput),
                           ("max_batch", self.part_max_batch), ("proxy", self.part_proxy)):
            t0 = time.perf_counter()
            try:
                part()
            except Exception as exc:  # recorded; the other parts still run
                log.exception("part %s failed", name)
                self.result["errors"].append({"part": name, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
                if name == "flops":  # the configurations of every later part come from it
                    self.skip("throughput, max_batch, proxy", "the FLOP count failed")
                    break
            finally:
                self.parts[name] = round(time.perf_counter() - t0, 2)
                self._reset_memory()
                self.write()
        return self.write(complete=True)

    def part_data(self) -> None:
        from segmentation.data import prepare
        from segmentation.profiles import get_profile
        from segmentation.train import Task, load_task
        t0 = time.perf_counter()
        self.task = load_task(self.profile.name, self.data, None, str(self.device))
        if self.profile.name == "smoke":
            low, full = self.task.profile, smoke_full(self.task.profile)
            self.low_task = self.task
            self.full_task = Task.from_prepared(full, prepare(full, self.data), self.device)
        else:
            low, full = get_profile("cpu"), get_profile("gpu")
            self.low_task = load_task("cpu", self.data, None, str(self.device))
            self.full_task = load_task("gpu", self.data, None, str(self.device))
        resident = sum(t.numel() * t.element_size() for task in {id(t): t for t in
                       (self.task, self.low_task, self.full_task)}.values()
                       for t in list(task.x.values()) + list(task.y.values()))
        self.result["data"] = {"counts": self.task.data.counts(), "patch": self.profile.patch,
                               "scale": self.profile.scale, "resident_bytes": int(resident),
                               "seconds": round(time.perf_counter() - t0, 2)}
        log.info("data on %s: %s patches of %d px (%.0f MB resident with the proxy profiles' data)",
                 self.device, self.task.data.counts(), self.profile.patch, resident / 1e6)

    def part_flops(self) -> None:
        from bench.flops import count_flops
        from segmentation.model import build_model
        from segmentation.space import default_config
        p = self.profile
        self.default = default_config(p)
        widest = max(p.decoder_widths)
        rows = []
        for enc in p.encoders:
            cfg = dict(self.default, encoder=enc, decoder_width=widest)
            f = count_flops(build_model(cfg, p).to(self.device), p.patch, self.device)
            rows.append({"encoder": enc, "decoder_width": widest, **f})
        self.default_flops = count_flops(build_model(self.default, p).to(self.device), p.patch, self.device)
        top = max(rows, key=lambda r: r["train"])
        self.costliest = dict(self.default, encoder=top["encoder"], decoder_width=widest,
                              batch_size=min(p.batch_sizes), loss="dice_focal", augment=True)
        self.costliest_flops = {"forward": top["forward"], "train": top["train"]}
        self.result["flops"] = {
            "counted_with": "torch.utils.flop_counter.FlopCounterMode: convolutions and matrix products, "
                            "forward and backward, 2 FLOPs per multiply-add, per image",
            "patch": p.patch, "encoder_depth": p.encoder_depth, "per_encoder": rows,
            "default": self.default_flops}

    def _eval_seconds(self, model, repeats: int = 3) -> tuple[float, float]:
        """Median seconds of the trainer's ``evaluate`` and of the bare forward pass over the
        validation split, alternating, after one warm-up of each."""
        import torch

        from bench.bare import bare_eval
        from segmentation.train import evaluate

        def timed_evaluate():
            if self._cuda():
                torch.cuda.synchronize(self.device)
            t0 = time.perf_counter()
            evaluate(model, self.task, "val")  # ends with .cpu() of the confusion: synchronised
            return time.perf_counter() - t0

        timed_evaluate(), bare_eval(model, self.task)
        tr, ba = [], []
        for _ in range(repeats):
            tr.append(timed_evaluate())
            ba.append(bare_eval(model, self.task))
        return statistics.median(tr), statistics.median(ba)

    def _throughput(self, name: str, cfg: dict, flops: dict, budget: float) -> dict | None:
        from bench.bare import bare_model, bare_train
        from bench.flops import mfu
        from segmentation.train import train
        from bench.bare import epoch_estimate
        t_start = time.perf_counter()
        row = {"name": name, "config": cfg, "flops_per_image": flops}
        est = 2 * epoch_estimate(cfg, self.task, self.seed)  # a trainer and a bare warm-up epoch
        if not self.clock.fits(est) or est * SAFETY > budget:
            self.skip(f"throughput {name}", f"its two warm-up epochs alone would take about {est:.0f} s "
                      f"(from timed steps); {min(budget, self.clock.left()):.0f} s are left for it")
            row["skipped"] = True
            return row
        # warm-up: one epoch of each (kernel selection, allocator), not counted
        self._reset_memory()
        w = train(cfg, 1, self.seed, self.task)
        if w.status != "ok":
            row["error"] = f"trainer warm-up failed: {w.error}"
            return row
        wb = bare_train(cfg, self.task, 1, self.seed)
        per_epoch = w.last.seconds + wb["seconds"][0]
        spent = time.perf_counter() - t_start
        n = min(self.measure_epochs, int((budget - spent) / (per_epoch * SAFETY)))
        n = min(n, int(self.clock.left() / (per_epoch * SAFETY)))
        if n < 1:
            self.skip(f"throughput {name}", f"no time for a measured epoch after the warm-up "
                      f"({per_epoch:.1f} s per trainer + bare epoch); the warm-up epoch is reported")
            n = 0
        row["epochs_measured"] = n
        self._reset_memory()
        r = train(cfg, n, self.seed, self.task) if n else w
        mem_trainer = self._peak_memory()
        self._reset_memory()
        b = bare_train(cfg, self.task, n, self.seed) if n else wb
        mem_bare = self._peak_memory()
        model = bare_model(cfg, self.task.profile, self.device)
        ev_trainer, ev_bare = self._eval_seconds(model)
        del model
        n_val = int(self.task.x["val"].shape[0])
        epoch_s = _median([e.seconds for e in r.epochs])
        train_s = epoch_s - ev_trainer
        images = b["images"]
        bare_train_s = _median(b["seconds"])
        trainer = {"epoch_seconds": epoch_s, "epoch_seconds_all": [e.seconds for e in r.epochs],
                   "eval_seconds": ev_trainer, "train_seconds": train_s if train_s > 0 else None,
                   "train_images_per_s": images / train_s if train_s > 0 else None,
                   "eval_images_per_s": n_val / ev_trainer, "images_per_epoch": images,
                   "val_images": n_val, "peak_memory_bytes": mem_trainer, "status": r.status}
        bare = {"epoch_seconds": bare_train_s + ev_bare, "train_seconds": bare_train_s,
                "train_seconds_all": b["seconds"], "eval_seconds": ev_bare,
                "train_images_per_s": images / bare_train_s, "eval_images_per_s": n_val / ev_bare,
                "peak_memory_bytes": mem_bare}
        peak = self.result["peak"]["peak_flops"]
        row.update(trainer=trainer, bare=bare,
                   ratio={"epoch": bare["epoch_seconds"] / epoch_s,
                          "train": (trainer["train_images_per_s"] / bare["train_images_per_s"]
                                    if trainer["train_images_per_s"] else None),
                          "eval": trainer["eval_images_per_s"] / bare["eval_images_per_s"]},
                   mfu={"trainer_train": mfu(trainer["train_images_per_s"], flops["train"], peak),
                        "bare_train": mfu(bare["train_images_per_s"], flops["train"], peak),
                        "trainer_eval": mfu(trainer["eval_images_per_s"], flops["forward"], peak)},
                   seconds=round(time.perf_counter() - t_start, 2))
        log.info("%s: trainer %.2f s/epoch, %.0f train img/s; bare loop %.0f train img/s; ratio (epoch) %.2f",
                 name, epoch_s, trainer["train_images_per_s"] or float("nan"), bare["train_images_per_s"],
                 row["ratio"]["epoch"])
        return row

    def part_throughput(self) -> None:
        import torch
        self.result["throughput"] = []
        share = 0.4 * self.clock.left()  # both configurations; the proxy check gets most of the rest
        for name, cfg, flops in (("default", self.default, self.default_flops),
                                 ("costliest", self.costliest, self.costliest_flops)):
            budget = share / 2 if name == "default" else share
            if self.clock.left() <= 0:
                self.skip(f"throughput {name}", "no time left")
                continue
            try:
                row = self._throughput(name, cfg, flops, budget)
            except torch.cuda.OutOfMemoryError as exc:
                row = {"name": name, "config": cfg, "error": f"out of memory: {str(exc).splitlines()[0]}"}
                self._reset_memory()
            share -= row.get("seconds", 0)
            if not row.get("skipped"):
                self.result["throughput"].append(row)
            self.write()

    def part_max_batch(self) -> None:
        import torch

        from segmentation.train import train
        bs = max(self.profile.batch_sizes)
        cfg = dict(self.costliest, batch_size=bs)
        out = {"config": cfg, "batch_size": bs, "status": "skipped"}
        self.result["max_batch"] = out
        if self.clock.left() <= 0:
            self.skip("max_batch", "no time left")
            return
        from bench.bare import epoch_estimate
        self._reset_memory()
        try:
            est = epoch_estimate(cfg, self.task, self.seed)
        except torch.cuda.OutOfMemoryError as exc:
            out.update(status="out of memory", where="bare-loop steps (the cost estimate)",
                       error=str(exc).splitlines()[0], peak_memory_bytes=self._peak_memory())
            self._reset_memory()
            return
        if not self.clock.fits(est):
            self.skip("max_batch", f"one epoch would take about {est:.0f} s (from timed steps) and "
                      f"{self.clock.left():.0f} s are left")
            return
        self._reset_memory()
        t0 = time.perf_counter()
        try:
            out["where"] = "one epoch of the trainer"
            r = train(cfg, 1, self.seed, self.task)
            out.update(status=r.status, error=r.error, epoch_seconds=r.last.seconds if r.last else None)
        except torch.cuda.OutOfMemoryError as exc:
            out.update(status="out of memory", error=str(exc).splitlines()[0])
        except RuntimeError as exc:  # a CPU allocation failure
            if "out of memory" not in str(exc).lower() and "allocate" not in str(exc).lower():
                raise
            out.update(status="out of memory", error=str(exc).splitlines()[0])
        out["peak_memory_bytes"] = self._peak_memory()
        out["seconds"] = round(time.perf_counter() - t0, 2)
        if self._cuda():
            out["device_memory_bytes"] = int(torch.cuda.get_device_properties(self.device).total_memory)
        self._reset_memory()
        log.info("largest batch %d, %s: %s", bs, cfg["encoder"], out["status"])

    def part_proxy(self) -> None:
        from segmentation.space import config_dict, search_space
        from segmentation.train import train
        low, full = self.low_task.profile, self.full_task.profile
        space = common_profile(low, full)
        epochs_cap = self.proxy_epochs or max(1, min(low.max_epochs, full.max_epochs) // 3)
        k_max = self.proxy_configs or 24
        k_min = min(k_max, 8 if self._cuda() else 3)
        pr = {"low": _describe(low), "full": _describe(full),
              "space": {"encoders": list(space.encoders), "decoder_widths": list(space.decoder_widths),
                        "batch_sizes": list(space.batch_sizes),
                        "other": "learning_rate, weight_decay, loss, augment as in segmentation/space.py"},
              "note": (f"The {low.name} and {full.name} profiles differ ({_differences(low, full)}), so "
                       f"configurations are sampled from the space both can train: encoders "
                       f"{', '.join(space.encoders)}, decoder widths {', '.join(map(str, space.decoder_widths))}, "
                       f"batch sizes {', '.join(map(str, space.batch_sizes))}; each side keeps its own resolution "
                       f"(scale {low.scale:g}, {low.patch} px vs scale {full.scale:g}, {full.patch} px) and U-Net "
                       f"depth ({low.encoder_depth} vs {full.encoder_depth}). Same seed, same epochs on both sides; "
                       "final validation metrics of each side's own validation split (the same images)."),
              "epochs": None, "configs": [], "spearman": {}}
        self.result["proxy"] = pr
        configs = [config_dict(c) for c in search_space(space, seed=self.seed).sample_configuration(k_max)]
        if self.clock.left() <= 0:
            self.skip("proxy", "no time left")
            return
        from bench.bare import epoch_estimate
        est = sum(epoch_estimate(configs[0], t, self.seed) for t in (self.low_task, self.full_task))
        if not self.clock.fits(3 * est):
            self.skip("proxy", f"one epoch of 3 configurations on both sides needs about {3 * est * SAFETY:.0f} s "
                      f"(from timed steps) and {self.clock.left():.0f} s are left")
            return
        # probe one epoch of the first configuration on each side (includes warm-up): the cost model
        t0 = time.perf_counter()
        probe_low = train(configs[0], 1, self.seed, self.low_task)
        t1 = time.perf_counter()
        probe_full = train(configs[0], 1, self.seed, self.full_task)
        t2 = time.perf_counter()
        per_epoch = (t1 - t0) + (t2 - t1)  # seconds of one epoch on both sides
        pr["probe_seconds"] = {"low": round(t1 - t0, 2), "full": round(t2 - t1, 2),
                               "status": [probe_low.status, probe_full.status]}
        avail = self.clock.left() / SAFETY
        k, epochs = k_min, min(epochs_cap, int(avail / (k_min * per_epoch)))
        while epochs < 1 and k > 3:
            k -= 1
            epochs = min(epochs_cap, int(avail / (k * per_epoch)))
        if epochs < 1:
            self.skip("proxy", f"one epoch of 3 configurations on both sides needs about "
                      f"{3 * per_epoch * SAFETY:.0f} s and {self.clock.left():.0f} s are left")
            return
        if epochs == epochs_cap:
            k = max(k, min(k_max, int(avail / (epochs * per_epoch))))
        if k < k_min:
            self.skip("proxy configurations", f"only {k} of the minimum {k_min} configurations fit")
        if epochs < epochs_cap:
            self.skip("proxy epochs", f"{epochs} epochs instead of {epochs_cap} to fit the time")
        pr.update(epochs=epochs, k_planned=k)
        log.info("proxy check: %d configurations x %d epochs on %s and %s (%.1f s per epoch pair)",
                 k, epochs, low.name, full.name, per_epoch)
        observed: list[float] = []  # seconds per epoch on both sides, of each configuration trained
        for i, cfg in enumerate(configs):  # the planned k, then more while they fit (at most k_max)
            est = epochs * (max(observed) if observed else per_epoch)
            if not self.clock.fits(est):
                if i < k:
                    self.skip("proxy", f"configurations {i + 1}-{k} not trained: about {est:.0f} s each, "
                              f"{self.clock.left():.0f} s left")
                break
            row = {"config": cfg}
            for side, task in (("low", self.low_task), ("full", self.full_task)):
                s0 = time.perf_counter()
                r = train(cfg, epochs, self.seed, task)
                row[side] = {"status": r.status, "error": r.error, "seconds": round(time.perf_counter() - s0, 2),
                             "val_loss": r.last.val_loss if r.status == "ok" else None,
                             "val_miou": r.last.val_miou if r.status == "ok" else None}
            pr["configs"].append(row)
            observed.append((row["low"]["seconds"] + row["full"]["seconds"]) / epochs)
            self.write()
        both = [c for c in pr["configs"] if c["low"]["status"] == "ok" and c["full"]["status"] == "ok"]
        for metric in ("val_loss", "val_miou"):
            pairs = [(c["low"][metric], c["full"][metric]) for c in both
                     if math.isfinite(c["low"][metric]) and math.isfinite(c["full"][metric])]
            pr["spearman"][metric] = spearman([a for a, _ in pairs], [b for _, b in pairs], self.seed)
        rho = pr["spearman"]["val_loss"]["rho"]
        log.info("proxy check: Spearman rho of final validation loss %s over %d configurations",
                 "undefined" if rho is None else f"{rho:.2f}", len(both))


def _commit(from_git: str) -> str:
    """The checkout's commit; where the copy has no git history (a working tree sent to a GPU
    machine), the commit named by the environment variable AERIAL_HPO_COMMIT, marked as such."""
    env = os.environ.get("AERIAL_HPO_COMMIT")
    return f"{env} (AERIAL_HPO_COMMIT)" if from_git == "unknown" and env else from_git


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


# --------------------------------------------------------------------------------------------- Markdown
def _f(x, fmt="{:.2f}", none="–") -> str:
    return none if x is None else fmt.format(x)


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _pct(x) -> str:
    return "unknown (no peak for this device)" if x is None else f"{100 * x:.1f} %"


def _mb(x) -> str:
    return "n/a (CPU)" if x is None else f"{x / 2**20:,.0f} MiB"


def _cfg(c: dict) -> str:
    return (f"{c['encoder']}, width {c['decoder_width']}, batch {c['batch_size']}, {c['loss']}, "
            f"lr {c['learning_rate']:.2g}, wd {c['weight_decay']:.2g}, augment {'on' if c['augment'] else 'off'}")


def markdown(r: dict) -> str:
    """A human-readable summary of a check's JSON."""
    peak = r.get("peak", {})
    lines = [f"# GPU check: profile `{r['profile']}` on {r['device']}", "",
             f"Created {r['created']} (UTC), {r['elapsed_seconds']:.0f} s of a {r['minutes']:g}-minute limit"
             f"{'' if r.get('complete') else ' (incomplete: interrupted)'}; commit `{r['git_commit'][:12]}`, "
             f"seed {r['seed']}, torch {r['versions'].get('torch')}.",
             f"Peak rate assumed for MFU: {peak.get('assumed')}"
             + (f" = {peak['peak_flops'] / 1e12:g} TFLOP/s." if peak.get("peak_flops") else "."), ""]
    if "data" in r:
        d = r["data"]
        lines += [f"Data: {', '.join(f'{n} {s}' for s, n in d['counts'].items())} patches of {d['patch']} px "
                  f"(scale {d['scale']:g}), "
                  f"{d['resident_bytes'] / 2**20:,.0f} MiB resident on the device (with the proxy check's data).", ""]
    rows = [t for t in r.get("throughput", []) if "trainer" in t]
    if rows:
        lines += ["## Throughput: the project's trainer vs a bare smp loop (same batches, same run)", "",
                  "| configuration | GFLOPs/image (train) | trainer s/epoch | bare s/epoch | trainer train img/s | "
                  "bare train img/s | ratio train | trainer eval img/s | bare eval img/s | ratio eval | "
                  "MFU trainer | MFU bare | peak memory trainer |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in rows:
            tr, ba = t["trainer"], t["bare"]
            lines.append(
                f"| {t['name']}: {_cfg(t['config'])} | {t['flops_per_image']['train'] / 1e9:.2f} | "
                f"{tr['epoch_seconds']:.3f} | {ba['epoch_seconds']:.3f} | {_f(tr['train_images_per_s'], '{:.0f}')} | "
                f"{ba['train_images_per_s']:.0f} | {_f(t['ratio']['train'])} | {tr['eval_images_per_s']:.0f} | "
                f"{ba['eval_images_per_s']:.0f} | {t['ratio']['eval']:.2f} | {_pct(t['mfu']['trainer_train'])} | "
                f"{_pct(t['mfu']['bare_train'])} | {_mb(tr['peak_memory_bytes'])} |")
        lines += ["", "s/epoch: training + validation (the trainer's recorded epoch seconds; for the bare loop its "
                  "training epoch plus its forward pass over the validation split), median over "
                  f"{', '.join(str(t['epochs_measured']) for t in rows)} measured epochs after one warm-up epoch. "
                  "Ratio: trainer images/s ÷ bare-loop images/s (1 = no overhead). Trainer training seconds are its "
                  "epoch seconds minus its measured validation seconds. MFU: training images/s × counted training "
                  "FLOPs per image ÷ peak. Peak memory includes the resident dataset.", ""]
    mb = r.get("max_batch")
    if mb:
        lines += [f"Largest batch size of the space ({mb['batch_size']}, {mb['config']['encoder']}, width "
                  f"{mb['config']['decoder_width']}): **{mb['status']}**"
                  + (f", peak memory {_mb(mb.get('peak_memory_bytes'))}" if mb["status"] != "skipped" else "")
                  + (f" of {_mb(mb['device_memory_bytes'])}" if mb.get("device_memory_bytes") else "")
                  + (f" ({mb['error']})" if mb.get("error") else "") + ".", ""]
    pr = r.get("proxy")
    if pr:
        lines += ["## Proxy check", "", pr["note"], ""]
        if pr.get("configs"):
            for metric, name in (("val_loss", "final validation loss"), ("val_miou", "final validation mIoU")):
                s = pr["spearman"].get(metric, {})
                ci = s.get("ci95")
                lines.append(f"- Spearman rho of {name}, {pr['low']['name']} vs {pr['full']['name']}, "
                             f"{pr['epochs']} epoch{'s' if pr['epochs'] != 1 else ''}: **{_f(s.get('rho'))}**"
                             + (f" (95% bootstrap CI {ci[0]:.2f} to {ci[1]:.2f}, {_p(s['p'])})" if ci else "")
                             + f", {s.get('n', 0)} configurations" + (f"; {s['note']}" if s.get("note") else ""))
            lines += ["", f"| # | configuration | {pr['low']['name']} val loss | {pr['full']['name']} val loss | "
                      f"{pr['low']['name']} val mIoU | {pr['full']['name']} val mIoU |", "|---|---|---|---|---|---|"]
            for i, c in enumerate(pr["configs"], 1):
                lo, fu = c["low"], c["full"]
                lines.append(f"| {i} | {_cfg(c['config'])} | {_f(lo['val_loss'], '{:.4g}', lo['status'])} | "
                             f"{_f(fu['val_loss'], '{:.4g}', fu['status'])} | {_f(lo['val_miou'], '{:.3f}', lo['status'])} | "
                             f"{_f(fu['val_miou'], '{:.3f}', fu['status'])} |")
            lines.append("")
    if r.get("errors"):
        lines += ["## Errors (the other parts ran)", ""]
        lines += [f"- {e['part']}: {e['error']}" for e in r["errors"]]
        lines.append("")
    if r.get("skipped"):
        lines += ["## Skipped or shrunk to fit the time", ""]
        lines += [f"- {s['part']}: {s['reason']} (at {s['at_seconds']:.0f} s)" for s in r["skipped"]]
        lines.append("")
    lines += [f"Seconds per part: {', '.join(f'{k} {v:.1f}' for k, v in r.get('parts_seconds', {}).items())}.", ""]
    return "\n".join(lines)


def gpu_check(out: str, minutes: str = "9", profile: str = "gpu", data: str | None = None,
              device: str | None = None, seed: int = 0, proxy_configs: int | None = None,
              proxy_epochs: int | None = None, started: float | None = None) -> Path:
    """Run the check; returns the JSON path. Raises CheckError (or DatasetError) for bad input.
    ``started``: ``time.perf_counter()`` when the command started (default: now)."""
    t0 = time.perf_counter() if started is None else started
    path, m = check_args(out, minutes)
    return GpuCheck(path, Clock(m, start=t0), profile, data, device, seed, proxy_configs, proxy_epochs).run()
