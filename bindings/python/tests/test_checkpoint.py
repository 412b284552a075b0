"""Checkpoints and backups from Python (docs/CONTRACT.md rules 2.9-2.12): Database.checkpoint()
and backup(), the checkpoint open options, and the Stats and RecoveryInfo fields about them."""
import os
import shutil
import threading
import time

import pytest

import inmem


def image_name(version):
    return "ckpt-%016x.img" % version


def files(path, prefix=""):
    return sorted(f for f in os.listdir(path) if f.startswith(prefix))


def dump(db):
    """Everything a database holds, as comparable Python values: for the shared scope and every
    stored run, its KV entries (with versions and expiries), state cells, event streams and
    spans; and every run's metadata."""
    out = {}
    for run in [None] + list(db.run_list_stored()):
        kv = list(db.scan(run=run))
        out[str(run)] = {
            "kv": kv,
            "expiry": {e.key: db.get_expiry(e.key, run=run) for e in kv},
            "cells": list(db.state_list(run=run)),
            "events": {s: list(db.event_range(s, run=run)) for s in db.streams(run=run)},
            "spans": list(db.trace_query(run=run)),
        }
    out["runs"] = [db.run_get(r) for r in db.run_list()]
    return out


def workload(db, run, rnd):
    """Puts, overwrites, deletes, a TTL, a multi-key transaction, events, a cell and a span,
    in a run and in the shared scope. Returns the version it ends at."""
    for i in range(200):
        db.put(b"k%03d" % i, b"value %d of round %d" % (i, rnd), run=run if i % 2 else None)
    for i in range(0, 200, 7):
        db.delete(b"k%03d" % i, run=run if i % 2 else None)
    with db.transaction() as tx:
        tx.put(b"multi-a", b"A%d" % rnd, run=run)
        tx.put(b"multi-b", b"B%d" % rnd)
        tx.put(b"ttl", b"lives", run=run, expire_at_ms=int(time.time() * 1000) + 3_600_000)
    db.event_append_json("log", "note", {"round": rnd}, run=run)
    db.state_set("cell", "state %d" % rnd, run=run)
    db.trace_record("decision", "step-%d" % rnd, run=run, input="in", output="out",
                    confidence=0.5, tags=["t%d" % rnd])
    return db.stats().version


def test_checkpoint_then_reopen_is_exact_and_names_the_image(path):
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        run = db.run_begin(agent="a", tags=["x"])
        workload(db, run, 0)
        workload(db, run, 1)
        logs_before = files(path, "wal-")
        v = db.checkpoint()
        assert v == db.stats().version
        assert files(path, "ckpt-") == [image_name(v)]
        # the log segments the image covers are gone
        assert not set(logs_before) & set(files(path, "wal-")), files(path)
        assert db.checkpoint() == v  # nothing new: the same image, no second one
        assert db.stats().checkpoints == 1
        end = workload(db, run, 2)  # the log after the image
        before = dump(db)
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        rec = db.recovery()
        assert rec.checkpoint_version == v
        assert rec.checkpoint_file == image_name(v)
        assert rec.version == end and rec.txns_applied == end - v
        assert rec.txns_skipped == 0 and not rec.checkpoint_fallback and rec.keys_dropped == 0
        assert 0 < rec.checkpoint_load_us <= rec.time_us
        assert dump(db) == before
        assert db.event_verify("log", run=run) == 0
        assert db.put(b"after", b"x") == end + 1


def test_open_without_an_image_reports_none(path):
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        db.put(b"k", b"v")
    with inmem.open(path) as db:
        rec = db.recovery()
        assert rec.checkpoint_version == 0 and rec.checkpoint_file is None
        assert rec.checkpoint_load_us == 0 and rec.txns_applied == 1
    with inmem.open(durability="none") as db:
        assert db.recovery().checkpoint_file is None


def contents(path):
    """Every file under path, read whole."""
    out = {}
    for root, _, names in os.walk(path):
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                out[os.path.join(root, n)] = f.read()
    return out


def holding(path, marker):
    return [name for name, data in contents(path).items() if marker in data]


def test_checkpoint_erases_deleted_data_from_every_file(path):
    markers = {
        "run kv value": b"MARKER-run-kv-value-q7",
        "run event payload": b"MARKER-run-event-q7",
        "run cell value": b"MARKER-run-cell-q7",
        "run span input": b"MARKER-run-span-q7",
        "overwritten value": b"MARKER-overwritten-q7",
        "deleted key": b"MARKER-deleted-key-q7",
        "deleted value": b"MARKER-deleted-value-q7",
        "expired and swept value": b"MARKER-expired-q7",
    }
    live = b"MARKER-live-value-q7"
    with inmem.open(path, checkpoint_log_ratio=0, ttl_sweep_interval_ms=0) as db:
        run = db.run_begin(agent="eraser")
        db.put(b"secret", markers["run kv value"], run=run)
        db.event_append("s", "t", markers["run event payload"], run=run)
        db.state_set("cell", markers["run cell value"], run=run)
        db.trace_record("tool_call", "span", run=run, input=markers["run span input"])
        db.put(b"over", markers["overwritten value"])
        db.put(b"over", b"replaced")
        db.put(markers["deleted key"], markers["deleted value"])
        db.delete(markers["deleted key"])
        db.put(b"exp", markers["expired and swept value"],
               expire_at_ms=int(time.time() * 1000) - 1000)
        assert db.sweep() == 1
        db.put(b"keep", live)
        db.run_delete(run)
        for what, m in markers.items():  # the log still holds them all
            assert holding(path, m), what
        v = db.checkpoint()
        assert v == db.stats().version
        for what, m in markers.items():
            assert holding(path, m) == [], what
        assert holding(path, live)  # the live data is still on disk: in the image
    for what, m in markers.items():  # and nothing came back at close
        assert holding(path, m) == [], what
    with inmem.open(path) as db:
        assert db.get(b"keep") == live and db.get(b"over") == b"replaced"
        assert db.get(markers["deleted key"]) is None and db.get(b"exp") is None
        assert list(db.run_list()) == []


@pytest.mark.parametrize("durability", ["none", "batched"])
def test_backup_while_another_thread_writes_opens_to_exactly_its_version(tmp_path, durability):
    src = str(tmp_path / "db") if durability != "none" else None
    bdir = str(tmp_path / "backup")
    db = inmem.open(src, durability=durability, checkpoint_log_ratio=0)
    with db.transaction() as tx:  # a preload, so that the image takes a while to write
        for i in range(20000):
            tx.put(b"pre%05d" % i, b"p" * 50)
    base = db.stats().version
    written = {}  # version -> key, of every acknowledged put
    errors = []
    started, backup_done, wrote_after, stop = (threading.Event() for _ in range(4))

    def writer():
        try:
            i = 0
            while not stop.is_set():
                i += 1
                after = backup_done.is_set()
                key = b"w%08d" % i
                written[db.put(key, key)] = key
                if i == 1000:
                    started.set()
                if after:
                    wrote_after.set()
        except BaseException as e:  # noqa: B902 (reported by the main thread)
            errors.append(e)
            started.set()
            wrote_after.set()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert started.wait(60)  # a liveness bound, not a timing assertion
        v = db.backup(bdir)
        backup_done.set()
        assert wrote_after.wait(60)
        if durability != "none":
            ck = db.checkpoint()  # a checkpoint while the writer goes on, too
            assert ck >= v
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    last = max(written)
    assert base < v < last  # writes came before the backup's version, and after it
    assert files(bdir) == [image_name(v)]
    with pytest.raises(inmem.InvalidArgument):
        db.backup(bdir)  # not empty any more
    db.close()

    with inmem.open(bdir) as b:
        rec = b.recovery()
        assert rec.version == v and rec.checkpoint_version == v
        assert rec.checkpoint_file == image_name(v) and rec.txns_applied == 0
        assert b.stats().version == v
        for ver, key in written.items():
            if ver <= v:
                e = b.get_entry(key)
                assert e is not None and e.value == key and e.version == ver, (ver, key)
            else:
                assert b.get(key) is None, (ver, key, v)
        assert b.get(b"pre00000") == b"p" * 50 and b.get(b"pre19999") == b"p" * 50
    if durability != "none":  # the checkpoint taken beside the writer lost nothing
        with inmem.open(src) as d:
            assert d.stats().version == last
            assert all(d.get(k) == k for k in written.values())


def test_backup_of_a_read_only_and_of_an_in_memory_database(tmp_path, path):
    with inmem.open(path) as db:
        db.put(b"k", b"v")
        run = db.run_begin()
        db.event_append("s", "t", b"e", run=run)
        want = db.stats().version
    with inmem.open(path, read_only=True) as ro:
        assert ro.backup(tmp_path / "ro-backup") == want  # a path-like works too
    with inmem.open(str(tmp_path / "ro-backup")) as b:
        assert b.get(b"k") == b"v" and b.event_get("s", 1, run=run).payload == b"e"
    with inmem.open(durability="none") as mem:
        mem.put(b"m", b"1")
        assert mem.backup(str(tmp_path / "mem-backup")) == 1
    with inmem.open(str(tmp_path / "mem-backup")) as b:
        assert b.get(b"m") == b"1" and b.recovery().checkpoint_version == 1


def test_stats_move_with_checkpoints(path):
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        s = db.stats()
        assert (s.checkpoints, s.checkpoint_failures, s.checkpoint_version, s.checkpoint_bytes,
                s.checkpoint_error, s.live_bytes) == (0, 0, 0, 0, 0, 0)
        for i in range(100):
            db.put(b"key%03d" % i, b"v" * 100)
        s = db.stats()
        assert s.live_bytes >= 100 * (6 + 100)
        assert s.wal_bytes_since_checkpoint == s.wal_bytes > 0
        db.put(b"key000", b"v" * 10)  # a smaller value: the live data shrinks by exactly 90
        assert db.stats().live_bytes == s.live_bytes - 90
        s = db.stats()
        db.delete(b"key001")
        assert db.stats().live_bytes <= s.live_bytes - (6 + 100)

        v = db.checkpoint()
        s = db.stats()
        assert s.checkpoints == 1 and s.checkpoint_version == v == s.version
        assert s.checkpoint_bytes == os.path.getsize(os.path.join(path, image_name(v)))
        assert s.checkpoint_time_us > 0
        assert s.wal_bytes_since_checkpoint == 0 and s.checkpoint_failures == 0
        db.put(b"more", b"x")
        assert db.stats().wal_bytes_since_checkpoint > 0

        # a checkpoint that fails (its temporary file cannot be created) is counted, keeps the
        # error, and leaves the database working; the next one clears the error
        blocker = os.path.join(path, image_name(v + 1) + ".tmp")
        os.mkdir(blocker)
        with pytest.raises(inmem.DiskError) as ei:
            db.checkpoint()
        assert ei.value.detail and image_name(v + 1) in ei.value.detail
        s = db.stats()
        assert s.checkpoint_failures == 1 and s.checkpoint_error == ei.value.code
        assert inmem.errname(s.checkpoint_error) == "INMEM_EIO"
        assert s.checkpoints == 1 and s.checkpoint_version == v
        assert db.get(b"more") == b"x" and db.put(b"still", b"works") == v + 2
        os.rmdir(blocker)
        v2 = db.checkpoint()
        s = db.stats()
        assert v2 == v + 2 and s.checkpoints == 2 and s.checkpoint_version == v2
        assert s.checkpoint_error == 0 and s.checkpoint_failures == 1
        assert files(path, "ckpt-") == [image_name(v2)]
        before = dump(db)
    with inmem.open(path) as db:
        assert db.recovery().checkpoint_version == v2 and dump(db) == before


def test_checkpoint_errors(path, tmp_path):
    with inmem.open(durability="none") as mem:
        with pytest.raises(inmem.NotSupported) as ei:
            mem.checkpoint()
        assert ei.value.code == -17 and ei.value.errname == "INMEM_ENOTSUP"
    with inmem.open(path) as db:
        db.put(b"k", b"v")
        with inmem.open(path, read_only=True) as ro:  # beside the writer
            with pytest.raises(inmem.ReadOnlyError):
                ro.checkpoint()
    with inmem.open(path, read_only=True) as ro:  # alone
        with pytest.raises(inmem.ReadOnlyError) as ei:
            ro.checkpoint()
        assert ei.value.code == -24
        assert ro.stats().checkpoint_failures == 0  # refused, not failed
    assert files(path, "ckpt-") == []
    db = inmem.open(path)
    db.close()
    with pytest.raises(inmem.MisuseError):
        db.checkpoint()
    with pytest.raises(inmem.MisuseError):
        db.backup(str(tmp_path / "b"))
    with inmem.open(path) as db:
        not_empty = tmp_path / "not-empty"
        not_empty.mkdir()
        (not_empty / "f").write_text("x")
        with pytest.raises(inmem.InvalidArgument):
            db.backup(str(not_empty))
        with pytest.raises(inmem.InvalidArgument):
            db.backup(str(not_empty / "f"))  # a file, not a directory
        with pytest.raises(TypeError):
            db.backup(42)
        with pytest.raises(TypeError):
            db.backup()
        with pytest.raises(ValueError):
            db.backup("bad\0path")


def test_checkpoint_on_close(path):
    with inmem.open(path, checkpoint_log_ratio=0, checkpoint_on_close=True) as db:
        for i in range(50):
            db.put(b"k", b"%d" % i)
    assert files(path, "ckpt-") == [image_name(50)]
    with inmem.open(path, checkpoint_on_close=True) as db:
        rec = db.recovery()
        assert rec.checkpoint_version == 50 and rec.txns_applied == 0 and rec.version == 50
    assert files(path, "ckpt-") == [image_name(50)]  # nothing new: no second image


def test_no_checkpoint_on_close_by_default(path):
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        for i in range(50):
            db.put(b"k", b"%d" % i)
    assert files(path, "ckpt-") == []
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        rec = db.recovery()
        assert rec.checkpoint_version == 0 and rec.txns_applied == 50


def test_automatic_checkpoint_when_the_log_has_grown(path):
    with inmem.open(path, checkpoint_log_ratio=2, checkpoint_log_min=256 << 10,
                    wal_segment_size=1 << 20) as db:
        for i in range(300):  # ~300 KB of log over 30 keys of 1000 B: past the floor
            db.put(b"k%02d" % (i % 30), bytes(1000))
        s = db.stats()
        deadline = time.monotonic() + 60  # the checkpointer's turn: a liveness bound
        while s.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
            s = db.stats()
        assert s.checkpoints >= 1 and s.checkpoint_version > 0
        assert s.wal_bytes_since_checkpoint < 256 << 10
    assert len(files(path, "ckpt-")) == 1


def test_checkpoint_option_values(path):
    with pytest.raises(ValueError):
        inmem.open(path, checkpoint_log_ratio=-1)
    with pytest.raises(ValueError):
        inmem.open(path, checkpoint_log_ratio=1 << 32)
    with pytest.raises(ValueError):
        inmem.open(path, checkpoint_log_min=1 << 64)
    with pytest.raises(TypeError):
        inmem.open(path, checkpoint_log_min="16M")
    with pytest.raises(TypeError):
        inmem.open(path, checkpoint_on_clos=True)
    with inmem.open(path, checkpoint_log_ratio=None, checkpoint_log_min=None) as db:
        db.put(b"k", b"v")  # None: the library's defaults


def damage(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def test_damaged_image_fails_the_open_and_repair_salvages_it(path):
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        for i in range(3000):  # several 64 KiB blocks
            db.put(b"k%05d" % i, b"v" * 100)
        v = db.checkpoint()
    img = os.path.join(path, image_name(v))
    damage(img, 64 + 16 + 500)  # inside the first block's payload
    with pytest.raises(inmem.CorruptError) as ei:
        inmem.open(path)
    assert image_name(v) in ei.value.detail
    with inmem.open(path, read_only=True, repair=True) as ro:  # what a repair would drop
        rec = ro.recovery()
        assert rec.repaired and rec.repair_file == image_name(v) and rec.keys_dropped > 0
    with inmem.open(path, repair=True) as db:
        rec = db.recovery()
        assert rec.repaired and rec.repair_file == image_name(v)
        assert rec.checkpoint_file == image_name(v) and rec.checkpoint_version == v
        assert 0 < rec.keys_dropped < 3000
        present = sum(db.get(b"k%05d" % i) is not None for i in range(3000))
        assert present == 3000 - rec.keys_dropped == db.stats().keys


def test_repair_of_a_cut_image_reports_its_lost_keys_as_unknown(path):
    """The trailer, which counts an image's keys, is lost with the end of a cut image: the keys
    dropped are inmem.COUNT_UNKNOWN, never 0."""
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        for i in range(3000):
            db.put(b"k%05d" % i, b"v" * 100)
        v = db.checkpoint()
    img = os.path.join(path, image_name(v))
    os.truncate(img, os.path.getsize(img) // 3)
    with inmem.open(path, repair=True) as db:
        rec = db.recovery()
        assert rec.repaired and rec.repair_file == image_name(v)
        assert rec.keys_dropped == inmem.COUNT_UNKNOWN == 2**64 - 1
        assert 0 < db.stats().keys < 3000


def test_damaged_newest_image_falls_back_to_an_older_one(tmp_path):
    """Two images and the whole log: what a crash between installing an image and removing the
    older image and segments leaves. The log's commits an image holds are skipped; a damaged
    newest image falls back to the older one, losing nothing."""
    path = str(tmp_path / "db")
    with inmem.open(path, checkpoint_log_ratio=0) as db:
        for i in range(100):
            db.put(b"a%d" % i, b"x")
        v1 = db.backup(str(tmp_path / "b1"))
        for i in range(100):
            db.put(b"b%d" % i, b"y")
        v2 = db.backup(str(tmp_path / "b2"))
        for i in range(100):
            db.put(b"c%d" % i, b"z")
        end = db.stats().version
        before = dump(db)
    assert (v1, v2, end) == (100, 200, 300)
    for b, v in (("b1", v1), ("b2", v2)):
        shutil.copy(str(tmp_path / b / image_name(v)), path)
    with inmem.open(path, read_only=True) as ro:
        rec = ro.recovery()
        assert rec.checkpoint_version == v2 and rec.txns_skipped == v2
        assert rec.txns_applied == end - v2 and not rec.checkpoint_fallback
        assert dump(ro) == before
    damage(os.path.join(path, image_name(v2)), 64 + 16 + 20)
    with inmem.open(path) as db:
        rec = db.recovery()
        assert rec.checkpoint_fallback and rec.checkpoint_version == v1
        assert rec.checkpoint_file == image_name(v1)
        assert rec.txns_skipped == v1 and rec.txns_applied == end - v1 and rec.keys_dropped == 0
        assert dump(db) == before
    assert image_name(v2) + ".dropped" in files(path)
