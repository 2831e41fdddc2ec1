"""Property-based fuzzing of suite files and command lines, generated from the declarations
(``bench.config.keys.SuiteFile``, ``methods.PARAMS``, ``bench.cliargs.RULES``): whatever a user writes,
``python -m bench`` ends with exit status 0 or 2, never a traceback, writes nothing outside the results
directory it was given (or ``results/`` of the working directory), and ends within a time bound.

Example counts (hypothesis, derandomized so CI sees the same cases): 25 suite files, each run through
``bench run`` (replayed, on the smoke fixture table, so a valid one really runs), and 40 command lines.
About 60 s of CPU on an idle core.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.cliargs import RULES
from bench.config.keys import SuiteFile
from methods import PARAMS

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "smoke-curves.csv"
SECONDS = 120  # the most one example may take (a valid suite runs up to 16 replayed runs)
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


# -- TOML text from Python values (the test writes files a user could write) -------------------
def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):  # TOML escapes are JSON's, but astral characters are written as they are
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_value(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def toml_suite(top: dict, methods: list) -> str:
    lines = [f"{k} = {toml_value(v)}" for k, v in top.items()]
    for m in methods:
        if isinstance(m, dict):
            lines.append("[[methods]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in m.items()]
        else:  # a malformed entry: methods written as a plain array instead
            lines.insert(0, f"methods = {toml_value([m])}")
    return "\n".join(lines) + "\n"


# -- values from the declarations ---------------------------------------------------------------
JUNK = st.one_of(st.text(max_size=6), st.integers(-10, 10), st.floats(allow_nan=True, allow_infinity=True),
                 st.booleans(), st.lists(st.integers(-2, 3), max_size=2), st.just({}), st.just("$B"),
                 st.sampled_from(["../x", "/tmp/x", "", ".", "..", "1e308", "nan"]))


def _bounds(field):
    lo = hi = None
    for m in field.metadata:
        lo = getattr(m, "ge", lo) if hasattr(m, "ge") else (m.gt + 0.25 if hasattr(m, "gt") else lo)
        hi = getattr(m, "le", hi) if hasattr(m, "le") else hi
    return lo, hi


def valid_param(field):
    """A value inside a method parameter's declaration (small, so that runs stay short)."""
    ann = field.annotation
    args = typing.get_args(ann)
    base = next((a for a in args if a is not type(None)), ann) if type(None) in args else ann
    while typing.get_origin(base) is typing.Annotated:
        base = typing.get_args(base)[0]
    if typing.get_origin(base) is typing.Literal:
        return st.sampled_from(typing.get_args(base))
    lo, hi = _bounds(field)
    if base is bool:
        return st.booleans()
    if base is int:
        lo = 0 if lo is None else int(lo)
        return st.integers(lo, lo + 3)
    if base is float:
        return st.floats(0.0 if lo is None else lo, 2.0 if hi is None else hi)
    return st.just(field.default)


@st.composite
def method_entry(draw, label, clean=False):
    name = draw(st.sampled_from(sorted(PARAMS)))
    params = {}
    for pname, field in PARAMS[name].model_fields.items():
        if field.annotation is not None and typing.get_origin(field.annotation) is dict:
            continue
        choice = draw(st.sampled_from(["absent", "absent", "valid"] + ([] if clean else ["invalid"])))
        if choice == "valid":
            params[pname] = draw(valid_param(field))
        elif choice == "invalid":
            params[pname] = draw(JUNK)
    if clean:
        return {"label": label, "method": name, "params": params}
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.sampled_from(["etaa", "workdir", "n_init"]))] = 3
    entry = {"label": label, "method": name, "params": params}
    if draw(st.integers(0, 7)) == 0:
        entry[draw(st.sampled_from(["label", "method", "params"]))] = draw(JUNK)
    if draw(st.integers(0, 15)) == 0:
        entry["labels"] = "x"
    return entry


VALID_TOP = {
    "name": st.sampled_from(["fz", "fz.1", "fz-a_b"]),
    "description": st.text(max_size=10),
    "profile": st.just("smoke"),
    "budgets": st.lists(st.sampled_from([0.5, 1, 2]), min_size=1, max_size=2, unique=True),
    "seeds": st.lists(st.integers(0, 2), min_size=1, max_size=2, unique=True),
    "resume_promotions": st.booleans(),
    "min_budget": st.integers(1, 2),
    "max_budget": st.sampled_from([3, 9]),
    "backend": st.just("replay"),
    "curves": st.just(str(FIXTURE)),
    "objective": st.sampled_from(["val_loss", "val_miou"]),
    "workers": st.sampled_from([1, 2, [1, 2]]),
    "sampling": st.sampled_from(["neighbour", "table", "candidates"]),
    "budget_unit": st.sampled_from(["R", "hyperband-iterations"]),
    "hyperband_eta": st.integers(2, 4),  # valid alone, refused in one line without budget_unit's iterations
    "drop_top": st.integers(0, 2),
}
REQUIRED = ("profile", "budgets", "seeds", "backend", "curves")  # kept (valid or not) so that runs replay


@st.composite
def suite_text(draw):
    assert set(VALID_TOP) == set(SuiteFile.model_fields) - {"methods"}  # every declared key is fuzzed
    clean = draw(st.booleans())  # half of the files only hold values inside their declarations
    top = {}
    for key, valid in VALID_TOP.items():
        choice = draw(st.sampled_from((["valid"] if key in REQUIRED else ["valid", "valid", "absent"]) if clean else
                                      ["valid", "valid", "valid", "absent", "invalid"] if key not in REQUIRED
                                      else ["valid"] * 7 + ["invalid"]))
        if choice == "valid":
            top[key] = draw(valid)
        elif choice == "invalid":
            top[key] = draw(JUNK)
    if not clean and draw(st.integers(0, 15)) == 0:
        top["budgetz"] = 1
    methods = [draw(method_entry(f"m{i}", clean)) for i in range(draw(st.integers(1, 2)))]
    if not clean and draw(st.integers(0, 20)) == 0:
        methods = [draw(JUNK)]
    return toml_suite(top, methods)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _run(argv, capsys) -> tuple[int, str]:
    logging.getLogger().handlers.clear()  # main() logs to this example's captured stderr
    t0 = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert time.perf_counter() - t0 < SECONDS, f"{argv} took more than {SECONDS} s"
    return code, err


def _check(code, err, argv):
    assert code in (0, 2), (argv, code, err[-2000:])
    assert "Traceback" not in err, (argv, err[-3000:])
    if code == 2:  # one "error:" line (a changed suite's refusal adds the diff after it)
        assert any(line.startswith("error:") for line in err.splitlines()), (argv, err[-2000:])


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working directory of its own: default results go to ./results/, nothing else may appear."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path


@settings(FUZZ, max_examples=25)
@given(text=suite_text(), explicit=st.booleans())
def test_fuzzed_suites_end_cleanly_and_write_only_results(sandbox, capsys, text, explicit):
    case = sandbox / f"case{len(list(sandbox.glob('case*')))}"
    case.mkdir()
    suite = case / "suite.toml"
    suite.write_text(text)
    results = case / "res"
    argv = ["run", str(suite), "--no-progress", *(["--results", str(results)] if explicit else [])]
    before = _files(sandbox)
    code, err = _run(argv, capsys)
    _check(code, err, argv)
    event(f"exit {code}" + ("" if code == 0 else f": {err.strip().splitlines()[-1][-60:]}"))
    allowed = (results,) if explicit else (sandbox / "cwd" / "results",)
    new = {p for p in _files(sandbox) - before if not any(p == a or a in p.parents for a in allowed)}
    new = {p for p in new if not (sandbox / "tmp" in p.parents and p.name.startswith("aerial-hpo"))}
    assert not new, (text, sorted(map(str, new))[:5])
    assert not list((sandbox / "tmp").iterdir())   # no scratch left behind


# -- command lines ------------------------------------------------------------------------------
HEAVY = {"record", "train", "perf-task", "perf-threads", "perf-tuners", "gpu-check", "crash-test"}


@st.composite
def command_line(draw, root: Path):
    rule = draw(st.sampled_from(RULES))
    command = draw(st.sampled_from(rule.commands))
    suite = str(root / "ok.toml")
    argv = {"run": ["run", suite, "--no-progress"], "export": ["export", str(root / "nores")],
            "export-curves": ["export-curves", str(root / "nores")], "record": ["record", "--configs", "2"],
            "crash-test": ["crash-test", suite],
            "compare": ["compare", suite, "--against", str(root / "nores"), "--no-progress"]}.get(command, [command])
    junk = draw(st.one_of(st.integers(-3, 0), st.sampled_from(["-1", "x", "", "0.5", "cuda:9", "tpu", "/dev/null",
                                                               str(root / "ok.toml"), "tcp://", "nope",
                                                               "tcp://127.0.0.1:1", "1e9", "sub/../given"])))
    values = [str(junk)]
    if rule.each and draw(st.booleans()):
        values = ["1", str(junk)]
    argv = argv + [rule.option, *values]
    if command in HEAVY or rule.option in ("--workers", "--processes", "--scheduler"):
        # a command that would train, time or start processes when every value is valid: keep one invalid
        argv = argv + [rule.option, *values] if draw(st.booleans()) else argv
    return argv


def _invalid_for_heavy(argv) -> bool:
    """Whether a heavy command line is sure to be refused (its fuzzed value is out of its declaration)."""
    from bench.cli import build_parser
    from bench.cliargs import ArgError, check_args
    try:
        check_args(build_parser().parse_args(argv))
    except (ArgError, SystemExit):
        return True
    return False


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_fuzzed_command_lines_end_cleanly(sandbox, capsys, data):
    root = sandbox / "cwd"
    (root / "ok.toml").write_text(f'profile = "smoke"\nbackend = "replay"\ncurves = "{FIXTURE}"\nbudgets = [0.5]\n'
                                  'seeds = [0]\n[[methods]]\nlabel = "rs"\nmethod = "random-search"\n')
    argv = data.draw(command_line(root))
    heavy = argv[0] in HEAVY or any(o in argv for o in ("--workers", "--processes", "--scheduler"))
    if heavy and not _invalid_for_heavy(argv):
        return  # valid: it would really train or start a cluster; its values are fuzzed elsewhere
    given = [(root / argv[i + 1]).resolve() for i, a in enumerate(argv[:-1])
             if a in ("--results", "--checkpoints", "--out", "--work")]
    allowed = [root / "results", *given]
    before = _files(sandbox)
    code, err = _run(argv, capsys)
    _check(code, err, argv)
    event(f"{argv[0]} exit {code}")
    new = {p for p in _files(sandbox) - before if not any(p == a or a in p.parents for a in allowed)}
    assert not new, (argv, sorted(map(str, new))[:5])
    if heavy:
        assert code == 2, argv
    assert os.getcwd() == str(root)
