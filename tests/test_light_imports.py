"""What the light commands import: the planner no tuner library and no ConfigSpace, a replayed run
no torch and only the tuner libraries its methods use (speed itself: python -m bench perf-startup)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "smac", "optuna", "dehb", "skopt", "sklearn", "ConfigSpace", "pandas", "segmentation_models_pytorch",
         "tqdm")


def _loaded(code: str) -> list[str]:
    probe = code + f"\nimport sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_planner_imports_no_tuner_library():
    code = ("from bench.cli import main\n"
            "assert main(['brackets', '--max-budget', '27', '--eta', '3']) == 0\n"
            "import methods; assert 'optuna' in methods.REGISTRY and len(methods.PARAMS) == len(methods.REGISTRY)")
    assert _loaded(code) == []


def test_replayed_run_imports_no_torch_and_only_its_tuners_library(tmp_path):
    suite = tmp_path / "one.toml"
    suite.write_text(f'''description = "one replayed run"
profile = "cpu-v2"
backend = "replay"
curves = "{(REPO / 'results/curves/cpu-v2.csv').as_posix()}"
max_budget = 9
budgets = [1]
seeds = [0]

[[methods]]
label = "hb"
method = "hyperband"
params = {{ eta = 3 }}
''')
    code = (f"from bench.cli import main\n"
            f"assert main(['run', {str(suite)!r}, '--results', {str(tmp_path / 'res')!r}, '--no-progress']) == 0")
    # the space and the table; hyperband is hand-written; no progress bars, no tqdm
    assert _loaded(code) == ["ConfigSpace", "pandas"]
