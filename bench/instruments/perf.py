"""Benchmarks that print numbers (no timed tests): task epoch cost and tuner overhead."""
from __future__ import annotations

import math
import shutil
import statistics
import tempfile
import time

import numpy as np

from methods import FINISHED, REGISTRY, WAIT, make_tuner


def toy_space(seed: int = 0):
    """A 6-dimensional space like the task's: two log floats, a float, an integer, two categoricals."""
    from ConfigSpace import (CategoricalHyperparameter, ConfigurationSpace, UniformFloatHyperparameter,
                             UniformIntegerHyperparameter)
    cs = ConfigurationSpace(seed=seed)
    cs.add([UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True),
            UniformFloatHyperparameter("wd", 1e-6, 1e-2, log=True),
            UniformFloatHyperparameter("dropout", 0.0, 0.5),
            UniformIntegerHyperparameter("width", 8, 64, log=True),
            CategoricalHyperparameter("encoder", ["a", "b", "c", "d"]),
            CategoricalHyperparameter("augment", [True, False])])
    return cs


def toy_loss(config: dict, resource: int) -> float:
    """A cheap objective with a known optimum and a learning-curve-like resource effect."""
    x = (math.log10(config["lr"]) + 2.5) ** 2 + 0.1 * (math.log10(config["wd"]) + 4) ** 2
    x += (config["dropout"] - 0.2) ** 2 + 0.01 * abs(config["width"] - 32) + 0.3 * "abcd".index(config["encoder"])
    x += 0.2 * (not config["augment"])
    return x + 2.0 / (1 + resource)


def perf_tuners(methods=None, points=(10, 50, 100), repeats=20, max_budget=27) -> int:
    methods = methods or sorted(REGISTRY)
    print(f"time per ask()+tell() pair on a 6-dimensional space, {repeats} pairs measured after k observations")
    print(f"{'method':>20} " + " ".join(f"{'k=' + str(k) + ' median':>14} {'p95':>8}" for k in points) + "  (ms)")
    for method in methods:
        workdir = tempfile.mkdtemp(prefix="perf-")
        tuner = make_tuner(method, toy_space(), 0, 1, max_budget, workdir=workdir)
        told, cells = 0, []
        for k in points:
            times = []
            while told < k + repeats:
                t0 = time.perf_counter()
                job = tuner.ask()
                if job is WAIT or job is FINISHED:
                    raise RuntimeError(f"{method} returned {job} in a sequential loop")
                tuner.tell(job, toy_loss(job.config, job.resource))
                dt = time.perf_counter() - t0
                told += 1
                if told > k:
                    times.append(dt)
            cells.append(f"{statistics.median(times) * 1e3:>14.1f} {np.percentile(times, 95) * 1e3:>8.1f}")
        print(f"{method:>20} " + " ".join(cells), flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def perf_task(profile: str, epochs: int = 2, data=None, device=None, threads: int | None = 1) -> int:
    """Seconds per epoch (training + validation; median over epochs after the first) of the default and
    the costliest configurations, each next to the bare hand-written loop (``bench.instruments.bare``) on the same
    batches in the same run; the ratio trainer / bare is the trainer's overhead (1.00 = none).
    ``threads``: torch threads (default 1, as recordings run; None: torch's default)."""
    import torch

    from segmentation.space import default_config
    from segmentation.train import load_task, train
    from bench.instruments.bare import bare_eval, bare_model, bare_train
    from bench.storage.meta import device_string
    if threads:
        torch.set_num_threads(int(threads))
    task = load_task(profile, data, None, device)
    p = task.profile
    base = default_config(p)
    widest, smallest_batch = max(p.decoder_widths), min(p.batch_sizes)
    configs = [("default", base)] + [
        (f"{enc}, width {widest}, batch {smallest_batch}, dice_focal",
         dict(base, encoder=enc, decoder_width=widest, batch_size=smallest_batch, loss="dice_focal"))
        for enc in p.encoders]
    print(f"profile {profile} on {device_string(str(task.device))}: {task.data.counts()['train']} training patches "
          f"of {p.patch} px, {task.data.counts()['val']} validation; seconds per epoch (train + validation), "
          f"median of epochs 2..{epochs} (epoch 1 if only one), trainer vs bare loop on the same batches")
    print(f"  {'configuration':<48} {'trainer':>8} {'bare':>8} {'ratio':>6} {'vs default':>10}")
    ref = None
    for name, cfg in configs:
        r = train(cfg, epochs, 0, task)
        secs = [e.seconds for e in r.epochs]
        sec = statistics.median(secs[1:] or secs)
        b = bare_train(cfg, task, epochs, 0)
        evals = bare_eval(bare_model(cfg, p, task.device), task, "val")
        bare = statistics.median(b["seconds"][1:] or b["seconds"]) + evals
        ref = ref or sec
        print(f"  {name:<48} {sec:7.2f}s {bare:7.2f}s {sec / bare:6.2f} {sec / ref:9.2f}x", flush=True)
    return 0


_TRAIN_SNIPPET = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
from segmentation.space import default_config
from segmentation.train import load_task, train
task = load_task(sys.argv[1])
cfg = default_config(task.profile)
t0 = time.perf_counter()
for k in range(int(sys.argv[4])):
    train(cfg, int(sys.argv[3]), k, task)
print(time.perf_counter() - t0)
"""


def perf_threads(profile: str = "cpu-v2", epochs: int = 2, jobs: int = 2) -> int:
    """Wall seconds for the same work (``jobs`` trainings of the default configuration for ``epochs``
    epochs each) done (a) by one process with 2 torch threads, one training after another, and
    (b) by 2 one-thread processes side by side, each doing half the trainings. Data preparation
    and imports are excluded (each process times its own training loop only)."""
    import subprocess
    import sys

    from segmentation.train import load_task
    load_task(profile)  # the prepared arrays are cached before anything is timed

    def launch(threads: int, n: int):
        return subprocess.Popen([sys.executable, "-c", _TRAIN_SNIPPET, profile, str(threads), str(epochs), str(n)],
                                stdout=subprocess.PIPE, text=True)

    print(f"profile {profile}: {jobs} trainings of the default configuration, {epochs} epochs each "
          f"({jobs * epochs} epochs in all); wall seconds of the training loops")
    t0 = time.perf_counter()
    one = float(launch(2, jobs).communicate()[0].split()[-1])
    a_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = [launch(1, jobs // 2 + (k < jobs % 2)) for k in range(2)]
    two = [float(p.communicate()[0].split()[-1]) for p in procs]
    b_wall = time.perf_counter() - t0
    print(f"  (a) 1 process x 2 threads   : {one:7.1f} s of training ({a_wall:.1f} s wall with start-up)")
    print(f"  (b) 2 processes x 1 thread  : {max(two):7.1f} s of training ({b_wall:.1f} s wall with start-up); "
          f"per process {', '.join(f'{t:.1f}' for t in two)}")
    print(f"  (b) is {one / max(two):.2f}x as fast as (a) for the same work")
    return 0
