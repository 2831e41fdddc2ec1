"""A corpus of malformed suites, tables, stores and command lines, tried as a new user would (issue 25).

``python tests/malformed_corpus.py`` runs every case through ``python -m bench``'s ``main`` (in one
process, each in a fresh working directory, each limited to 60 s) and prints one line per case and a
summary: exit status, whether a traceback was printed, whether anything was written outside the
results directory (or ``results/`` of the working directory), and the error line. A case passes with
exit status 2 (or 0 where marked: valid input that must keep working), no traceback, no stray write.
Not a test (it takes minutes); the fuzz test (tests/test_fuzz_inputs.py) runs in CI.
"""
from __future__ import annotations

import contextlib
import io
import logging
import lzma
import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURE = (REPO / "tests" / "fixtures" / "smoke-curves.csv").read_text()

HEAD = 'profile = "smoke"\nbackend = "replay"\ncurves = "CURVES"\nbudgets = [1]\nseeds = [0]\n'
HB = '[[methods]]\nlabel = "m"\nmethod = "hyperband"\n'


def suite(top: str = "", methods: str = HB, head: str = HEAD) -> str:
    return top + head + methods


def method(name: str, params: str) -> str:
    return f'[[methods]]\nlabel = "m"\nmethod = "{name}"\nparams = {{ {params} }}\n'


def table(edit) -> str:
    lines = FIXTURE.splitlines()
    return "\n".join(edit(lines)) + "\n"


def _cell(lines, row, col, value):
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(col)] = value
    return lines[:row] + [",".join(cells)] + lines[row + 1:]


def _drop_col(lines, col):
    i = lines[0].split(",").index(col)
    return [",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in lines]


SUITES = [  # (what, suite text, expected exit)
    ("name with a tab", suite('name = "a\\tb"\n'), 2),
    ("name 101 characters", suite(f'name = "{"n" * 101}"\n'), 2),
    ("name a list", suite('name = ["x"]\n'), 2),
    ("name a table", suite("name = { a = 1 }\n"), 2),
    ("name with a backslash", suite('name = "a\\\\b"\n'), 2),
    ("name '..' ", suite('name = ".."\n'), 2),
    ("name ./x", suite('name = "./x"\n'), 2),
    ("profile empty", suite(head=HEAD.replace('"smoke"', '""')), 2),
    ("profile variant in a suite", suite(head=HEAD.replace('"smoke"', '"smoke+lr_schedule=nope"')), 2),
    ("profile a number", suite(head=HEAD.replace('"smoke"', "9")), 2),
    ("budgets empty", suite(head=HEAD.replace("[1]", "[]")), 2),
    ("budgets zero", suite(head=HEAD.replace("[1]", "[0]")), 2),
    ("budgets negative", suite(head=HEAD.replace("[1]", "[-1]")), 2),
    ("budgets bool", suite(head=HEAD.replace("[1]", "[true]")), 2),
    ("budgets nested list", suite(head=HEAD.replace("[1]", "[[1]]")), 2),
    ("budgets tiny", suite(head=HEAD.replace("[1]", "[1e-9]")), 2),
    ("budgets above 10000 R", suite(head=HEAD.replace("[1]", "[10001]")), 2),
    ("budgets below one epoch", suite(head=HEAD.replace("[1]", "[0.1]")), 2),
    ("budgets 1 and 1.0000004 key alike", suite(head=HEAD.replace("[1]", "[1, 1.0000004]")), 2),
    ("budgets a scalar", suite(head=HEAD.replace("[1]", "1")), 2),
    ("budgets -inf", suite(head=HEAD.replace("[1]", "[-inf]")), 2),
    ("seeds negative", suite(head=HEAD.replace("seeds = [0]", "seeds = [-1]")), 2),
    ("seeds 2**32", suite(head=HEAD.replace("seeds = [0]", "seeds = [4294967296]")), 2),
    ("seeds float", suite(head=HEAD.replace("seeds = [0]", "seeds = [1.5]")), 2),
    ("seeds string", suite(head=HEAD.replace("seeds = [0]", 'seeds = ["0"]')), 2),
    ("seeds empty", suite(head=HEAD.replace("seeds = [0]", "seeds = []")), 2),
    ("seeds 0 and 0.0", suite(head=HEAD.replace("seeds = [0]", "seeds = [0, 0.0]")), 2),
    ("seeds scalar", suite(head=HEAD.replace("seeds = [0]", "seeds = 0")), 2),
    ("seeds 1, 2, 1", suite(head=HEAD.replace("seeds = [0]", "seeds = [1, 2, 1]")), 2),
    ("min_budget 0", suite("min_budget = 0\n"), 2),
    ("min_budget above max_budget", suite("min_budget = 10\nmax_budget = 9\n"), 2),
    ("max_budget 0", suite("max_budget = 0\n"), 2),
    ("max_budget negative", suite("max_budget = -3\n"), 2),
    ("max_budget float", suite("max_budget = 2.5\n"), 2),
    ("max_budget string", suite('max_budget = "9"\n'), 2),
    ("max_budget beyond the table", suite("max_budget = 81\n"), 2),
    ("workers 0", suite("workers = 0\n"), 2),
    ("workers negative", suite("workers = -1\n"), 2),
    ("workers [0]", suite("workers = [0]\n"), 2),
    ("workers [2, 2]", suite("workers = [2, 2]\n"), 2),
    ("workers string", suite('workers = "4"\n'), 2),
    ("workers true", suite("workers = true\n"), 2),
    ("objective unknown", suite('objective = "loss"\n'), 2),
    ("objective a number", suite("objective = 1\n"), 2),
    ("sampling grid", suite('sampling = "grid"\n'), 2),
    ("sampling table with training", suite('sampling = "table"\n', head=HEAD.replace('backend = "replay"\n', "")
                                           .replace('curves = "CURVES"\n', "")), 2),
    ("backend upper case", suite(head=HEAD.replace('"replay"', '"REPLAY"')), 2),
    ("replay without curves", suite(head=HEAD.replace('curves = "CURVES"\n', "")), 2),
    ("curves with training", suite(head=HEAD.replace('backend = "replay"\n', "")), 2),
    ("curves missing file", suite(head=HEAD.replace("CURVES", "nope.csv")), 2),
    ("curves a directory", suite(head=HEAD.replace("CURVES", ".")), 2),
    ("curves empty string", suite(head=HEAD.replace("CURVES", "")), 2),
    ("curves a number", suite(head=HEAD.replace('"CURVES"', "3")), 2),
    ("description a table", suite("description = { a = 1 }\n"), 2),
    ("methods = []", suite(methods="methods = []\n"), 2),
    ("methods a string", suite(methods='methods = "hyperband"\n'), 2),
    ("method wrong case", suite(methods=HB.replace('"hyperband"', '"HyperBand"')), 2),
    ("method missing", suite(methods='[[methods]]\nlabel = "m"\n'), 2),
    ("label with slash", suite(methods=HB.replace('"m"', '"a/b"')), 2),
    ("label empty", suite(methods=HB.replace('"m"', '""')), 2),
    ("label a number", suite(methods=HB.replace('"m"', "5")), 2),
    ("labels twice", suite(methods=HB + HB), 2),
    ("params a number", suite(methods=HB + "params = 3\n"), 2),
    ("params workdir", suite(methods=HB + 'params = { workdir = "/tmp" }\n'), 2),
    ("methods extra key", suite(methods=HB + 'param = { eta = 3 }\n'), 2),
    ("hyperband eta 1", suite(methods=method("hyperband", "eta = 1")), 2),
    ("hyperband eta string", suite(methods=method("hyperband", 'eta = "3"')), 2),
    ("hyperband eta 2.5", suite(methods=method("hyperband", "eta = 2.5")), 2),
    ("hyperband convention case", suite(methods=method("hyperband", 'convention = "Table1"')), 2),
    ("hyperband max_brackets 0", suite(methods=method("hyperband", "max_brackets = 0")), 2),
    ("hyperband parallel_brackets string", suite(methods=method("hyperband", 'parallel_brackets = "true"')), 2),
    ("hyperband s (not its parameter)", suite(methods=method("hyperband", "s = 1")), 2),
    ("hyperband-bracket s -1", suite(methods=method("hyperband-bracket", "s = -1")), 2),
    ("hyperband-bracket s 99", suite(methods=method("hyperband-bracket", "s = 99")), 2),
    ("asha s 9", suite(methods=method("asha", "s = 9")), 2),
    ("asha eta 0", suite(methods=method("asha", "eta = 0")), 2),
    ("async-hyperband convention", suite(methods=method("async-hyperband", 'convention = "x"')), 2),
    ("successive-halving n 0", suite(methods=method("successive-halving", "n = 0")), 2),
    ("successive-halving r_min 0", suite(methods=method("successive-halving", "n = 9, r_min = 0")), 2),
    ("successive-halving r_min above R", suite(methods=method("successive-halving", "n = 9, r_min = 100")), 2),
    ("successive-halving bracket_budget 0", suite(methods=method("successive-halving", "n = 9, bracket_budget = 0")), 2),
    ("successive-halving bracket_budget string", suite(methods=method("successive-halving", 'n = 3, bracket_budget = "B"')), 2),
    ("successive-halving cost both", suite(methods=method("successive-halving", 'n = 3, cost = "both"')), 2),
    ("successive-halving r_min and bracket_budget", suite(methods=method("successive-halving", "n = 3, r_min = 1, bracket_budget = 9")), 2),
    ("random-search max_configs -1", suite(methods=method("random-search", "max_configs = -1")), 2),
    ("random-search max_configs 1.5", suite(methods=method("random-search", "max_configs = 1.5")), 2),
    ("random-search eta", suite(methods=method("random-search", "eta = 3")), 2),
    ("smac-bo challengers 0", suite(methods=method("smac-bo", "challengers = 0")), 2),
    ("smac-bo crash_cost inf", suite(methods=method("smac-bo", "crash_cost = inf")), 2),
    ("smac-bo n_initial 1e9", suite(methods=method("smac-bo", "n_initial = 1000000000")), 2),
    ("smac-hb eta 1", suite(methods=method("smac-hb", "eta = 1")), 2),
    ("smac-hb local_search_iterations 1.5", suite(methods=method("smac-hb", "local_search_iterations = 1.5")), 2),
    ("skopt-gp acq_func lower case", suite(methods=method("skopt-gp", 'acq_func = "ei"')), 2),
    ("skopt-gp n_points 0", suite(methods=method("skopt-gp", "n_points = 0")), 2),
    ("skopt-gp failure_loss nan", suite(methods=method("skopt-gp", "failure_loss = nan")), 2),
    ("skopt-gp n_restarts_optimizer -1", suite(methods=method("skopt-gp", "n_restarts_optimizer = -1")), 2),
    ("optuna-tpe-hb eta string", suite(methods=method("optuna-tpe-hb", 'eta = "three"')), 2),
    ("optuna-tpe-hb n_startup_trials 1.5", suite(methods=method("optuna-tpe-hb", "n_startup_trials = 1.5")), 2),
    ("dehb mutation_factor 0", suite(methods=method("dehb", "mutation_factor = 0")), 2),
    ("dehb mutation_factor inf", suite(methods=method("dehb", "mutation_factor = inf")), 2),
    ("dehb crossover_prob 1.5", suite(methods=method("dehb", "crossover_prob = 1.5")), 2),
    ("dehb strategy upper case", suite(methods=method("dehb", 'strategy = "RAND1_BIN"')), 2),
    ("dehb eta true", suite(methods=method("dehb", "eta = true")), 2),
    ("TOML duplicate key", suite("workers = 1\nworkers = 2\n"), 2),
    ("TOML unclosed list", suite(head=HEAD.replace("[1]", "[1")), 2),
    ("TOML bare word", suite("hello\n"), 2),
    ("empty file", "", 2),
    ("only a comment", "# a suite\n", 2),
    ("valid suite, CRLF line ends", suite().replace("\n", "\r\n"), 0),
    ("valid suite, several methods", suite(methods=HB + method("random-search", "max_configs = 3").replace('"m"', '"r"')), 0),
]

BAD_TABLES = [
    ("table: NaN val_loss on ok row", lambda ls: _cell(ls, 3, "val_loss", "nan")),
    ("table: string val_miou", lambda ls: _cell(ls, 2, "val_miou", "high")),
    ("table: empty seconds", lambda ls: _cell(ls, 2, "seconds", "")),
    ("table: negative seconds", lambda ls: _cell(ls, 2, "seconds", "-1")),
    ("table: status running", lambda ls: _cell(ls, 2, "status", "running")),
    ("table: epoch 0", lambda ls: _cell(ls, 1, "epoch", "0")),
    ("table: epoch 2.5", lambda ls: _cell(ls, 2, "epoch", "2.5")),
    ("table: epoch gap", lambda ls: ls[:3] + ls[4:]),
    ("table: duplicated epoch", lambda ls: ls[:3] + [ls[2]] + ls[3:]),
    ("table: no config_id column", lambda ls: _drop_col(ls, "config_id")),
    ("table: no val_loss column", lambda ls: _drop_col(ls, "val_loss")),
    ("table: no seconds column", lambda ls: _drop_col(ls, "seconds")),
    ("table: no train_loss column", lambda ls: _drop_col(ls, "train_loss")),
    ("table: no config.encoder column", lambda ls: _drop_col(ls, "config.encoder")),
    ("table: encoder not in the space", lambda ls: _cell(ls, 1, "config.encoder", "vgg11")),
    ("table: learning rate 0 (log range)", lambda ls: _cell(ls, 1, "config.learning_rate", "0")),
    ("table: header only", lambda ls: ls[:1]),
    ("table: empty config_id", lambda ls: _cell(ls, 1, "config_id", "")),
]
RAW_TABLES = [
    ("table: binary bytes", b"\x00\xff\xfe garbage \x00" * 64, ".csv"),
    ("table: empty file", b"", ".csv"),
    ("table: fake parquet", b"config_id,epoch\n", ".parquet"),
    ("table: a JSON file named .csv", b'{"config_id": 1}', ".csv"),
    ("table: latin-1 bytes", "café,é\n1,2\n".encode("latin-1"), ".csv"),
]


def _store_cases(root: Path):
    """(what, prepare(results dir), argv builder, expected exit)."""
    def foreign(d):
        con = sqlite3.connect(d / "results.db")
        con.executescript("CREATE TABLE runs (a, b); CREATE TABLE other (x);")
        con.close()

    def newer(d):
        con = sqlite3.connect(d / "results.db")
        con.executescript("CREATE TABLE runs (run_key TEXT, suite_hash TEXT, identity TEXT); PRAGMA user_version = 7;")
        con.close()

    def text(d):
        (d / "results.db").write_text("hello, not a database\n" * 100)

    def zero(d):
        (d / "results.db").write_bytes(b"")

    def empty_db(d):
        con = sqlite3.connect(d / "results.db")
        con.execute("PRAGMA user_version = 0")
        con.close()

    def directory(d):
        (d / "results.db").mkdir()

    def xz_garbage(d):
        (d / "results.db.xz").write_bytes(b"\xfd7zXZ\x00" + os.urandom(200))

    def xz_of_text(d):
        (d / "results.db.xz").write_bytes(lzma.compress(b"not sqlite at all\n" * 50))

    def xz_empty(d):
        (d / "results.db.xz").write_bytes(b"")

    def runs_without_columns(d):
        con = sqlite3.connect(d / "results.db")
        con.executescript("CREATE TABLE runs (run_key TEXT); PRAGMA user_version = 2;")
        con.close()

    def foreign_wal(d):  # another program's database in WAL mode
        con = sqlite3.connect(d / "results.db")
        con.executescript("PRAGMA journal_mode=WAL; CREATE TABLE runs (id INTEGER, name TEXT); "
                          "INSERT INTO runs VALUES (1, 'x');")
        con.close()

    preps = [("store: another program's sqlite", foreign), ("store: another program's sqlite in WAL mode", foreign_wal),
             ("store: newer schema 7", newer),
             ("store: a text file", text), ("store: zero bytes", zero), ("store: an empty sqlite", empty_db),
             ("store: results.db a directory", directory), ("store: xz of random bytes", xz_garbage),
             ("store: xz of a text file", xz_of_text), ("store: empty xz", xz_empty),
             ("store: runs table lacking columns", runs_without_columns)]
    readers = [lambda d: ["status", str(d)], lambda d: ["speed", str(d)],
               lambda d: ["export", str(d), "--out", str(d / "x.csv")],
               lambda d: ["run", "SUITE", "--results", str(d), "--no-progress"], lambda d: ["pack", str(d)]]
    fresh = {zero, empty_db}  # a driver starts a new store in an empty database: valid, exit 0
    return [(f"{what} / {build(Path('D'))[0]}", prep, build, 0 if prep in fresh and build(Path("D"))[0] == "run" else 2)
            for what, prep in preps for build in readers]


CLI = [
    (["run", "SUITE", "--processes", "-1"], 2), (["run", "SUITE", "--workers", "1.5"], 2),
    (["run", "SUITE", "--results", ""], 2), (["run", "SUITE", "--checkpoints", "/dev/null"], 2),
    (["run", "SUITE", "--device", "CUDA"], 2), (["run", "SUITE", "--device", "cuda:-1"], 2),
    (["run", "SUITE", "--scheduler", "http://"], 2), (["run", "SUITE", "--scheduler", "tcp://nohost.invalid:8786"], 2),
    (["run", "nope.toml"], 2), (["run", "."], 2), (["run"], 2), (["run", "SUITE", "--fresh", "--results", "/dev/null"], 2),
    (["status", "nowhere"], 2), (["status", "SUITE"], 2), (["speed", "."], 2), (["export", ".", "--format", "xlsx"], 2),
    (["export", "nowhere", "--out", "/proc/x.csv"], 2), (["export-curves"], 2), (["export-curves", "nowhere"], 2),
    (["pack", "nowhere"], 2), (["unpack", "."], 2), (["record", "--configs", "2", "--shard", "3/2"], 2),
    (["record", "--configs", "2", "--shard", "x"], 2), (["record", "--configs", "2", "--budgets", "0"], 2),
    (["record", "--configs", "2", "--train-seeds", "a,b"], 2), (["record", "--configs", "2", "--epochs", "0"], 2),
    (["record", "--configs", "2", "--profile", "cpu+foo=bar"], 2), (["record", "--configs", "x"], 2),
    (["brackets", "--max-budget", "0"], 2), (["brackets", "--max-budget", "9", "--eta", "1"], 2),
    (["brackets", "--max-budget", "x"], 2), (["brackets", "--max-budget", "3", "--min-budget", "5"], 2),
    (["brackets", "--max-budget", "9", "--max-brackets", "0"], 2), (["gpu-check", "--out", "/dev/null"], 2),
    (["gpu-check", "--out", "OUT", "--minutes", "0"], 2), (["gpu-check", "--out", "OUT", "--minutes", "x"], 2),
    (["perf-tuners", "--points"], 2), (["perf-tuners", "--repeats", "-1"], 2), (["train", "--set", "foo"], 2),
    (["train", "--epochs", "0"], 2), (["methods", "nope"], 2), (["recipe-report", "nowhere"], 2),
    (["crash-test", "SUITE", "--stop-after", "0"], 2), (["perf-threads", "--epochs", "0"], 2),
    (["perf-task", "--device", "tpu"], 2), (["nope"], 2), ([], 2), (["run", "SUITE", "--no-progress"], 0),
    (["brackets", "--max-budget", "9"], 0), (["methods"], 0),
]


class Timeout(Exception):
    pass


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def attempt(argv, root: Path, allowed: list[Path]) -> dict:
    from bench.cli import main
    logging.getLogger().handlers.clear()
    out, err = io.StringIO(), io.StringIO()
    before = _files(root)
    t0 = time.perf_counter()

    def alarm(*_):
        raise Timeout()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
    except Timeout:
        code = "timeout"
    except BaseException as exc:  # noqa: BLE001 (what the corpus looks for)
        import traceback
        code, err = "exception", io.StringIO(traceback.format_exc())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    stray = {p for p in _files(root) - before if not any(p == a or a in p.parents for a in allowed)}
    text = err.getvalue()
    return {"code": code, "traceback": "Traceback" in text, "stray": sorted(str(p) for p in stray),
            "line": (text.strip().splitlines() or [""])[-1][:160], "seconds": time.perf_counter() - t0}


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="corpus-"))
    results = []

    def case(what, expected, argv_of, prepare=None):
        root = base / f"c{len(results)}"
        (root / "cwd").mkdir(parents=True)
        os.chdir(root / "cwd")
        (root / "table.csv").write_text(FIXTURE)
        suite_file = root / "suite.toml"
        suite_file.write_text(suite().replace("CURVES", str(root / "table.csv")))
        res_dir = root / "res"
        res_dir.mkdir()
        if prepare:
            prepare(root, res_dir, suite_file)
        argv = [str(suite_file) if a == "SUITE" else str(root / "out") if a == "OUT" else a for a in argv_of(root)]
        allowed = [root / "cwd" / "results", res_dir, root / "out"]
        r = attempt(argv, root, allowed)
        ok = r["code"] == expected and not r["traceback"] and not r["stray"]
        results.append((what, ok, r))
        print(f"{'ok ' if ok else 'BAD'} [{r['code']}] {r['seconds']:5.1f}s {what}: {r['line']}"
              + (f" STRAY {r['stray'][:3]}" if r["stray"] else ""), flush=True)

    for what, text, expected in SUITES:
        case(f"suite: {what}", expected, lambda root: ["run", "SUITE", "--results", str(root / "res"), "--no-progress"],
             lambda root, res, s, text=text: s.write_text(text.replace("CURVES", str(root / "table.csv"))))
    for what, edit in BAD_TABLES:
        case(what, 2, lambda root: ["run", "SUITE", "--results", str(root / "res"), "--no-progress"],
             lambda root, res, s, edit=edit: (root / "table.csv").write_text(table(edit)))
    for what, raw, suffix in RAW_TABLES:
        def prep(root, res, s, raw=raw, suffix=suffix):
            (root / f"bad{suffix}").write_bytes(raw)
            s.write_text(suite().replace("CURVES", str(root / f"bad{suffix}")))
        case(what, 2, lambda root: ["run", "SUITE", "--results", str(root / "res"), "--no-progress"], prep)
    for what, prep_store, build, expected in _store_cases(base):
        case(what, expected, lambda root, build=build: build(root / "res"),
             lambda root, res, s, prep_store=prep_store: prep_store(res))
    def recorded_then_edited(root, res, s):  # runs recorded on the table, then the table changed
        from bench.cli import main as bench_main
        with contextlib.redirect_stderr(io.StringIO()):
            assert bench_main(["run", str(s), "--results", str(res), "--no-progress"]) == 0
        (root / "table.csv").write_text(FIXTURE + "\n")
    case("suite: its table changed after runs were recorded", 2,
         lambda root: ["run", "SUITE", "--results", str(root / "res"), "--no-progress"], recorded_then_edited)
    for argv, expected in CLI:
        case("cli: " + " ".join(argv), expected, lambda root, argv=argv: list(argv))
    bad = [(w, r) for w, ok, r in results if not ok]
    print(f"\n{len(results)} cases: {len(results) - len(bad)} as expected, {len(bad)} not; tracebacks "
          f"{sum(r['traceback'] for _, _, r in results)}, timeouts {sum(r['code'] == 'timeout' for _, _, r in results)}, "
          f"stray writes {sum(bool(r['stray']) for _, _, r in results)}")
    for w, r in bad:
        print(f"  BAD {w}: {r}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
