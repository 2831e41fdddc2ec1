"""Shared test helpers: a tiny dataset in the published layout, built by the tests; one real-training run
shared by the session; ``bench_cli``, the command line in forked processes (``tests/clirun.py``).

Threads: the tests run with one BLAS/OpenMP thread per process unless the caller set otherwise
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, set here before numpy or torch
load and inherited by every process the tests start). On a small shared machine extra threads only
spin; the runs a test compares are made under the same setting, so their floats agree."""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import hashlib  # noqa: E402 - after the thread settings
from pathlib import Path

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from segmentation.data import default_data_root  # noqa: E402
from segmentation.palette import COLOURS  # noqa: E402


def write_pair(root: Path, tile: int, image: int, size=(40, 48), seed=0, mask_rgb=None, img_size=None):
    """Write one image/mask pair; size is (H, W). Returns (image path, mask path)."""
    rng = np.random.default_rng(seed)
    h, w = size
    ih, iw = img_size or size
    img = rng.integers(0, 256, (ih, iw, 3), dtype=np.uint8)
    if mask_rgb is None:
        classes = rng.integers(0, len(COLOURS), (h, w))
        mask_rgb = np.array(COLOURS, dtype=np.uint8)[classes]
    ip = root / f"Tile {tile}" / "images" / f"image_part_{image:03d}.jpg"
    mp = root / f"Tile {tile}" / "masks" / f"image_part_{image:03d}.png"
    ip.parent.mkdir(parents=True, exist_ok=True)
    mp.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(ip, quality=95)
    Image.fromarray(mask_rgb).save(mp)
    return ip, mp


def write_sums(root: Path):
    lines = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "SHA256SUMS":
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}")
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")


@pytest.fixture
def tiny_dataset(tmp_path):
    root = tmp_path / "data"
    for n, (tile, image) in enumerate([(1, 1), (1, 2), (1, 9), (5, 1)]):
        write_pair(root, tile, image, seed=n)
    write_sums(root)
    return root


TINY_SUITE = """
profile = "smoke"
budgets = [2]
seeds = [0]
resume_promotions = true
[[methods]]
label = "hb"
method = "hyperband"
params = { eta = 3 }
[[methods]]
label = "rs"
method = "random-search"
"""
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bench_cli(tmp_path_factory):
    """``python -m bench`` in new processes forked from one that imported the project once (see
    ``tests/clirun.py``): ``bench_cli.run(args, env=, cwd=, timeout=)`` gives what ``subprocess.run``
    with ``capture_output=True, text=True`` gives; ``bench_cli.start(...)`` a Popen-like process."""
    from tests.clirun import BenchCLI
    cli = BenchCLI(tmp_path_factory.mktemp("bench-cli"))
    yield cli
    cli.close()


@pytest.fixture(scope="session")
def tiny_real(tmp_path_factory, real_data, bench_cli):
    """One real-training run of the tiny suite (smoke profile; Hyperband and random search, B = 2, seed 0),
    through the command line. Returns the results directory; tests must not write to it."""
    tmp = tmp_path_factory.mktemp("tiny-real")
    (tmp / "tiny.toml").write_text(TINY_SUITE)
    res = bench_cli.run(["run", tmp / "tiny.toml", "--results", tmp / "results", "--no-progress"], timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "results"


# One small recording on the real data: 2 configurations of seed 5, 4 epochs each, checkpoints every 2.
SMOKE_RECORD = ["--profile", "smoke", "--configs", "2", "--seed", "5", "--epochs", "4", "--chunk", "2", "--no-progress"]


@pytest.fixture(scope="session")
def smoke_record(tmp_path_factory, real_data, bench_cli):
    """``python -m bench record SMOKE_RECORD`` run once, uninterrupted: the reference the record tests
    compare with. Returns the results directory; tests copy it before they write to it."""
    out = tmp_path_factory.mktemp("smoke-record") / "ref"
    res = bench_cli.run(["record", *SMOKE_RECORD, "--results", out], timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def real_data():
    root = default_data_root()
    if not (root / "Tile 1").is_dir():
        pytest.fail(f"the real dataset is expected at {root} (../shared/data/dubai-aerial beside the checkout)")
    return root
