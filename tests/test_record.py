"""bench record: real curves with test metrics kept apart; a killed record resumes to the same rows."""
import shutil
import signal
import sqlite3

from tests.conftest import SMOKE_RECORD


def _record(cli, results, env=None, extra=()):
    """``python -m bench record ...`` in a new process (forked by ``bench_cli``, see tests/clirun.py): the
    command of the ``smoke_record`` fixture (conftest.py), with ``extra`` arguments."""
    import os
    return cli.run(["record", *SMOKE_RECORD, "--results", results, *extra], env=dict(os.environ, **(env or {})),
                   timeout=600)


def _export(cli, results, out, *extra):
    return cli.run(["export-curves", results, "--out", out, *extra], timeout=120)


def _rows(results):
    db = sqlite3.connect(results / "results.db")
    ev = db.execute("SELECT job_id, epoch, train_loss, val_loss, val_miou, status FROM evaluations "
                    "ORDER BY job_id, epoch").fetchall()
    te = db.execute("SELECT job_id, epoch, test_loss, test_miou FROM curve_tests ORDER BY job_id, epoch").fetchall()
    jobs = db.execute("SELECT job_id, status, epochs_trained FROM jobs ORDER BY job_id").fetchall()
    return ev, te, jobs


def test_record_writes_curves_and_their_test_scores(tmp_path, smoke_record, bench_cli):
    """One seed, no shard: every epoch's validation row and its test score (own table), exported as a
    complete curves table. Kills and resumes are tested with seeds and shards below."""
    import json
    shutil.copytree(smoke_record, tmp_path / "ref")  # the record (python -m bench record ...), made once
    want = _rows(tmp_path / "ref")
    assert len(want[0]) == len(want[1]) == 2 * 4 and want[2] == [(0, "ok", 4), (1, "ok", 4)]
    assert all(0 <= t[3] <= 1 for t in want[1])  # test mIoU per epoch, in its own table
    assert not (tmp_path / "ref" / "checkpoints" / "j0").exists()
    # a whole recording (one process, no shards), given twice: one complete table, its run counted once
    out = tmp_path / "curves" / "ref.csv"
    assert _export(bench_cli, tmp_path / "ref", out).returncode == 0
    res = bench_cli.run(["export-curves", tmp_path / "ref", tmp_path / "ref", "--out", out], timeout=120)
    assert res.returncode == 0, res.stderr
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["complete"] is True and meta["incomplete_because"] == [] and len(meta["runs"]) == 1
    assert meta["curves"] == 2 and meta["rows"] == 8


def test_record_with_training_seeds_resumes_after_kills(tmp_path, real_data, bench_cli):
    """Two training seeds per configuration, one shard of two: the same rows after two kills;
    the seeds give different curves; the last epoch keeps per-image validation confusions."""
    import json
    extra = ("--train-seeds", "0,1", "--shard", "1/3", "--configs", "3")
    assert _record(bench_cli, tmp_path / "ref", extra=extra).returncode == 0
    want = _rows(tmp_path / "ref")
    # shard 1 of 3 holds configuration 1 only; jobs are configuration-major: (1, seed 0) = 2, (1, seed 1) = 3
    assert want[2] == [(2, "ok", 4), (3, "ok", 4)]
    curves = {j: [r[3] for r in want[0] if r[0] == j] for j in (2, 3)}
    assert curves[2] != curves[3]
    db = sqlite3.connect(tmp_path / "ref" / "results.db")
    seeds = [json.loads(i)["train_seed"] for (i,) in db.execute("SELECT info FROM jobs ORDER BY job_id")]
    assert seeds == [0, 1]
    by_image = [json.loads(v) for (v,) in db.execute(
        "SELECT val_confusion_by_image FROM evaluations WHERE val_confusion_by_image IS NOT NULL")]
    assert len(by_image) == 2 and all(sum(map(sum, sum(b.values(), []))) > 0 for b in by_image)
    # killed once training here, once training on two worker processes (the parent writes every row;
    # its workers die with it), resumed on the workers: the same rows as one process in one go
    workers = extra + ("--workers", "2")
    for at, how in ((5, extra), (11, workers)):
        res = _record(bench_cli, tmp_path / "rec", {"AERIAL_HPO_KILL_AT_WRITE": str(at)}, how)
        assert res.returncode == -signal.SIGKILL
    # a killed recording is unfinished: its curves table is refused; here no curve had ended yet
    out = tmp_path / "curves" / "rec.csv"
    res = _export(bench_cli, tmp_path / "rec", out)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "record/smoke/seed5 has not finished (status running" in res.stderr and "--partial" in res.stderr
    assert str(tmp_path / "rec") in res.stderr and not out.exists()
    res = _export(bench_cli, tmp_path / "rec", out, "--partial")
    assert res.returncode == 2 and res.stderr.strip() == f"error: no curve has ended yet in {tmp_path / 'rec'}: nothing to export"
    res = _record(bench_cli, tmp_path / "rec", extra=workers)
    assert res.returncode == 0, res.stderr[-2000:]
    assert _rows(tmp_path / "rec") == want
    # finished, but one shard of three: still not a whole recording
    res = _export(bench_cli, tmp_path / "rec", out)
    assert res.returncode == 2 and "has not finished" not in res.stderr
    assert "recording smoke seed 5: shard(s) 0/3, 2/3 not given" in res.stderr
    assert _export(bench_cli, tmp_path / "rec", out, "--partial").returncode == 0
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["complete"] is False and meta["curves"] == 2
    assert meta["incomplete_because"] == ["recording smoke seed 5: shard(s) 0/3, 2/3 not given"]
    assert not (tmp_path / "rec" / "checkpoints" / "j2").exists()
    # another shard or seed list on the same store is refused with one clear line
    res = _record(bench_cli, tmp_path / "rec", extra=("--train-seeds", "0,1,2", "--shard", "1/3", "--configs", "3"))
    assert res.returncode == 2 and "use another --results directory" in res.stderr
    assert "Traceback" not in res.stderr


def test_remeasure_fills_in_missing_cpu_seconds_and_changes_nothing_else(tmp_path, smoke_record, bench_cli):
    """Curves recorded before CPU seconds were stored: ``--remeasure-cpu`` retrains those jobs and fills
    in only the missing CPU seconds where the retrained metrics equal the stored ones (deterministic);
    an epoch whose stored metrics differ keeps none, and a warning counts it. Then, on the same record,
    a job killed after its last epoch was stored ends with its stored final scores."""
    shutil.copytree(smoke_record, tmp_path / "r")  # the record (python -m bench record ...), made once
    db = sqlite3.connect(tmp_path / "r" / "results.db")
    before = db.execute("SELECT * FROM evaluations ORDER BY job_id, epoch").fetchall()
    cols = [d[1] for d in db.execute("PRAGMA table_info(evaluations)")]
    cpu = cols.index("cpu_seconds")
    assert all(r[cpu] > 0 for r in before)
    db.execute("UPDATE evaluations SET cpu_seconds = NULL WHERE job_id = 1 OR (job_id = 0 AND epoch = 3)")
    db.execute("UPDATE evaluations SET cpu_seconds = NULL, val_loss = 9.5 WHERE job_id = 0 AND epoch = 2")
    db.commit()
    db.close()
    res = _record(bench_cli, tmp_path / "r", extra=("--remeasure-cpu",))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "remeasured 2 job(s): 5 of 6 epochs without CPU seconds have metrics equal" in res.stderr
    assert "1 retrained epoch(s) differ from the stored ones" in res.stderr
    db = sqlite3.connect(tmp_path / "r" / "results.db")
    after = db.execute("SELECT * FROM evaluations ORDER BY job_id, epoch").fetchall()
    db.close()
    job, ep, loss = cols.index("job_id"), cols.index("epoch"), cols.index("val_loss")
    altered = [i for i, r in enumerate(after) if r[job] == 0 and r[ep] == 2]
    assert len(altered) == 1 and after[altered[0]][cpu] is None and after[altered[0]][loss] == 9.5
    rest = [i for i in range(len(after)) if i not in altered]
    assert [after[i][:cpu] + after[i][cpu + 1:] for i in rest] == [before[i][:cpu] + before[i][cpu + 1:] for i in rest]
    assert all(after[i][cpu] > 0 for i in rest)
    kept = [r[cpu] for r in before if r[job] == 0 and r[ep] in (1, 4)]
    assert [r[cpu] for r in after if r[job] == 0 and r[ep] in (1, 4)] == kept  # not overwritten

    # killed between storing job 1's last epoch (its checkpoint at R on disk) and marking it done: the
    # resume trains nothing more for it and takes its final loss and mIoU from the stored epoch R, as an
    # uninterrupted record stores them
    db = sqlite3.connect(tmp_path / "r" / "results.db")
    want = db.execute("SELECT job_id, status, loss, val_miou, epochs_trained FROM jobs ORDER BY job_id").fetchall()
    assert all(w[2] is not None and w[3] is not None for w in want)
    db.execute("UPDATE jobs SET status = 'asked', loss = NULL, val_miou = NULL, epochs_trained = NULL WHERE job_id = 1")
    db.execute("UPDATE runs SET status = 'running'")
    db.commit()
    db.close()
    ck = tmp_path / "r" / "checkpoints" / "j1"
    ck.mkdir(parents=True)
    (ck / "e4.pt").write_bytes(b"never read: every epoch up to it is stored")
    res = _record(bench_cli, tmp_path / "r")
    assert res.returncode == 0, res.stderr[-2000:]
    db = sqlite3.connect(tmp_path / "r" / "results.db")
    assert db.execute("SELECT job_id, status, loss, val_miou, epochs_trained FROM jobs ORDER BY job_id").fetchall() == want
    assert db.execute("SELECT * FROM evaluations ORDER BY job_id, epoch").fetchall() == after
    assert not ck.exists()
