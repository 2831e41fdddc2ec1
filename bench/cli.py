"""Command line: ``python -m bench COMMAND``.

Commands: ``train`` (one configuration on the real data), ``brackets`` (the
Hyperband planner), ``perf-task`` and ``perf-tuners`` (benchmarks that print numbers),
``gpu-check`` (the time-boxed measurement of the GPU path, ``bench.instruments.gpu_check``).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
from pathlib import Path

log = logging.getLogger("bench")


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _number(text: str):
    """int or float, so that the bracket checks (not argparse) explain a bad value."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return int(v) if v.is_integer() else v


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        out[key] = _parse_value(value)
    return out


TRAINING_PACKAGES = ("torch", "torchvision", "segmentation_models_pytorch")
TRAINING_COMMANDS = ("train", "record", "gpu-check", "perf-task", "perf-threads")


def _training_missing(what: str) -> bool:
    """Say in one line (and return True) when the packages of real training (the ``train`` extra) are
    not installed; a light install replays, plans and builds the paper without them."""
    import importlib.util
    missing = [m for m in TRAINING_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        print(f"error: {what} trains models and needs {', '.join(missing)}, not installed: install the training "
              "extra (pip install -e \".[train]\"); replayed suites, bench brackets and the paper run without it",
              file=sys.stderr)
    return bool(missing)


def cmd_train(args) -> int:
    from bench.loop.tasks import train_once
    return train_once(profile=args.profile, epochs=args.epochs, seed=args.seed,
                      overrides=_overrides(args.set), data=args.data, device=args.device,
                      with_test=args.test, predict_dir=args.predict_dir, captured=args.captured_step)


def cmd_brackets(args) -> int:
    from bench.config.planner import plan_text, plan_json
    kw = dict(max_budget=args.max_budget, eta=args.eta, min_budget=args.min_budget,
              convention=args.convention, max_brackets=args.max_brackets)
    try:
        print(json.dumps(plan_json(**kw)) if args.json else plan_text(**kw))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_reference(args) -> int:
    """Write (or ``--check``) the generated reference pages."""
    from bench.reference import write
    if not args.check and not Path(args.out).parent.is_dir():
        print(f"error: --out: cannot write {args.out}: folder {Path(args.out).parent} does not exist", file=sys.stderr)
        return 2
    differ = write(Path(args.out), build_parser, check=args.check)
    for name in differ:
        print(f"{'out of date' if args.check else 'wrote'}: {Path(args.out) / name}")
    if args.check and differ:
        print("run `python -m bench reference` to regenerate", file=sys.stderr)
        return 1
    return 0


def cmd_methods(args) -> int:
    """Every method's parameters, from their declarations (``methods.PARAMS``)."""
    from methods import PARAMS
    from methods.params import describe
    for name in sorted(PARAMS) if not args.method else args.method:
        if name not in PARAMS:
            print(f"error: unknown method {name!r}; registered: {sorted(PARAMS)}", file=sys.stderr)
            return 2
        print(name)
        for p in describe(PARAMS[name]):
            default = "absent" if p["default"] is None else json.dumps(p["default"])
            print(f"  {p['name']} (default {default}): {p['expected']}")
    return 0


def cmd_run(args) -> int:
    from pathlib import Path

    from bench.storage.packing import DB_NAME
    from bench.loop.runner import ResumeError, Runner, RunStuck, SuiteChanged, fresh_start
    from bench.storage.store import acquire_lock, release_lock
    from bench.config.suite import SuiteError, load_suite
    from segmentation.data import DatasetError

    try:
        suite = load_suite(args.suite)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if suite.backend != "replay" and _training_missing(f"{suite.path} (backend = \"{suite.backend}\")"):
        return 2
    if suite.backend == "replay" and max(suite.worker_counts) > 1 and (args.workers or args.scheduler):
        print(f"error: {suite.path}: key 'workers': simulated workers ({suite.workers}) cannot be combined with "
              "--workers/--scheduler (a Dask cluster); drop one of them", file=sys.stderr)
        return 2
    if args.processes is not None:
        if suite.backend != "replay":
            print(f"error: --processes {args.processes}: {suite.path} is not a replayed suite (backend = "
                  f"\"{suite.backend}\"); train in parallel with --workers N or --scheduler", file=sys.stderr)
            return 2
        if args.processes < 1 or args.workers or args.scheduler:
            print(f"error: --processes {args.processes}: expected a positive number of processes, without "
                  "--workers/--scheduler", file=sys.stderr)
            return 2
    results = Path(args.results) if args.results else Path("results") / suite.name
    from bench.loop.lifeline import Terminated, terminate_as_interrupt
    terminate_as_interrupt()  # kill PID ends like Ctrl-C: store folded, pool ended, scratch removed
    try:
        if args.fresh:  # not while another driver writes the store being moved
            results.mkdir(parents=True, exist_ok=True)
            lock = acquire_lock(results / DB_NAME)
            try:
                moved = fresh_start(results)
            finally:
                release_lock(lock)
            if moved:
                log.info("moved the earlier results to %s", moved)
        if args.processes is not None:
            from bench.loop.sweep import run_in_processes
            return run_in_processes(suite, results, args.processes, progress=not args.no_progress,
                                    prefix_reuse=not args.no_prefix_reuse)
        runner = Runner(suite, results, workers=args.workers, scheduler=args.scheduler, data=args.data,
                        device=args.device, checkpoints=args.checkpoints, progress=not args.no_progress,
                        prefix_reuse=not args.no_prefix_reuse)
        return runner.run()
    except (SuiteChanged, ResumeError, SuiteError, RunStuck) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DatasetError as exc:
        print(f"error: {exc} (the suite stopped with nothing marked done: fix the dataset and run the same "
              f"command again to resume {results})", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be made, a full disk, a scheduler that went away
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or exc}; everything recorded so far is in {results}: fix the cause "
              f"and run the same command again to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        log.warning("%s: everything recorded so far is in %s; run the same command again to resume",
                    "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted", results)
        return 143 if isinstance(exc, Terminated) else 130


def cmd_compare(args) -> int:
    """A suite's methods on a reference store's grid, then the comparison report (``bench/compare.py``,
    ``paper/compare.py``)."""
    from pathlib import Path

    from bench.compare import CompareError, prepare
    from bench.loop.runner import ResumeError, Runner, RunStuck, SuiteChanged
    from bench.config.suite import SuiteError
    try:
        suite, results = prepare(args.suite, args.against, args.results)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.processes and args.processes > 1:
            from bench.loop.sweep import run_in_processes
            rc = run_in_processes(suite, results, args.processes, progress=not args.no_progress)
        else:
            rc = Runner(suite, results, progress=not args.no_progress).run()
    except (SuiteChanged, ResumeError, SuiteError, RunStuck) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted: everything recorded so far is in %s; run the same command again to resume",
                    results)
        return 130
    if rc != 0:
        return rc
    for noisy in ("fontTools", "matplotlib.category"):  # PDF font subsetting, seaborn's categorical axis
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bench.compare import reference_grid
    from paper.compare import report  # the paper's statistics; paper only reads the two stores
    print(report(args.against, results, reference_grid(args.against), args.suite))
    return 0


def cmd_status(args) -> int:
    import pandas as pd

    from bench.storage.report import status_table
    try:
        table = status_table(args.results)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False) if len(table) else "no runs yet")
    return 0


def cmd_speed(args) -> int:
    from bench.storage.report import speed_table
    try:
        print(speed_table(args.results, total=True).to_string(index=False))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from bench.storage.report import export
    if args.out and not Path(args.out).parent.is_dir():
        print(f"error: --out: cannot write {args.out}: folder {Path(args.out).parent} does not exist",
              file=sys.stderr)
        return 2
    try:
        print(export(args.results, args.format, args.out))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --out in a missing folder, a read-only place, a directory
        print(f"error: --out: cannot write {args.out or args.results}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,2, got {text!r}") from None


def cmd_record(args) -> int:
    import time
    started = time.time()  # --minutes counts from here, imports included
    from bench.loop.record import RecordWorkerError, parse_shard, record
    from segmentation.data import DatasetError
    try:
        out = record(args.profile, args.configs, args.seed, args.results, args.data, args.device,
                     chunk=args.chunk, epochs=args.epochs, progress=not args.no_progress,
                     train_seeds=args.train_seeds, shard=parse_shard(args.shard), threads=args.threads,
                     remeasure_cpu=args.remeasure_cpu, workers=args.workers, budgets=args.budgets,
                     minutes=args.minutes, started=started)
    except (DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RecordWorkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


def cmd_recipe_report(args) -> int:
    from bench.tables.recipe import recipe_report
    try:
        print(recipe_report(args.results))
    except (FileNotFoundError, ValueError, sqlite3.DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_export_curves(args) -> int:
    from pathlib import Path

    from bench.tables.curves import export_curves
    from bench.storage.store import StoreError
    out = Path(args.out) if args.out else Path("results") / "curves" / f"{Path(args.results[0]).name}.csv"
    try:
        print(export_curves([Path(r) for r in args.results], out, partial=args.partial))
    except (FileNotFoundError, ValueError, sqlite3.DatabaseError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # --out a directory, a read-only place, a full disk
        print(f"error: --out: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def cmd_export_table(args) -> int:
    from bench.tables.export import export_table
    from bench.tables.table import TableError, load_table
    try:
        for path in export_table(load_table(args.table, args.profile), args.format, args.out):
            print(path)
    except (TableError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_pack(args) -> int:
    from bench.storage.packing import pack, unpack
    try:
        out = unpack(args.results, force=args.force) if args.command == "unpack" else pack(args.results)
    except (FileNotFoundError, FileExistsError, ValueError, sqlite3.DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


def cmd_crash_test(args) -> int:
    from pathlib import Path

    from bench.instruments.crashtest import crash_test
    from bench.config.suite import SuiteError, load_suite
    for suite in args.suites:  # every suite checked before the first is run
        try:
            load_suite(suite)
        except SuiteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    failed = 0
    if args.random_kills:  # kills at random moments, not at store writes
        from bench.instruments.crashtest import random_attack
        extra = ["--processes", str(args.processes)] if args.processes else []
        for suite in args.suites:
            tag = Path(suite).stem + (f"-p{args.processes}" if args.processes else "")
            report = random_attack(Path(suite), Path(args.work) / tag, args.random_kills, jobs=args.jobs,
                                   extra_args=extra, seed=args.seed,
                                   progress=(lambda i, line: log.info("store %d: %s", i, line)) if args.verbose
                                   else None)
            print(report.line())
            for i, err in report.errors[:5]:
                print(f"  store {i}: {err}")
            for ex in report.examples[:5]:
                print(f"  {ex}")
            failed += not report.ok
        return 1 if failed else 0
    for suite in args.suites:
        report = crash_test(Path(suite), Path(args.work) / Path(suite).stem, jobs=args.jobs,
                            stop_after=args.stop_after,
                            progress=(lambda k, line: log.info("k=%d: %s", k, line)) if args.verbose else None)
        print(report.line())
        for k, err in report.errors[:5]:
            print(f"  k={k}: {err}")
        for ex in report.examples[:5]:
            print(f"  {ex}")
        failed += not report.ok
    return 1 if failed else 0


def cmd_perf_task(args) -> int:
    from bench.instruments.perf import perf_task
    return perf_task(args.profile, args.epochs, data=args.data, device=args.device, threads=args.threads or None)


def cmd_perf_threads(args) -> int:
    from bench.instruments.perf import perf_threads
    return perf_threads(args.profile, args.epochs, args.jobs)


def cmd_perf_tuners(args) -> int:
    from bench.instruments.perf import perf_tuners
    return perf_tuners(args.methods, args.points, args.repeats)


def cmd_perf_startup(args) -> int:
    from bench.instruments.startup import main as perf_startup
    return perf_startup(args.against, args.repeats)


def cmd_gpu_check(args) -> int:
    import time
    started = time.perf_counter()  # --minutes counts from here, imports included
    from bench.instruments.gpu_check import CheckError, gpu_check
    from segmentation.data import DatasetError
    try:
        path = gpu_check(args.out, args.minutes, args.profile, args.data, args.device, args.seed,
                         args.proxy_configs, args.proxy_epochs, started, packing=args.packing,
                         proxy_workers=args.proxy_workers, parts=args.parts)
    except (CheckError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    print(path.with_suffix(".md"))
    errors = json.loads(path.read_text()).get("errors")
    for e in errors:
        print(f"error in part {e['part']}: {e['error']}", file=sys.stderr)
    return 1 if errors else 0


def build_parser() -> argparse.ArgumentParser:
    from bench.cliargs import OneLineParser  # every usage error on one line
    p = OneLineParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one configuration on the real data and print its metrics")
    t.add_argument("--profile", default="cpu")
    t.add_argument("--epochs", type=int, default=3, help="epochs to train (total)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter of the profile's default configuration")
    t.add_argument("--data", default=None, help="dataset folder (default ../shared/data/dubai-aerial)")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    t.add_argument("--test", action="store_true", help="also report the test split (Tile 5)")
    t.add_argument("--predict-dir", default=None, help="write colour-mask predictions of Tile 5 here")
    t.add_argument("--captured-step", action="store_true",
                   help="train with the captured step (one CUDA graph per step; CUDA only, refused elsewhere)")
    t.set_defaults(func=cmd_train)

    b = sub.add_parser("brackets", help="print Hyperband's brackets and their cost")
    b.add_argument("--max-budget", type=_number, required=True, help="R: most epochs one configuration gets")
    b.add_argument("--eta", type=_number, default=3)
    b.add_argument("--min-budget", type=_number, default=1, help="fewest epochs one configuration gets")
    b.add_argument("--convention", choices=["algorithm1", "table1"], default="algorithm1")
    b.add_argument("--max-brackets", type=_number, default=None)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_brackets)

    mt = sub.add_parser("methods", help="each method's parameters: type, range, default, meaning")
    mt.add_argument("method", nargs="*", help="only these methods (default: all)")
    mt.set_defaults(func=cmd_methods)

    rf = sub.add_parser("reference", help="write docs/reference/*.md (CLI, suite keys, methods, store schema) "
                                          "from their declarations")
    rf.add_argument("--out", default="docs/reference", help="folder of the pages (default docs/reference)")
    rf.add_argument("--check", action="store_true", help="only compare; exit 1 if a page is out of date")
    rf.set_defaults(func=cmd_reference)

    r = sub.add_parser("run", help="run (or resume) a suite")
    r.add_argument("suite", help="a suite TOML file, e.g. bench/suites/smoke.toml")
    r.add_argument("--results", default=None, help="results directory (default results/<suite name>/)")
    r.add_argument("--workers", type=int, default=None, help="start a Dask LocalCluster of N workers")
    r.add_argument("--scheduler", default=None, help="use an existing Dask cluster, tcp://HOST:8786")
    r.add_argument("--checkpoints", default=None, help="checkpoint directory (shared by all workers)")
    r.add_argument("--data", default=None)
    r.add_argument("--device", default=None)
    r.add_argument("--processes", type=int, default=None,
                   help="replayed suites: run whole runs side by side in P processes (each run's rows are "
                        "stored when it ends; see bench/loop/sweep.py)")
    r.add_argument("--fresh", action="store_true", help="move earlier results aside and start fresh")
    r.add_argument("--no-prefix-reuse", action="store_true",
                   help="replayed suites: replay every B on its own instead of cutting the smaller budgets' runs "
                        "from the largest (the same rows, about twice the CPU time; see bench/loop/prefix.py)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)

    cm = sub.add_parser("compare", help="run a suite's methods on a reference store's grid (budgets, seeds, table, "
                                         "answering mode, objective: as its runs recorded) and report the comparison")
    cm.add_argument("suite", help="a suite TOML file with the methods to compare ([[methods]])")
    cm.add_argument("--against", required=True, help="the reference results directory, e.g. results/nvsbn")
    cm.add_argument("--results", default=None, help="results directory (default results/compare-<suite name>/)")
    cm.add_argument("--processes", type=int, default=None, help="run whole runs side by side in P processes")
    cm.add_argument("--no-progress", action="store_true", help="no progress bars")
    cm.set_defaults(func=cmd_compare)

    st = sub.add_parser("status", help="per run: done, running or interrupted; epochs; best so far")
    st.add_argument("results")
    st.set_defaults(func=cmd_status)

    sp = sub.add_parser("speed", help="per method family and in all: wall and training (or simulated) seconds, "
                                      "epochs and jobs per wall second")
    sp.add_argument("results")
    sp.set_defaults(func=cmd_speed)

    ex = sub.add_parser("export", help="write one tidy table, one row per evaluated epoch")
    ex.add_argument("results")
    ex.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ex.add_argument("--out", default=None)
    ex.set_defaults(func=cmd_export)

    rc = sub.add_parser("record", help="record learning curves: N sampled configurations trained to R epochs")
    rc.add_argument("--profile", default="cpu")
    rc.add_argument("--configs", type=int, required=True)
    rc.add_argument("--seed", type=int, default=0)
    rc.add_argument("--results", default=None, help="default results/curves-raw/<profile>-seed<S>[-shardKofN]/")
    rc.add_argument("--epochs", type=int, default=None, help="R (default: the profile's)")
    rc.add_argument("--chunk", type=int, default=3, help="checkpoint every this many epochs (for resume)")
    rc.add_argument("--train-seeds", type=_int_list, default=None, metavar="0,1,2",
                    help="training seeds of every configuration (default: the record's --seed alone)")
    rc.add_argument("--shard", default=None, metavar="K/N",
                    help="record only configurations i with i %% N == K, into their own store")
    rc.add_argument("--threads", type=int, default=1,
                    help="torch threads of this process (default 1; 0 = torch's default)")
    rc.add_argument("--workers", type=int, default=1,
                    help="jobs trained at a time, each in its own worker process with --threads threads; this "
                         "process writes every row (default 1: train here)")
    rc.add_argument("--budgets", type=_int_list, default=None, metavar="1,3,9",
                    help="on a budget-aware profile (cpu-v2-budget): train every configuration and seed once per "
                         "budget r, each a fresh training whose schedule ends at r (default: R alone)")
    rc.add_argument("--remeasure-cpu", action="store_true",
                    help="first retrain finished jobs whose epochs lack CPU seconds and fill them in")
    rc.add_argument("--data", default=None)
    rc.add_argument("--device", default=None)
    rc.add_argument("--no-progress", action="store_true")
    rc.add_argument("--minutes", default=None,
                    help="stop at a chunk boundary before this many minutes (wall clock); the same command resumes")
    rc.set_defaults(func=cmd_record)

    rr = sub.add_parser("recipe-report", help="seed noise vs spread between configurations, per recorded recipe")
    rr.add_argument("results", nargs="+", help="recording directories (bench record with several --train-seeds)")
    rr.set_defaults(func=cmd_recipe_report)

    ec = sub.add_parser("export-curves", help="write a store's learning curves as a table for replay")
    ec.add_argument("results", nargs="+",
                    help="results directories (of bench record, e.g. its shards, or of bench run), joined")
    ec.add_argument("--out", default=None, help="CSV or .parquet (default results/curves/<dir name>.csv)")
    ec.add_argument("--partial", action="store_true",
                    help="export a recording that has not finished: only its curves that ended, and the "
                         "table's .meta.json says complete: false (default: refuse)")
    ec.set_defaults(func=cmd_export_curves)

    et = sub.add_parser("export-table", help="write a recorded curves table for other tools: a flat parquet table "
                                             "with configspace.json, or Syne Tune's blackbox-repository folder")
    et.add_argument("table", help="a table's name in results/curves/ (e.g. cpu-v2) or a path to one")
    et.add_argument("--format", required=True, choices=["parquet", "syne-tune"])
    et.add_argument("--out", required=True, help="directory to write into (created)")
    et.add_argument("--profile", default=None, help="the table's profile (default: from its .meta.json)")
    et.set_defaults(func=cmd_export_table)

    pk = sub.add_parser("pack", help="write DIR/results.db.xz (a compressed snapshot of the store) to commit")
    pk.add_argument("results")
    pk.set_defaults(func=cmd_pack)
    up = sub.add_parser("unpack", help="restore DIR/results.db from DIR/results.db.xz")
    up.add_argument("results")
    up.add_argument("--force", action="store_true", help="replace an existing results.db")
    up.set_defaults(func=cmd_pack)

    ct = sub.add_parser("crash-test", help="kill each suite's run at every store write, resume, compare with an "
                                           "uninterrupted run (prints kills, rows compared, lost, doubled, differing)")
    ct.add_argument("suites", nargs="+", help="suite TOML files (small ones: every store write costs two runs)")
    ct.add_argument("--work", default="runs/crash-test", help="scratch folder (emptied per suite)")
    ct.add_argument("--jobs", type=int, default=2, help="kills run side by side")
    ct.add_argument("--stop-after", type=int, default=None, help="only k = 1 ... this (default: every write)")
    ct.add_argument("--random-kills", type=int, default=None,
                    help="instead of one kill per store write: SIGKILL the driver at random moments until this "
                         "many kills have landed (each store killed up to twice, then resumed to the end)")
    ct.add_argument("--processes", type=int, default=None,
                    help="with --random-kills: run every bench run with --processes P")
    ct.add_argument("--seed", type=int, default=0, help="with --random-kills: seed of the kill moments")
    ct.set_defaults(func=cmd_crash_test)

    pt = sub.add_parser("perf-task", help="seconds per epoch of the default and the costliest configurations")
    pt.add_argument("--profile", default="cpu")
    pt.add_argument("--epochs", type=int, default=2)
    pt.add_argument("--data", default=None)
    pt.add_argument("--device", default=None)
    pt.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0 = torch's default)")
    pt.set_defaults(func=cmd_perf_task)

    ph = sub.add_parser("perf-threads", help="one 2-thread process against two 1-thread processes, same work")
    ph.add_argument("--profile", default="cpu-v2")
    ph.add_argument("--epochs", type=int, default=2, help="epochs per training")
    ph.add_argument("--jobs", type=int, default=2, help="trainings in all (split over the processes in (b))")
    ph.set_defaults(func=cmd_perf_threads)

    gc = sub.add_parser("gpu-check", help="time-boxed check of the GPU path: trainer vs bare loop, MFU, memory, "
                        "cpu-proxy rank correlation (JSON + Markdown into --out)")
    gc.add_argument("--out", required=True, help="directory for <profile>-<device>.json and .md (created)")
    gc.add_argument("--minutes", default="9", help="wall-clock limit of the whole check (default 9)")
    gc.add_argument("--profile", default="gpu",
                    help="gpu (default), gpu-v2, cpu, or smoke (a tiny setting for CPU tests)")
    gc.add_argument("--data", default=None, help="dataset folder (default ../shared/data/dubai-aerial)")
    gc.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    gc.add_argument("--seed", type=int, default=0)
    gc.add_argument("--proxy-configs", type=int, default=None,
                    help="most configurations in the proxy check (default 24; at least 8 on a GPU when time allows)")
    gc.add_argument("--proxy-epochs", type=int, default=None,
                    help="most epochs per configuration in the proxy check (default R, the same for both profiles)")
    gc.add_argument("--packing", default=None,
                    help="numbers of concurrent trials on the device to measure (default 1,2,4,8; on a CPU up to its cores)")
    gc.add_argument("--proxy-workers", type=int, default=None,
                    help="trial processes of the proxy check (default: the fastest K of the packing part)")
    gc.add_argument("--parts", default=None,
                    help="only these parts, comma-separated: throughput,captured,packing,max_batch,proxy (default all)")
    gc.set_defaults(func=cmd_gpu_check)

    pu = sub.add_parser("perf-tuners", help="time per ask()+tell() of each method")
    pu.add_argument("--methods", nargs="*", default=None)
    pu.add_argument("--points", type=int, nargs="*", default=[10, 50, 100])
    pu.add_argument("--repeats", type=int, default=20)
    pu.set_defaults(func=cmd_perf_tuners)

    ps = sub.add_parser("perf-startup", help="start-up of bench brackets and a one-run replayed bench run against "
                                             "python -c pass (seconds, ratio)")
    ps.add_argument("--against", default=None, help="another copy of the project to time in the same run (before/after)")
    ps.add_argument("--repeats", type=int, default=3, help="runs of each command; the minimum is reported (default 3)")
    ps.set_defaults(func=cmd_perf_startup)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bench.cliargs import ArgError, check_args
    try:
        check_args(args)  # ranges, devices, writable directories: bench.cliargs.RULES
    except ArgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not args.verbose:
        for noisy in ("smac", "distributed", "ConfigSpace"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command in ("status", "speed", "brackets", "methods") and hasattr(signal, "SIGPIPE"):
        # printing commands end quietly when piped into `head`; never for run/record, whose
        # sockets (Dask) must see EPIPE as an error rather than die of the signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.command in TRAINING_COMMANDS and _training_missing(f"bench {args.command}"):
        return 2
    from bench.storage.store import StoreError
    try:
        return int(args.func(args) or 0)
    except StoreError as exc:  # damaged, locked by another driver, full: one line says what to do
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # damage that the opening check did not see
        if "full" in str(exc).lower():  # "database or disk is full": nothing is damaged
            print(f"error: {exc}: free space (or move the results directory) and run the same command again; "
                  "everything recorded before is kept", file=sys.stderr)
            return 2
        print(f"error: the results store is unreadable ({exc}); restore it from a copy (git checkout, or "
              f"python -m bench unpack DIR --force) or move it aside (bench run --fresh)", file=sys.stderr)
        return 2
