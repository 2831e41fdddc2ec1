"""The README's "Using the tables from your own code" example runs as written."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using the tables from your own code"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_table_example_runs():
    code = _example()
    assert len(code.splitlines()) < 30
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cpu-v2 1.0 (sha256 ") and lines[1] == "27 [0, 1, 2] None"
    assert lines[3].endswith("h of recorded training") and len(lines) == 5
