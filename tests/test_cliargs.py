"""Command-line values are checked before a command starts: one line, exit status 2, nothing written."""
import os
import socket

import pytest

from bench.cli import main

SMOKE = "bench/suites/smoke.toml"


@pytest.mark.parametrize("argv,pattern", [
    (["run", SMOKE, "--workers", "-2"], r"--workers: expected a positive integer.*got -2"),   # it used to hang
    (["run", SMOKE, "--workers", "0"], r"--workers: expected a positive integer.*got 0"),
    (["run", SMOKE, "--processes", "0"], r"--processes: expected a positive number of processes, got 0"),
    (["run", SMOKE, "--device", "tpu:9"], r"--device: expected cpu, cuda or cuda:N.*got 'tpu:9'"),
    (["run", SMOKE, "--device", "cuda:x"], r"--device: expected cpu, cuda or cuda:N.*got 'cuda:x'"),
    (["run", SMOKE, "--device", "cuda:7"], r"--device: expected cpu \(this machine has no CUDA device\), got 'cuda:7'"
                                           r"|--device: expected cpu, cuda or cuda:0 \.\.\. cuda:[0-6] \(this machine has "
                                           r"[1-7] CUDA device\(s\)\), got 'cuda:7'"),
    (["run", SMOKE, "--results", "/dev/null"], r"--results: expected a directory \(this is not one\), got '/dev/null'"),
    (["run", SMOKE, "--results", "FILE"], r"--results: expected a directory \(this is a file\)"),
    (["run", SMOKE, "--results", "FILE/sub"], r"--results: expected a directory that can be created \(.* is a file\)"),
    (["run", SMOKE, "--checkpoints", "FILE"], r"--checkpoints: expected a directory \(this is a file\)"),
    (["run", SMOKE, "--scheduler", "not-a-url"], r"--scheduler: expected a Dask scheduler address such as tcp://"),
    (["run", SMOKE, "--scheduler", "tcp://127.0.0.1:PORT"], r"--scheduler: expected a scheduler that answers \("
                                                             r"connecting to 127\.0\.0\.1:\d+ failed"),
    (["record", "--configs", "0"], r"--configs: expected a positive integer.*got 0"),
    (["record", "--configs", "-5"], r"--configs: expected a positive integer.*got -5"),
    (["record", "--configs", "2", "--chunk", "0"], r"--chunk: expected a positive integer.*got 0"),
    (["record", "--configs", "2", "--threads", "-1"], r"--threads: expected an integer >= 0.*got -1"),
    (["record", "--configs", "2", "--workers", "0"], r"--workers: expected a positive integer.*got 0"),
    (["record", "--configs", "2", "--train-seeds", "0,-1"], r"--train-seeds: expected integers from 0.*got -1"),
    (["record", "--configs", "2", "--profile", "nope"], r"--profile: expected a task profile.*got 'nope'"),
    (["perf-task", "--epochs", "0"], r"--epochs: expected a positive integer.*got 0"),
    (["perf-task", "--threads", "-3"], r"--threads: expected an integer >= 0.*got -3"),
    (["perf-task", "--profile", "cpu+lr_schedule=nope"], r"--profile: expected a task profile"),
    (["perf-tuners", "--methods", "hyperband", "nope"], r"--methods: expected registered methods.*got 'nope'"),
    (["perf-tuners", "--points", "10", "0"], r"--points: expected positive integers.*got 0"),
    (["perf-tuners", "--repeats", "0"], r"--repeats: expected a positive integer.*got 0"),
    (["perf-tuners", "--points"], r"--points: expected positive integers \(told points\), at least one, got none"),
    (["train", "--set", "foo"], r"--set: expected KEY=VALUE .*got 'foo'"),
    (["perf-threads", "--jobs", "0"], r"--jobs: expected a positive integer.*got 0"),
    (["train", "--epochs", "-1"], r"--epochs: expected a positive integer.*got -1"),
    (["train", "--seed", "-1"], r"--seed: expected an integer from 0 to 2\*\*32 - 1"),
    (["export-curves", "DIR", "--out", "DIR"], r"--out: expected a file to write \(this is a directory\)"),
    (["export", "DIR", "--out", "FILE/x.csv"], r"--out: expected a file whose folder can be created \(.*a-file is a file\)"),
    (["crash-test", "NOPE.toml"], r"NOPE\.toml: suite file not found"),
    (["crash-test", SMOKE, "--jobs", "0"], r"--jobs: expected a positive integer.*got 0"),
    (["crash-test", SMOKE, "--random-kills", "0"], r"--random-kills: expected a positive integer \(kills\), got 0"),
    (["crash-test", SMOKE, "--random-kills", "2", "--processes", "0"], r"--processes: expected a positive integer"),
    (["crash-test", SMOKE, "--random-kills", "2", "--seed", "-1"], r"--seed: expected an integer from 0"),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, capsys, argv, pattern):
    f = tmp_path / "a-file"
    f.write_text("x")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subst = {"FILE": str(f), "DIR": str(tmp_path), "NOPE.toml": str(tmp_path / "NOPE.toml"), "PORT": str(port)}
    argv = [next((a.replace(k, v) for k, v in subst.items() if k in a), a) for a in argv]
    before = sorted(os.listdir(tmp_path))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    import re
    assert re.search(pattern.replace("NOPE", re.escape(str(tmp_path / "NOPE"))) if "NOPE" in pattern else pattern,
                     err), err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


@pytest.mark.parametrize("argv", [["run", SMOKE, "--workers", "x"], ["record"], ["run"], ["nope"],
                                  ["run", SMOKE, "--bogus"]])
def test_argparse_errors_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: python -m bench") and err.count("\n") == 1, err
