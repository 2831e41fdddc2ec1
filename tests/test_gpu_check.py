"""``python -m bench gpu-check`` on CPU with the tiny smoke setting (the GPU run uses the same code):
the JSON's structure and sane values, the time box, one-line errors for bad arguments, and the
paper's GPU-check section with and without results."""
import json
import math
from pathlib import Path

import pytest

from bench.cli import main
from bench.instruments.flops import peak_bf16
from paper import gpu as paper_gpu
from segmentation.profiles import get_profile

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check(tmp_path_factory, real_data, bench_cli):
    """One CPU run of the check through the command line (a new process, forked by ``bench_cli``): smoke
    profile, 4 configurations x 1 epoch. The arguments cap the work (about 30 s of CPU); the generous limit
    keeps a busy machine from shrinking it."""
    out = tmp_path_factory.mktemp("gpu-check")
    res = bench_cli.run(["gpu-check", "--profile", "smoke", "--device", "cpu", "--out", out, "--minutes", "10",
                         "--proxy-configs", "4", "--proxy-epochs", "1", "--data", real_data], timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    path = Path(res.stdout.split()[0])
    assert path.parent == out and path.name == "smoke-cpu.json"
    return json.loads(path.read_text()), path


def test_json_structure_and_sane_values(check):
    r, path = check
    assert r["kind"] == "gpu-check" and r["complete"] is True and r["profile"] == "smoke" and r["errors"] == []
    assert r["device_type"] == "cpu" and r["git_commit"] and r["versions"]["torch"]
    assert 0 < r["elapsed_seconds"] < 10 * 60
    assert r["peak"] == {"device": None, "peak_flops": None, "assumed": "unknown"}  # never a guessed peak
    smoke = get_profile("smoke")
    assert [row["encoder"] for row in r["flops"]["per_encoder"]] == list(smoke.encoders)
    for f in r["flops"]["per_encoder"] + [r["flops"]["default"]]:
        assert 0 < f["forward"] < f["train"]  # the backward pass counts too
    assert [t["name"] for t in r["throughput"]] == ["default", "costliest"]
    for t in r["throughput"]:
        assert t["epochs_measured"] >= 1
        for side in ("trainer", "bare"):
            assert t[side]["epoch_seconds"] > 0 and t[side]["eval_images_per_s"] > 0
            assert t[side]["train_images_per_s"] > 0
        assert all(v > 0 for v in t["ratio"].values())
        assert all(v is None for v in t["mfu"].values())  # no peak for a CPU: no MFU
        assert t["trainer"]["peak_memory_bytes"] is None
    costliest = r["throughput"][1]["config"]
    assert costliest["batch_size"] == min(smoke.batch_sizes) and costliest["decoder_width"] == max(smoke.decoder_widths)
    assert r["max_batch"]["batch_size"] == max(smoke.batch_sizes) and r["max_batch"]["status"] == "ok"


def test_proxy_check_lists_configurations_and_correlation(check):
    r, path = check
    pr = r["proxy"]
    assert pr["low"]["name"] == "smoke" and pr["full"]["scale"] == 2 * pr["low"]["scale"]
    assert pr["low"]["encoder_depth"] != pr["full"]["encoder_depth"] and "both can train" in pr["note"]
    assert pr["epochs"] == 1 and 3 <= pr["k_planned"] <= len(pr["configs"]) <= 4  # --proxy-configs 4
    for c in pr["configs"]:
        assert c["config"]["encoder"] in pr["space"]["encoders"]
        assert c["config"]["batch_size"] in pr["space"]["batch_sizes"]
        assert c["low"]["status"] in ("ok", "failed") and c["full"]["status"] in ("ok", "failed")
    assert len({json.dumps(c["config"], sort_keys=True) for c in pr["configs"]}) == len(pr["configs"])
    rho = pr["spearman"]["val_loss"]
    assert rho["n"] >= 3 and -1 <= rho["rho"] <= 1
    assert 0 <= rho["p"] <= 1 and rho["ci95"][0] <= rho["rho"] + 1e-9 and rho["ci95"][1] >= rho["rho"] - 1e-9
    md = path.with_suffix(".md").read_text()
    assert "## Proxy check" in md and "## Throughput" in md
    assert md.count("| resnet18") + md.count("| mobilenet_v2") >= len(pr["configs"])


def test_captured_step_skipped_on_cpu_and_packing_measured(check):
    r, path = check
    assert r["captured"]["status"] == "skipped"
    assert [s["reason"] for s in r["skipped"] if s["part"] == "captured step"] == [
        "the captured step (CUDA graphs) needs a CUDA device; this check runs on cpu"]
    rows = r["packing"]["rows"]
    ks = [row["k"] for row in rows]
    assert ks[0] == 1 and ks == sorted(ks) and set(ks) <= {1, 2, 4, 8} and len(ks) >= 2  # this CPU has 2+ cores
    for row in rows:
        assert row["aggregate_images_per_s"] > 0 and row["failed"] == [] and len(row["trial_epoch_seconds"]) == row["k"]
        assert row["images"] == row["k"] * r["packing"]["epochs_measured"] * r["packing"]["images_per_epoch"]
        assert row["mfu"] is None  # no peak for a CPU
    assert rows[0]["ratio_to_one"] == 1.0 and rows[1]["ratio_to_one"] > 0
    pr = r["proxy"]
    assert pr["packing"]["trial_processes"] in ks and pr["step"] == "eager"
    assert pr["recipe"]["low"] == pr["recipe"]["full"]  # the smoke stand-in: same recipe at two resolutions
    md = path.with_suffix(".md").read_text()
    assert "## Several trials on one device" in md and "## Eager vs captured step" not in md


def test_matched_recipes_differ_only_in_resolution_depth_and_space():
    from bench.instruments.gpu_check import _differences, common_profile
    low, full = get_profile("cpu-v2"), get_profile("gpu-v2")
    assert _differences(low, full) == "encoders, batch sizes, U-Net depth, resolution, patch size"
    assert _differences(get_profile("cpu"), get_profile("gpu")).endswith("patch size, R")  # both constant-rate
    space = common_profile(low, full)
    assert space.encoders == ("resnet18", "resnet34") and space.batch_sizes == (16, 32)


def test_time_box_skips_and_records_what_did_not_fit(tmp_path, real_data):
    assert main(["gpu-check", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path), "--minutes", "0.005",
                 "--data", str(real_data)]) == 0
    r = json.loads((tmp_path / "smoke-cpu.json").read_text())
    skipped = {s["part"] for s in r["skipped"]}
    assert {"throughput default", "throughput costliest", "captured step", "packing", "max_batch", "proxy"} <= skipped
    assert r["throughput"] == [] and r["proxy"]["configs"] == [] and r["complete"] is True
    assert "Skipped or shrunk" in (tmp_path / "smoke-cpu.md").read_text()


@pytest.mark.parametrize("args, words", [
    (["--minutes", "0"], ["--minutes", "positive", "'0'"]),
    (["--minutes", "soon"], ["--minutes", "'soon'"]),
    (["--minutes", "nan"], ["--minutes"]),
    (["--out", "FILE"], ["--out", "is a file"]),
    (["--out", "FILE/sub"], ["--out", "cannot create"]),
    (["--profile", "huge"], ["--profile", "'huge'"]),
    (["--proxy-configs", "2"], ["--proxy-configs", "at least 3"]),
    (["--packing", "1,0"], ["--packing", "'1,0'"]),
    (["--parts", "proxy,speed"], ["--parts", "'proxy,speed'"]),
    (["--proxy-workers", "0"], ["--proxy-workers", "at least 1"]),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, args, words):
    (tmp_path / "FILE").write_text("not a folder")
    args = [str(tmp_path / a) if a.startswith("FILE") else a for a in args]
    base = {"--out": str(tmp_path / "out"), "--minutes": "1"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["gpu-check", "--profile", "smoke", "--device", "cpu"] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert all(w in err[0] for w in words), err[0]
    assert not list(tmp_path.rglob("*.json"))  # nothing written


def test_missing_dataset_is_one_line(tmp_path, capsys):
    assert main(["gpu-check", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path / "o"),
                 "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]


def test_peak_table_matches_known_devices_and_never_guesses():
    assert peak_bf16("NVIDIA H100 80GB HBM3")["peak_flops"] == 989e12
    assert peak_bf16("NVIDIA H200")["peak_flops"] == 989e12
    assert peak_bf16("NVIDIA A100-SXM4-80GB")["peak_flops"] == 312e12
    assert peak_bf16("NVIDIA H100 PCIe")["peak_flops"] == 756e12
    for name in ("NVIDIA L40", "NVIDIA H100 NVL", "Tesla V100-SXM2-16GB", "cpu", None):
        assert peak_bf16(name)["peak_flops"] is None and peak_bf16(name)["assumed"] == "unknown"


def test_paper_section_with_and_without_results(check, tmp_path):
    r, path = check
    empty = paper_gpu.summary(tmp_path / "absent", tmp_path / "b0")
    assert empty == {} and paper_gpu.section(empty, tmp_path / "b0").startswith("GPU check: not measured yet")
    out = tmp_path / "build"
    nums = paper_gpu.summary(path.parent, out)
    text = paper_gpu.section(nums, out)
    assert "not measured on a GPU yet" in text  # a CPU run is shown, but never as a GPU measurement
    t = r["throughput"][0]
    assert f"| {round(t['ratio']['train'], 2)} |" in text
    rho = r["proxy"]["spearman"]["val_loss"]["rho"]
    assert f"validation loss {rho:.2f}" in text
    assert (out / "gpu_check_throughput.csv").is_file() and (out / f"gpu_check_proxy_{path.stem}.md").is_file()
    assert len(text.split("| resnet18 |")) + len(text.split("| mobilenet_v2 |")) - 2 == len(r["proxy"]["configs"])
    assert nums["checks"][0]["proxy"]["configs"] == len(r["proxy"]["configs"])
    assert not math.isnan(nums["checks"][0]["throughput"]["default"]["epoch_seconds"])
    ks = [row["k"] for row in r["packing"]["rows"]]  # the CPU run packs K <= cores trials: rendered, as a CPU run
    assert ks and (out / f"gpu_check_packing_{path.stem}.md").is_file() and "| K trials |" in text
    assert nums["checks"][0]["captured"] is None  # skipped without CUDA: nothing claimed


def test_captured_sentence_states_the_tolerance_verdict():
    cap = {"status": "ok", "tolerance": {"first": 1e-3, "steps": 2e-2, "n": 10}, "within_tolerance": False,
           "relative_difference": {"first_step": 2e-4, "max_first_steps": 0.05, "steps": 10},
           "epoch_seconds": {"eager": 1.8, "captured": 1.2}, "speedup": 1.5}
    text = paper_gpu.captured_sentence({"captured": cap})
    assert "first step's loss 2.0e-04 (tolerance 0.001)" in text and "**outside tolerance**" in text
    assert "1.800 eager vs 1.200 captured (1.50x)" in text
    assert paper_gpu.captured_sentence({"captured": {"status": "skipped"}}) is None


def test_paper_report_uses_the_section(check, tmp_path):
    from paper.report import render
    r, path = check
    out = tmp_path / "build"
    with_check = render({"gpu_check": paper_gpu.summary(path.parent, out)}, out).read_text()
    section = with_check.split("### The GPU path")[1].split("## 6.")[0]
    assert section.count("Proxy check, `smoke` vs `smoke-x2`") == 1 and "| ratio to bare (train) |" in section
    (tmp_path / "empty").mkdir()
    without = render({}, tmp_path / "empty").read_text()
    assert "GPU check: not measured yet" in without.split("### The GPU path")[1].split("## 6.")[0]


def test_paper_names_a_broken_check_file(tmp_path):
    (tmp_path / "gpu-x.json").write_text("{not json")
    with pytest.raises(ValueError, match="gpu-x.json"):
        paper_gpu.summary(tmp_path, tmp_path / "build")


def test_cost_estimate_times_a_step_after_the_first(real_data):
    """The first step carries start-up costs: the estimate always times a second step and ignores the
    first, even when ``stop_after`` has passed (before, one slow first step made the estimate 2,228 s
    per epoch for a model the GPU trains in seconds, and the check skipped it)."""
    from bench.instruments.bare import bare_train, epoch_estimate
    from segmentation.train import load_task

    task = load_task("smoke", real_data, None, "cpu")
    cfg = {"encoder": "resnet18", "decoder_width": 8, "batch_size": 4, "loss": "ce",
           "learning_rate": 1e-3, "weight_decay": 1e-4, "augment": False}
    r = bare_train(cfg, task, 1, max_steps=3, stop_after=0.0)
    assert len(r["step_seconds"]) == 2  # no third step starts after stop_after, the second always does
    est = epoch_estimate(cfg, task, steps=2, stop_after=0.0)
    n_val = task.x["val"].shape[0]
    steps = task.x["train"].shape[0] // 4
    # the estimate is one step's seconds times (steps + validation at a third of a step per batch image)
    per_step = est / (steps + n_val / 12)
    assert 0 < per_step < 60
