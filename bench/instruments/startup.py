"""Start-up benchmark (``python -m bench perf-startup``): how long the light commands take against a
bare interpreter, measured in one run so that the machine's load is shared.

Commands, each a fresh process: ``python -c pass`` (the floor), ``python -m bench brackets
--max-budget 27 --eta 3`` (the planner: integer arithmetic only) and ``python -m bench run`` of a
one-run replayed suite (Hyperband, B = 1 R, seed 0, on ``results/curves/cpu-v2.csv``, into a fresh
results directory). Each is timed ``repeats`` times, interleaved; the minimum wall time (seconds)
is reported, with its ratio to ``python -c pass`` and the difference in seconds, and so is the minimum
CPU time (user + system of the child: steadier than wall time on a loaded machine). ``--against DIR``
times the same commands in another copy of the project (e.g. ``git archive`` of an older commit)
in the same run, so that before and after share the machine's load.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = """description = "one replayed run, for the start-up benchmark"
profile = "cpu-v2"
backend = "replay"
curves = "{curves}"
budgets = [1]
seeds = [0]

[[methods]]
label = "hb"
method = "hyperband"
params = {{ eta = 3 }}
"""


def _commands(repo: Path, scratch: Path) -> dict[str, list[str]]:
    suite = scratch / "one-run.toml"
    suite.write_text(SUITE.format(curves=(repo / "results" / "curves" / "cpu-v2.csv").as_posix()))
    py = sys.executable
    return {"python -c pass": [py, "-c", "pass"],
            "bench brackets --max-budget 27 --eta 3": [py, "-m", "bench", "brackets", "--max-budget", "27",
                                                        "--eta", "3"],
            "bench run (1 replayed run)": [py, "-m", "bench", "run", str(suite), "--results", "{results}",
                                           "--no-progress"]}


def _time(cmd: list[str], repo: Path, scratch: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: the child's user + system time) of one run of ``cmd``."""
    results = Path(tempfile.mkdtemp(dir=scratch)) / "results"
    cmd = [results.as_posix() if c == "{results}" else c for c in cmd]
    env = dict(os.environ, PYTHONPATH=str(repo))  # this copy's packages, not the installed ones
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} in {repo} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_times(repos: list[Path], repeats: int = 3) -> list[dict]:
    """Per (tree, command): the minimum wall seconds over ``repeats`` interleaved runs (``seconds``, ``ratio`` and
    ``over_bare`` against ``python -c pass``), and the minimum CPU seconds, user + system (``cpu_seconds``,
    ``cpu_ratio``, ``cpu_over_bare``): on a loaded machine the CPU time is the steadier of the two."""
    best: dict[tuple[str, str], float] = {}
    cpu: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        plans = {}
        for i, repo in enumerate(repos):
            (scratch / f"t{i}").mkdir()
            plans[str(repo)] = _commands(Path(repo), scratch / f"t{i}")
        for _ in range(repeats):
            for repo, commands in plans.items():
                for name, cmd in commands.items():
                    s, c = _time(cmd, Path(repo), scratch)
                    best[(repo, name)] = min(s, best.get((repo, name), float("inf")))
                    cpu[(repo, name)] = min(c, cpu.get((repo, name), float("inf")))
    out = []
    for repo, commands in plans.items():
        floor, cfloor = best[(repo, "python -c pass")], cpu[(repo, "python -c pass")]
        for name in commands:
            s, c = best[(repo, name)], cpu[(repo, name)]
            out.append({"tree": repo, "command": name, "seconds": s, "ratio": s / floor, "over_bare": s - floor,
                        "cpu_seconds": c, "cpu_ratio": c / cfloor if cfloor > 0 else float("nan"),
                        "cpu_over_bare": c - cfloor})
    return out


def main(against: str | None, repeats: int) -> int:
    repos = [REPO] + ([Path(against).resolve()] if against else [])
    for r in repos[1:]:
        if not (r / "bench" / "cli.py").is_file():
            print(f"error: --against {r}: expected a copy of this project (with bench/cli.py)", file=sys.stderr)
            return 2
    if repeats < 1:
        print(f"error: --repeats {repeats}: expected a positive number", file=sys.stderr)
        return 2
    rows = startup_times(repos, repeats)
    print(f"start-up, minimum of {repeats} interleaved runs each: wall seconds and CPU seconds (user + system), "
          "each with its ratio and difference to `python -c pass` in the same tree")
    for r in rows:
        print(f"{r['tree']:<28} {r['command']:<40} wall {r['seconds']:7.2f} s {r['ratio']:6.1f}x "
              f"+{r['over_bare']:.2f} s   CPU {r['cpu_seconds']:7.2f} s {r['cpu_ratio']:6.1f}x "
              f"+{r['cpu_over_bare']:.2f} s")
    return 0
