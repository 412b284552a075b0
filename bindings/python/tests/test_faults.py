"""Failures of the disk seen from Python: fdatasync made to fail (EIO) by a small LD_PRELOAD shim
built for the test, in a child interpreter (the shim must be loaded before the library starts).

- A batched commit whose capped fsync fails is applied: it raises DiskError (not known durable),
  but the transaction says "committed" and the value is there.
- A strict commit whose fsync fails raises DiskError and is never visible: stats() counts it in
  aborts_error, not in commits.
- A Database dropped without close() whose close fails (its final fsync) reports the error as
  unraisable and goes on; it crashed the interpreter once (the report took a reference to the
  object being deallocated).
"""
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
static int failing(void)
{
    const char *f = getenv("FAILSYNC_FLAG");
    return f && access(f, F_OK) == 0;
}
int fdatasync(int fd)
{
    if (failing()) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    cc = sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    if not shutil.which(cc):
        cc = "cc"
    d = tmp_path_factory.mktemp("shim")
    src = d / "failsync.c"
    src.write_text(SHIM)
    so = d / "failsync.so"
    # under `make test-python SAN=address` the sanitizer's runtime is preloaded into this
    # process: not into the compiler, whose own leaks LeakSanitizer would report (exit 1)
    cenv = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(so), str(src), "-ldl"], check=True, env=cenv)
    return str(so)


def run_child(shim, tmp_path, code):
    env = dict(os.environ)
    # after whatever is preloaded already (a sanitizer's runtime must come first)
    env["LD_PRELOAD"] = " ".join(filter(None, [os.environ.get("LD_PRELOAD"), shim]))
    env["FAILSYNC_FLAG"] = str(tmp_path / "fail-now")
    env["DBDIR"] = str(tmp_path / "db")
    return subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_batched_commit_whose_capped_fsync_fails_is_committed(shim, tmp_path):
    code = r"""
import os, inmem
db = inmem.open(os.environ["DBDIR"], durability="batched", max_unsynced_commits=1,
                sync_interval_ms=10**6, sync_commits=10**6)
for i in range(10):  # until a commit waited for a capped fsync
    before = db.stats().wal_syncs
    db.put(b"other", b"x")
    if db.stats().wal_syncs > before:
        break
db.put(b"other", b"y")  # unsynced: the next commit waits for an fsync
open(os.environ["FAILSYNC_FLAG"], "w").close()
tx = db.transaction()
tx.put(b"k", b"v")
try:
    tx.commit()
    print("no error")
except inmem.DiskError as e:
    print("DiskError", e.errname)
print("state", tx.state)
print("value", db.get(b"k"))
os.unlink(os.environ["FAILSYNC_FLAG"])
"""
    r = run_child(shim, tmp_path, code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert "DiskError INMEM_EIO" in lines, r.stdout
    assert "state committed" in lines, r.stdout
    assert "value b'v'" in lines, r.stdout


def test_strict_commit_whose_fsync_fails_is_an_error_not_a_commit(shim, tmp_path):
    code = r"""
import os, inmem
db = inmem.open(os.environ["DBDIR"], durability="strict")
db.put(b"k", b"old")
s0 = db.stats()
open(os.environ["FAILSYNC_FLAG"], "w").close()
try:
    db.put(b"k", b"new")
    print("no error")
except inmem.DiskError as e:
    print("DiskError", e.errname)
s1 = db.stats()
print("value", db.get(b"k"))
print("commits", s1.commits - s0.commits, "aborts_error", s1.aborts_error - s0.aborts_error)
os.unlink(os.environ["FAILSYNC_FLAG"])
"""
    r = run_child(shim, tmp_path, code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert "DiskError INMEM_EIO" in lines, r.stdout
    assert "value b'old'" in lines, r.stdout  # strict: never visible
    assert "commits 0 aborts_error 1" in lines, r.stdout


def test_database_whose_close_fails_at_garbage_collection_reports_it(shim, tmp_path):
    code = r"""
import os, inmem
db = inmem.open(os.environ["DBDIR"], durability="batched", sync_interval_ms=10**6,
                sync_commits=10**6)
db.put(b"k", b"v")
open(os.environ["FAILSYNC_FLAG"], "w").close()  # the close's fsync will fail
del db
os.unlink(os.environ["FAILSYNC_FLAG"])
print("survived")
"""
    r = run_child(shim, tmp_path, code)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "survived" in r.stdout
    assert "close (at garbage collection)" in r.stderr
