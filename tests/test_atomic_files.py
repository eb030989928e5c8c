"""Files are written whole or not at all (autograd_mini.files): pages, drawings, the CLI's
outputs and checkpoints. A write that fails keeps the old file and says which file; a path
that cannot be written fails before any work; concurrent writers of one file leave each
other alone."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest
from conftest import killed_writer

import autograd_mini as ag
import nn
from autograd_mini.files import leftovers, write_file

# ---------------------------------------------------------------------------------------
# A full disk keeps the old file and names it
# ---------------------------------------------------------------------------------------


def no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    ("caller", "write"),
    [
        ("save_checkpoint", lambda path: nn.save_checkpoint(path, nn.MLP([3, 2], seed=0))),
    ],
)
def test_a_full_disk_found_when_syncing_is_an_error_naming_the_file(
    tmp_path, monkeypatch, caller, write
):
    """Some file systems (ext4's delayed allocation, NFS) report a full disk only when the
    data is synced: the file then never replaces the old one."""
    path = tmp_path / "old"
    path.write_bytes(b"the old file, intact")
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        write(path)
    assert str(info.value) == (
        f"{caller}: could not write {path}: No space left on device; {path} is unchanged."
    )
    assert isinstance(info.value, ag.FileWriteError) and info.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"the old file, intact"
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_a_new_file_gets_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("old")
    path.chmod(0o640)
    write_file(path, "new", "test")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


# ---------------------------------------------------------------------------------------
# Leftovers: a dead writer's temporary file is removed, a live writer's never
# ---------------------------------------------------------------------------------------


def test_a_killed_writers_leftover_goes_with_the_next_write(tmp_path):
    target = tmp_path / "page.html"
    left = killed_writer(target, ".tmp")
    assert leftovers(target, ".tmp") == [left]
    write_file(target, "page", "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


LIVE_WRITER = """
import sys
from autograd_mini.files import replacing
with replacing(sys.argv[1], "live") as out:
    out.file.write(b"from the live writer")
    print("writing", flush=True)
    sys.stdin.readline()  # until the test lets it finish
print("done", flush=True)
"""


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    target = tmp_path / "page.html"
    with subprocess.Popen(
        [sys.executable, "-c", LIVE_WRITER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as live:
        assert live.stdout.readline() == "writing\n"
        (theirs,) = tmp_path.iterdir()
        write_file(target, "mine", "test")  # another writer of the same file, meanwhile
        assert theirs.exists() and target.read_text() == "mine"
        assert leftovers(target, ".tmp") == []
        out, _ = live.communicate("go\n", timeout=60)
    assert live.returncode == 0 and out == "done\n"
    assert target.read_text() == "from the live writer"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


SAVER = """
import sys, time
from pathlib import Path
import nn
path, ready, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
model = nn.MLP([3, 4, 2], seed=0)
ready.touch()
start = time.monotonic()
while len(list(ready.parent.iterdir())) < 2 and time.monotonic() - start < 60:
    time.sleep(0.005)  # both processes start saving together
failures = []
for epoch in range(n):
    try:
        nn.save_checkpoint(path, model, epoch=epoch)
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
print(len(failures), *failures[:3], sep="\\n")
"""


def test_two_processes_saving_one_checkpoint_never_fail(tmp_path):
    path, ready = tmp_path / "model.npz", tmp_path / "ready"
    ready.mkdir()
    savers = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path), str(ready / str(k)), "100"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    reports = [saver.communicate(timeout=300) for saver in savers]
    for saver, (out, err) in zip(savers, reports, strict=True):
        assert saver.returncode == 0, err
        assert out.splitlines()[0] == "0", out
    assert nn.load_checkpoint(path).epoch == 99
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "ready"]


def test_a_file_name_of_the_longest_length_can_be_written(tmp_path):
    path = tmp_path / ("n" * 251 + ".svg")  # 255 bytes: a temporary name cannot repeat all of it
    write_file(path, "<svg/>", "test")
    assert path.read_text() == "<svg/>" and [p.name for p in tmp_path.iterdir()] == [path.name]
