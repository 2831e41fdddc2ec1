"""``python -m bench gpu-check``: one time-boxed measurement of the GPU path, prepared to run wherever a GPU is.

Within ``minutes`` (wall clock, from the start of the command) it writes
``<out>/<profile>-<device>.json`` and a Markdown summary beside it, rewritten after every part
so that an interrupted check keeps what it measured:

1. **FLOPs** per image of every encoder of the profile (widest decoder) and of the default
   configuration, counted with ``torch.utils.flop_counter.FlopCounterMode`` (``bench.instruments.flops``); the
   costliest configuration is the encoder with the most training FLOPs per image, the widest
   decoder, dice + focal loss and the smallest batch size of the space (most steps per epoch).
2. **Throughput** of the default and the costliest configuration with the project's trainer
   (``segmentation.train.train`` and ``evaluate``: device-resident uint8 data, bf16 autocast and
   channels_last on CUDA), next to a bare hand-written smp loop (``bench.instruments.bare``) on the same
   batches, in the same process, alternating: one warm-up epoch each, then measured epochs.
   Reported: seconds per epoch (training + validation, as the trainer records them), training
   and evaluation images per second, their ratio trainer / bare loop (1 = no overhead), model
   FLOPs utilisation against the device's peak dense bf16 rate (``bench.instruments.flops.PEAK_BF16``;
   "unknown" for a device not in that table), and peak GPU memory
   (``torch.cuda.max_memory_allocated``, which includes the resident dataset).
3. **Captured step**: the default configuration trained with the eager step and with the captured
   step (``segmentation.train``: one CUDA graph per step, capturable AdamW): the losses of the first
   steps from the same seed, compared to a stated tolerance (``CAPTURED_TOLERANCE``), and seconds
   per epoch of each (the second of two epochs: a captured training's first epoch also captures).
   CUDA only: on another device it is skipped and recorded under ``skipped``.
4. **Packing**: K = 1, 2, 4, 8 (``--packing``) concurrent trials of the default configuration on the
   one device, each a single-threaded process of its own (as ``bench run --workers N`` runs them):
   after a warm-up epoch each, all start together and train the same measured epochs; reported are
   the aggregate training images per second (all trials' training images over the wall time from
   the first measured epoch's start to the last one's end, validation included, the model's build
   not), its ratio to K = 1, the MFU of that aggregate, and each trial's seconds per epoch. On a CPU
   the list stops at the core count and one epoch is measured (it shows that the part works).
5. **Largest batch**: the costliest model at the largest batch size of the space, one epoch;
   an out-of-memory error is caught and reported as such.
6. **Proxy check** on matched recipes: k configurations trained to the same R at the proxy
   profile's resolution and at full resolution (``cpu-v2`` vs ``gpu-v2``: the same schedule over
   R = 27, validation images and memory format, so they differ only in resolution and depth; with
   ``--profile smoke``, the smoke images at 1/8 scale vs 1/4 scale, a stand-in that trains in
   seconds), and the Spearman rank correlation of their final validation loss and mIoU, with a 95%
   bootstrap interval over the configurations. The two profiles offer different encoders and batch
   sizes, so configurations are sampled from the space both can train: the encoders, decoder widths
   and batch sizes they share, each profile keeping its own resolution, patch size and U-Net depth.
   Trials are packed: with P trial processes (``--proxy-workers``; default the K of the packing part
   with the highest aggregate rate) P trainings share the device, and the number of configurations
   is planned from the packed rate so that the part fits its time.

Every part checks the time left before it starts and is shrunk (fewer measured epochs, fewer
configurations or epochs) or skipped to stay within ``minutes``; what was skipped is recorded.
``--parts`` runs only the named parts (data and FLOPs always run: every later part uses them).
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

log = logging.getLogger("bench.instruments.gpu_check")

PROFILES = ("gpu", "gpu-v2", "cpu", "smoke")
PARTS = ("throughput", "captured", "packing", "max_batch", "proxy")
PACKING = (1, 2, 4, 8)
SAFETY = 1.3  # estimates of uninterruptible work are multiplied by this before they are compared with the time left
# The captured step's losses against the eager step's from the same seed: relative difference at most
# "first" on the first step (the same weights; only kernels and their order may differ) and at most
# "steps" on each of the first "n" steps (the capturable AdamW computes its bias corrections on the
# device in float32, and bf16 rounding differences grow as training goes on).
CAPTURED_TOLERANCE = {"first": 1e-3, "steps": 2e-2, "n": 10}


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
              ("encoder_depth", "U-Net depth"), ("scale", "resolution"), ("patch", "patch size"),
              ("max_epochs", "R"), ("lr_schedule", "learning-rate schedule"), ("val_images", "validation images"),
              ("channels_last", "memory format"))
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


def parse_list(flag: str, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of names from ``allowed``, or a CheckError naming the bad one."""
    names = tuple(t.strip() for t in str(text).split(",") if t.strip())
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise CheckError(f"{flag} expects a comma-separated list of {', '.join(allowed)}, got {text!r}")
    return names


def parse_packing(text: str) -> tuple[int, ...]:
    """``--packing``: distinct positive numbers of concurrent trials, e.g. ``1,2,4,8``."""
    try:
        ks = tuple(int(t) for t in str(text).split(","))
    except ValueError:
        ks = ()
    if not ks or any(k < 1 for k in ks) or len(set(ks)) != len(ks):
        raise CheckError(f"--packing expects distinct positive integers such as 1,2,4,8, got {text!r}")
    return tuple(sorted(ks))


# ------------------------------------------------------------------------------ trial processes
def _trial_main(profiles, data, device: str, threads: int, jobs, results, go) -> None:
    """A trial process of the packing part and of the packed proxy check: prepares the profiles'
    data on the device once, then trains what it is given and sends back what it measured.

    A job is ``(key, kind, profile name, config, epochs, seed, captured)``; ``kind`` "packing" first
    trains one warm-up epoch, reports ``warm`` and waits for a ``go`` token (so that all K trials start
    together), then times its epochs; "proxy" trains and reports the final validation metrics, with the
    captured step when ``captured`` (and the eager step, from scratch, if capturing fails)."""
    import signal
    import traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import torch

        from segmentation.data import prepare
        from segmentation.train import Task, train
        torch.set_num_threads(int(threads))
        dev = torch.device(device)
        tasks = {p.name: Task.from_prepared(p, prepare(p, data), dev) for p in profiles}
        results.put((None, "ready", os.getpid()))
    except BaseException:  # noqa: BLE001 - reported to the check, which records it
        results.put((None, "crash", traceback.format_exc()))
        return
    while (item := jobs.get()) is not None:
        key = item[0]
        try:
            _, kind, name, cfg, epochs, seed, captured = item
            task = tasks[name]
            if kind == "packing":
                w = train(cfg, 1, seed, task)
                results.put((key, "warm", w.status))
                go.get()
                ends = []  # (Unix time at the end of each epoch, its seconds): the window excludes the model's build
                r = train(cfg, epochs, seed, task, on_epoch=lambda e: ends.append((time.time(), e.seconds)))
                t0 = ends[0][0] - ends[0][1] if ends else None
                t1 = ends[-1][0] if ends else None
                n = task.x["train"].shape[0]
                bs = int(cfg["batch_size"])
                results.put((key, "done", {"status": r.status, "error": r.error, "start": t0, "end": t1,
                                           "images": epochs * max(1, n // bs) * bs,
                                           "epoch_seconds": [e.seconds for e in r.epochs]}))
            else:
                t0 = time.perf_counter()
                r, step = _proxy_train(train, cfg, epochs, seed, task, captured)
                results.put((key, "done", {"status": r.status, "error": r.error, "step": step,
                                           "seconds": round(time.perf_counter() - t0, 2),
                                           "val_loss": r.last.val_loss if r.status == "ok" else None,
                                           "val_miou": r.last.val_miou if r.status == "ok" else None}))
        except Exception as exc:  # noqa: BLE001 - out of memory, a library crash: this trial's result
            results.put((key, "done", {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0],
                                       "val_loss": None, "val_miou": None, "seconds": None, "start": None,
                                       "end": None, "images": 0, "epoch_seconds": []}))


def _proxy_train(train, cfg: dict, epochs: int, seed: int, task, captured: bool):
    """One proxy-check training: with the captured step when asked, falling back to the eager step
    (from scratch) when capturing raises (an operation that cannot be captured); returns the result
    and the step used."""
    if captured:
        try:
            return train(cfg, epochs, seed, task, captured=True), "captured"
        except Exception as exc:  # noqa: BLE001 - recorded with the step used
            if "out of memory" in str(exc).lower():
                raise
            return train(cfg, epochs, seed, task), f"eager (capture failed: {str(exc).splitlines()[0][:120]})"
    return train(cfg, epochs, seed, task), "eager"


class TrialPool:
    """``n`` trial processes (spawned: fresh interpreters, no forked CUDA state) sharing one device."""

    def __init__(self, n: int, profiles, data, device: str, threads: int = 1):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.jobs, self.results, self.go = ctx.Queue(), ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=_trial_main, args=(list(profiles), data, device, threads, self.jobs,
                                                              self.results, self.go), daemon=True)
                      for _ in range(n)]
        for p in self.procs:
            p.start()
        self.size = n
        self.stash: list = []

    def wait_ready(self, timeout: float) -> None:
        """Until every process has its data on the device; a RuntimeError if one crashed or time ran out."""
        ready = 0
        end = time.perf_counter() + timeout
        while ready < self.size:
            key, kind, payload = self.get(end - time.perf_counter())
            if kind == "crash":
                raise RuntimeError(f"a trial process crashed: {payload.strip().splitlines()[-1]}")
            ready += kind == "ready"

    def get(self, timeout: float):
        """The next message ``(key, kind, payload)``; a RuntimeError as soon as a trial process has died,
        a TimeoutError when none came within ``timeout`` seconds."""
        import queue
        end = time.perf_counter() + timeout
        while True:
            try:
                return self.results.get(timeout=min(1.0, max(0.01, end - time.perf_counter())))
            except queue.Empty:
                if not all(p.is_alive() for p in self.procs):
                    raise RuntimeError("a trial process died (killed, out of memory, or crashed)") from None
                if time.perf_counter() >= end:
                    raise TimeoutError("no result within the time left") from None

    def close(self) -> None:
        for _ in self.procs:
            self.jobs.put(None)
        for p in self.procs:
            p.join(timeout=5)
        for p in self.procs:
            if p.is_alive():
                p.kill()


class GpuCheck:
    def __init__(self, out: Path, clock: Clock, profile: str = "gpu", data: str | None = None,
                 device: str | None = None, seed: int = 0, proxy_configs: int | None = None,
                 proxy_epochs: int | None = None, measure_epochs: int = 2, packing: str | None = None,
                 proxy_workers: int | None = None, parts: str | None = None):
        from segmentation.profiles import get_profile
        from segmentation.train import pick_device
        if profile not in PROFILES:
            raise CheckError(f"--profile expects one of {', '.join(PROFILES)}, got {profile!r}")
        self.parts = parse_list("--parts", parts, PARTS) if parts else PARTS
        self.packing = parse_packing(packing) if packing else None
        if proxy_workers is not None and proxy_workers < 1:
            raise CheckError(f"--proxy-workers expects an integer of at least 1, got {proxy_workers}")
        self.proxy_workers = proxy_workers
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

        from bench.instruments.flops import peak_bf16
        from bench.storage.meta import device_string, git_commit, host, versions
        from segmentation.data import default_data_root
        self.result = {
            "kind": "gpu-check", "format": 2, "parts": list(self.parts),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "minutes": self.minutes, "profile": self.profile.name, "seed": self.seed,
            "device": device_string(str(self.device)), "device_type": self.device.type,
            "device_name": torch.cuda.get_device_name(self.device) if self._cuda() else None,
            "git_commit": _commit(git_commit()), "versions": versions(), "host": host(),
            "data_root": str(Path(self.data) if self.data else default_data_root()),
            "torch_threads": torch.get_num_threads(),
        }
        self.result["peak"] = peak_bf16(self.result["device_name"])
        self.parts_seconds: dict[str, float] = {}
        self.result["parts_seconds"] = self.parts_seconds
        t0 = time.perf_counter()
        self.result["errors"] = []
        self.part_data()  # a dataset problem ends the check with the dataset's one-line error
        self.parts_seconds["data"] = round(time.perf_counter() - t0, 2)
        self.write()
        self.pool = None  # trial processes, started by the packing part and reused by the proxy check
        chosen = [("flops", self.part_flops)] + [(n, getattr(self, f"part_{n}")) for n in PARTS if n in self.parts]
        for name, part in chosen:
            t0 = time.perf_counter()
            try:
                part()
            except Exception as exc:  # recorded; the other parts still run
                log.exception("part %s failed", name)
                self.result["errors"].append({"part": name, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
                if name == "flops":  # the configurations of every later part come from it
                    self.skip(", ".join(self.parts), "the FLOP count failed")
                    break
            finally:
                self.parts_seconds[name] = round(time.perf_counter() - t0, 2)
                self._reset_memory()
                self.write()
        if self.pool is not None:
            self.pool.close()
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
        else:  # matched recipes: cpu-v2, the proxy of the replayed results, against gpu-v2
            low, full = get_profile("cpu-v2"), get_profile("gpu-v2")
            self.low_task = load_task("cpu-v2", self.data, None, str(self.device))
            self.full_task = load_task("gpu-v2", self.data, None, str(self.device))
        resident = sum(t.numel() * t.element_size() for task in {id(t): t for t in
                       (self.task, self.low_task, self.full_task)}.values()
                       for t in list(task.x.values()) + list(task.y.values()))
        self.result["data"] = {"counts": self.task.data.counts(), "patch": self.profile.patch,
                               "scale": self.profile.scale, "resident_bytes": int(resident),
                               "seconds": round(time.perf_counter() - t0, 2)}
        log.info("data on %s: %s patches of %d px (%.0f MB resident with the proxy profiles' data)",
                 self.device, self.task.data.counts(), self.profile.patch, resident / 1e6)

    def part_flops(self) -> None:
        from bench.instruments.flops import count_flops
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

        from bench.instruments.bare import bare_eval
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
        from bench.instruments.bare import bare_model, bare_train
        from bench.instruments.flops import mfu
        from segmentation.train import train
        from bench.instruments.bare import epoch_estimate
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

    def part_captured(self) -> None:
        """Eager vs captured step on the default configuration (CUDA only)."""
        from bench.instruments.bare import epoch_estimate
        from segmentation.train import train
        cfg = self.default
        out = {"config": cfg, "tolerance": CAPTURED_TOLERANCE, "status": "skipped"}
        self.result["captured"] = out
        if not self._cuda():
            self.skip("captured step", f"the captured step (CUDA graphs) needs a CUDA device; this check runs on "
                      f"{self.device.type}")
            return
        if self.clock.left() <= 0:
            self.skip("captured step", "no time left")
            return
        est = 6 * epoch_estimate(cfg, self.task, self.seed)  # one epoch each for the losses, two each timed
        if not self.clock.fits(est):
            self.skip("captured step", f"four epochs would take about {est:.0f} s; {self.clock.left():.0f} s are left")
            return
        eager, captured = [], []
        re_ = train(cfg, 1, self.seed, self.task, on_step=eager.append)
        rc = train(cfg, 1, self.seed, self.task, captured=True, on_step=captured.append)
        eager, captured = [float(x) for x in eager], [float(x) for x in captured]
        n = min(len(eager), len(captured))
        rel = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(eager[:n], captured[:n])]
        k = min(n, CAPTURED_TOLERANCE["n"])
        out.update(status=rc.status, error=rc.error, first_losses={"eager": eager[:k], "captured": captured[:k]},
                   relative_difference={"first_step": rel[0] if rel else None,
                                        "max_first_steps": max(rel[:k]) if rel else None, "steps": k},
                   within_tolerance=bool(rel) and rel[0] <= CAPTURED_TOLERANCE["first"]
                   and max(rel[:k]) <= CAPTURED_TOLERANCE["steps"],
                   epoch_train_loss={"eager": re_.last.train_loss if re_.last else None,
                                     "captured": rc.last.train_loss if rc.last else None})
        # timed: the second of two epochs (the first of a captured training also warms up and captures)
        te = train(cfg, 2, self.seed, self.task)
        tc = train(cfg, 2, self.seed, self.task, captured=True)
        images = self._train_images(cfg, self.task)
        out["epoch_seconds"] = {"eager": te.last.seconds if te.last else None,
                                "captured": tc.last.seconds if tc.last else None}
        if te.last and tc.last:
            out["speedup"] = te.last.seconds / tc.last.seconds
            out["epoch_images_per_s"] = {"eager": images / te.last.seconds, "captured": images / tc.last.seconds}
        log.info("captured step: first-step relative difference %s, epoch %.2f s eager vs %.2f s captured",
                 out["relative_difference"]["first_step"], te.last.seconds if te.last else float("nan"),
                 tc.last.seconds if tc.last else float("nan"))

    @staticmethod
    def _train_images(cfg: dict, task) -> int:
        """Training images of one epoch (the last incomplete batch is dropped)."""
        bs = int(cfg["batch_size"])
        return max(1, int(task.x["train"].shape[0]) // bs) * bs

    def _pool(self, n: int) -> "TrialPool":
        """The trial processes (at least ``n``), started once with both proxy profiles' data too."""
        if self.pool is not None and self.pool.size >= n:
            return self.pool
        if self.pool is not None:
            self.pool.close()
        profiles = {t.profile.name: t.profile for t in (self.task, self.low_task, self.full_task)}
        self.pool = TrialPool(n, profiles.values(), self.data, str(self.device))
        self.pool.wait_ready(max(1.0, self.clock.left()))
        return self.pool

    def part_packing(self) -> None:
        """K concurrent trials of the default configuration on the one device: aggregate images/s."""
        from bench.instruments.bare import epoch_estimate
        from bench.instruments.flops import mfu
        cfg = self.default
        ks = self.packing or PACKING
        if not self._cuda():
            cores = os.cpu_count() or 1
            if any(k > cores for k in ks):
                self.skip("packing K > cores", f"K = {', '.join(str(k) for k in ks if k > cores)} left out: "
                          f"this CPU has {cores} cores")
            ks = tuple(k for k in ks if k <= cores) or (1,)
        epochs = max(1, self.measure_epochs if self._cuda() else 1)  # a CPU shows the mechanism, not a GPU's rate
        out = {"config": cfg, "epochs_measured": epochs, "step": "eager", "rows": [],
               "note": "aggregate: all trials' training images over the wall time from the start of the first "
                       "measured epoch of any trial to the end of the last one's (validation included, the "
                       "model's build not); each trial a single-threaded process"}
        self.result["packing"] = out
        if self.clock.left() <= 0:
            self.skip("packing", "no time left")
            return
        per_epoch = epoch_estimate(cfg, self.task, self.seed)
        images = self._train_images(cfg, self.task)
        peak = self.result["peak"]["peak_flops"]
        fit = [k for k in ks if self.clock.fits(k * (1 + epochs) * per_epoch + 10)]
        if not fit:
            self.skip("packing", f"even K = {ks[0]} needs about {ks[0] * (1 + epochs) * per_epoch + 10:.0f} s; "
                      f"{self.clock.left():.0f} s are left")
            return
        self._pool(max(fit))  # started once, its largest size; a K uses K of its processes
        for k in ks:
            est = k * (1 + epochs) * per_epoch  # no speed-up assumed
            if self.pool is None or not self.clock.fits(est):
                self.skip(f"packing K={k}", f"about {est:.0f} s with no speed-up; {self.clock.left():.0f} s are left")
                continue
            if k > self.pool.size:
                self._pool(k)
            pool = self.pool
            end = time.perf_counter() + self.clock.left()
            for i in range(k):
                pool.jobs.put((("packing", k, i), "packing", self.task.profile.name, cfg, epochs, self.seed, False))
            warm, done = 0, []
            try:
                while warm + len(done) < k:  # a trial that fails before its warm-up ends reports "done" at once
                    key, kind, payload = pool.get(end - time.perf_counter())
                    warm += kind == "warm"
                    if kind == "done":
                        done.append(payload)
                for _ in range(warm):
                    pool.go.put(True)
                while len(done) < k:
                    key, kind, payload = pool.get(end - time.perf_counter())
                    if kind == "done":
                        done.append(payload)
            except (TimeoutError, RuntimeError) as exc:  # out of time, or a trial process died
                self.skip(f"packing K={k}", f"{exc}; the trial processes were stopped")
                pool.close()
                self.pool = None
                break
            failed = [d for d in done if d["status"] != "ok"]
            timed = [d for d in done if d["start"] is not None]
            wall = (max(d["end"] for d in timed) - min(d["start"] for d in timed)) if timed else 0.0
            total = sum(d["images"] for d in timed)
            row = {"k": k, "wall_seconds": round(wall, 3), "images": total,
                   "aggregate_images_per_s": total / wall if wall > 0 else None,
                   "trial_epoch_seconds": [statistics.median(d["epoch_seconds"]) for d in done if d["epoch_seconds"]],
                   "failed": [d["error"] for d in failed]}
            row["mfu"] = mfu(row["aggregate_images_per_s"], self.default_flops["train"], peak)
            one = row if k == 1 else next((r for r in out["rows"] if r["k"] == 1), None)
            first = one["aggregate_images_per_s"] if one else None
            row["ratio_to_one"] = row["aggregate_images_per_s"] / first if first and row["aggregate_images_per_s"] else None
            out["rows"].append(row)
            log.info("packing K=%d: %.0f images/s aggregate (%s x K=1)", k, row["aggregate_images_per_s"] or 0,
                     "?" if row["ratio_to_one"] is None else f"{row['ratio_to_one']:.2f}")
            self.write()
        out["images_per_epoch"] = images

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
        from bench.instruments.bare import epoch_estimate
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

    def _proxy_packing(self) -> tuple[int, float]:
        """Trial processes for the proxy check and the speed-up they are planned with: ``--proxy-workers``,
        else the K of the packing part with the highest aggregate rate (1 when it did not run); the
        speed-up is that K's measured aggregate rate over K = 1's (1 when not measured)."""
        rows = [r for r in self.result.get("packing", {}).get("rows", []) if r.get("aggregate_images_per_s")]
        one = next((r["aggregate_images_per_s"] for r in rows if r["k"] == 1), None)
        if self.proxy_workers is not None:
            k = self.proxy_workers
        else:
            k = max(rows, key=lambda r: r["aggregate_images_per_s"])["k"] if rows else 1
        at_k = next((r["aggregate_images_per_s"] for r in rows if r["k"] == k), None)
        return k, (at_k / one if at_k and one and k > 1 else 1.0)

    def _proxy_packed(self, pr: dict, configs: list[dict], epochs: int, workers: int, per_epoch: float,
                      speedup: float) -> None:
        """Train ``configs`` on both sides with ``workers`` trainings in flight on the device, in
        configuration order; a job is started only while its expected end fits the time left."""
        pool = self._pool(workers)
        names = {"low": self.low_task.profile.name, "full": self.full_task.profile.name}
        queue = [(i, side) for i in range(len(configs)) for side in ("low", "full")]
        rows = {i: {"config": cfg} for i, cfg in enumerate(configs)}
        probe = pr["probe_seconds"]
        # a job's seconds with `workers` in flight: planned from the probe epoch, then the slowest job seen
        expect = {side: epochs * probe[side] * workers / speedup for side in ("low", "full")}
        seen: dict[str, list[float]] = {"low": [], "full": []}
        inflight, end = 0, time.perf_counter() + self.clock.left()
        try:
            while queue or inflight:
                while queue and inflight < workers and self.clock.fits(expect[queue[0][1]]):
                    i, side = queue.pop(0)
                    pool.jobs.put((("proxy", i, side), "proxy", names[side], configs[i], epochs, self.seed,
                                   pr["step"] == "captured"))
                    inflight += 1
                if not inflight:
                    break
                key, kind, payload = pool.get(end - time.perf_counter())
                if kind != "done" or not key or key[0] != "proxy":
                    continue
                inflight -= 1
                _, i, side = key
                rows[i][side] = payload
                if payload.get("seconds"):
                    seen[side].append(payload["seconds"])
                    expect[side] = max(seen[side])
        except (TimeoutError, RuntimeError) as exc:  # out of time, or a trial process died
            self.skip("proxy", f"trainings in flight did not all end ({exc}); their processes were stopped")
            pool.close()
            self.pool = None
        left = [i for i in range(len(configs)) if "low" not in rows[i] or "full" not in rows[i]]
        if left:
            self.skip("proxy", f"configurations {', '.join(str(i + 1) for i in left)} of the planned {len(configs)} "
                      f"not trained on both sides within the time")
        pr["configs"] = [rows[i] for i in range(len(configs)) if i not in left]
        self.write()

    def part_proxy(self) -> None:
        from segmentation.space import config_dict, search_space
        from segmentation.train import train
        low, full = self.low_task.profile, self.full_task.profile
        space = common_profile(low, full)
        epochs_cap = self.proxy_epochs or min(low.max_epochs, full.max_epochs)  # both to the same R
        k_max = self.proxy_configs or (48 if self._cuda() else 24)
        k_min = min(k_max, 32 if self._cuda() else 3)
        workers, speedup = self._proxy_packing()
        captured_ok = self.result.get("captured", {}).get("within_tolerance") is True
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
              "recipe": {side: {"lr_schedule": prof.lr_schedule, "val_images": list(prof.val_images),
                                "channels_last": prof.channels_last, "max_epochs": prof.max_epochs}
                         for side, prof in (("low", low), ("full", full))},
              "packing": {"trial_processes": workers, "planned_speedup": speedup},
              "step": "captured" if captured_ok else "eager",  # captured only where this check verified it
              "epochs": None, "configs": [], "spearman": {}}
        self.result["proxy"] = pr
        configs = [config_dict(c) for c in search_space(space, seed=self.seed).sample_configuration(k_max)]
        if self.clock.left() <= 0:
            self.skip("proxy", "no time left")
            return
        from bench.instruments.bare import epoch_estimate
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
        avail = self.clock.left() / SAFETY * speedup  # the packed trials train `speedup` times as fast together
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
        log.info("proxy check: %d configurations x %d epochs on %s and %s (%.1f s per epoch pair, %d trial "
                 "process(es), planned speed-up %.2f)", k, epochs, low.name, full.name, per_epoch, workers, speedup)
        if workers > 1:
            self._proxy_packed(pr, configs[:k], epochs, workers, per_epoch, speedup)
        observed: list[float] = []  # seconds per epoch on both sides, of each configuration trained
        for i, cfg in enumerate(configs if workers == 1 else []):  # the planned k, then more while they fit
            est = epochs * (max(observed) if observed else per_epoch)
            if not self.clock.fits(est):
                if i < k:
                    self.skip("proxy", f"configurations {i + 1}-{k} not trained: about {est:.0f} s each, "
                              f"{self.clock.left():.0f} s left")
                break
            row = {"config": cfg}
            for side, task in (("low", self.low_task), ("full", self.full_task)):
                s0 = time.perf_counter()
                r, step = _proxy_train(train, cfg, epochs, self.seed, task, pr["step"] == "captured")
                row[side] = {"status": r.status, "error": r.error, "seconds": round(time.perf_counter() - s0, 2),
                             "step": step,
                             "val_loss": r.last.val_loss if r.status == "ok" else None,
                             "val_miou": r.last.val_miou if r.status == "ok" else None}
            pr["configs"].append(row)
            observed.append((row["low"]["seconds"] + row["full"]["seconds"]) / epochs)
            self.write()
        both = [c for c in pr["configs"] if c["low"]["status"] == "ok" and c["full"]["status"] == "ok"]
        pr["trained"] = len(pr["configs"])
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
    cap = r.get("captured")
    if cap and cap.get("status") != "skipped":
        d, t = cap.get("relative_difference", {}), cap.get("tolerance", {})
        es = cap.get("epoch_seconds", {})
        lines += ["## Eager vs captured step (default configuration)", "",
                  f"Status {cap['status']}" + (f" ({cap['error']})" if cap.get("error") else "")
                  + f"; first-step loss relative difference {_f(d.get('first_step'), '{:.2e}')} (tolerance "
                  f"{t.get('first')}), largest over the first {d.get('steps')} steps {_f(d.get('max_first_steps'), '{:.2e}')} "
                  f"(tolerance {t.get('steps')}): **{'within' if cap.get('within_tolerance') else 'outside'} tolerance**. "
                  f"Seconds per epoch: eager {_f(es.get('eager'), '{:.3f}')}, captured {_f(es.get('captured'), '{:.3f}')}"
                  + (f" (speed-up {cap['speedup']:.2f}x)." if cap.get("speedup") else "."), ""]
    pk = r.get("packing")
    if pk and pk.get("rows"):
        lines += ["## Several trials on one device (default configuration, eager step)", "",
                  "| K trials | aggregate train img/s | ratio to K = 1 | MFU (aggregate) | median s/epoch per trial | failed |",
                  "|---|---|---|---|---|---|"]
        for row in pk["rows"]:
            per = row["trial_epoch_seconds"]
            lines.append(f"| {row['k']} | {_f(row['aggregate_images_per_s'], '{:.0f}')} | {_f(row['ratio_to_one'])} | "
                         f"{_pct(row['mfu'])} | {_f(statistics.median(per) if per else None, '{:.3f}')} | "
                         f"{len(row['failed'])} |")
        lines += ["", f"{pk['note']}; {pk['epochs_measured']} measured epoch(s) after one warm-up epoch each.", ""]
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
        if pr.get("packing"):
            lines += [f"Trials packed: {pr['packing']['trial_processes']} trial process(es) on the device, planned "
                      f"speed-up {pr['packing']['planned_speedup']:.2f}x; training step: {pr.get('step', 'eager')} "
                      "(captured only where this check found it within tolerance).", ""]
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
              proxy_epochs: int | None = None, started: float | None = None, packing: str | None = None,
              proxy_workers: int | None = None, parts: str | None = None) -> Path:
    """Run the check; returns the JSON path. Raises CheckError (or DatasetError) for bad input.
    ``started``: ``time.perf_counter()`` when the command started (default: now). ``packing``: the
    numbers K of concurrent trials to measure ("1,2,4,8"); ``proxy_workers``: trial processes of the
    proxy check; ``parts``: which parts to run (comma-separated, default all of ``PARTS``)."""
    t0 = time.perf_counter() if started is None else started
    path, m = check_args(out, minutes)
    check = GpuCheck(path, Clock(m, start=t0), profile, data, device, seed, proxy_configs, proxy_epochs,
                     packing=packing, proxy_workers=proxy_workers, parts=parts)
    return check.run()
