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
from pathlib import Path

import numpy as np
import pytest
from conftest import killed_writer, needs_dot

import autograd_mini as ag
import nn
from autograd_mini.files import leftovers, write_file
from nn.cli import main


def small_loss():
    model = nn.MLP([60, 80, 3], seed=0)
    return ag.quadratic_cost(model(np.ones((4, 60))), np.zeros((4, 3)))


# ---------------------------------------------------------------------------------------
# A write that fails midway (the file-size limit of the process: the kernel refuses the
# bytes past it, as a full disk would) keeps the old file and names it
# ---------------------------------------------------------------------------------------

LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # writes past 1 KiB fail: EFBIG
import numpy as np, autograd_mini as ag, nn
from nn.cli import main
path = sys.argv[1]
model = nn.MLP([60, 80, 3], seed=0)
loss = ag.quadratic_cost(model(np.ones((4, 60))), np.zeros((4, 3)))
try:
    {call}
except OSError as exc:
    print(exc)
    sys.exit(3)
"""

WRITERS = {
    "save_html": ("page.html", "ag.save_html(loss, path)"),
    "save_svg": ("graph.svg", "ag.save_svg(loss, path)"),
    "Stepper.save": ("page.html", "ag.stepper(loss).save(path)"),
    "save_checkpoint": ("model.npz", "nn.save_checkpoint(path, model)"),
    "graph -o .gv": (
        "graph.gv",
        "sys.exit(main(['graph', '--sizes', '60', '80', '3', '-o', path]))",
    ),
    "graph -o .svg": (
        "graph.svg",
        "sys.exit(main(['graph', '--sizes', '60', '80', '3', '-o', path]))",
    ),
    "graph --html": (
        "graph.html",
        "sys.exit(main(['graph', '--sizes', '60', '80', '3', '--html', '-o', path]))",
    ),
}


DRAWS = {"save_html", "save_svg", "Stepper.save", "graph -o .svg", "graph --html"}
"""The writers that render with Graphviz's dot."""


@pytest.mark.parametrize(
    "writer", [pytest.param(w, marks=needs_dot) if w in DRAWS else w for w in WRITERS]
)
def test_a_write_cut_short_keeps_the_old_file_and_names_it(tmp_path, writer):
    name, call = WRITERS[writer]
    path = tmp_path / name
    path.write_bytes(b"the old file, intact")
    result = subprocess.run(
        [sys.executable, "-c", LIMITED.format(call=call), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = result.stdout + result.stderr
    assert result.returncode in (1, 3), said
    assert "Traceback" not in said and said.count("\n") == 1, said
    assert f"could not write {path}: File too large; {path} is unchanged." in said
    assert path.read_bytes() == b"the old file, intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "no temporary file is left"


def no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    ("caller", "write"),
    [
        pytest.param("save_html", lambda path: ag.save_html(small_loss(), path), marks=needs_dot),
        pytest.param("save_svg", lambda path: ag.save_svg(small_loss(), path), marks=needs_dot),
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


def test_a_cli_output_on_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "graph.gv"
    monkeypatch.setattr(os, "fsync", no_space)
    assert main(["graph", "-o", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"autograd-mini: error: -o: could not write {path}: No space left on device; nothing "
        "was written.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_new_file_gets_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("old")
    path.chmod(0o640)
    write_file(path, "new", "test")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


@needs_dot
def test_a_symbolic_link_is_written_through_and_kept(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "graph.svg"
    real.write_text("old")
    link = tmp_path / "graph.svg"
    link.symlink_to(real)
    ag.save_svg(small_loss(), link)
    assert link.is_symlink() and real.read_text(encoding="utf-8").startswith("<?xml")


@needs_dot
def test_a_device_is_written_directly_and_never_replaced(tmp_path):
    ag.save_svg(small_loss(), "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(OSError) as info:  # /dev/full: every write finds the disk full
        ag.save_svg(small_loss(), "/dev/full")
    assert str(info.value) == "save_svg: could not write /dev/full: No space left on device."
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


# ---------------------------------------------------------------------------------------
# save_html: a path that cannot be written fails before the backward pass runs
# ---------------------------------------------------------------------------------------


def unwritable(tmp_path: Path, kind: str) -> tuple[Path | str, str]:
    """A path save_html cannot write, and what its error says."""
    if kind == "dangling link":
        link = tmp_path / "page.html"
        link.symlink_to(tmp_path / "gone" / "page.html")
        return link, f"there is no folder {tmp_path / 'gone'}"
    if kind == "/proc":
        return "/proc/page.html", "No such file or directory"
    if kind == "NUL":
        return str(tmp_path / "pa\0ge.html"), "holds a NUL character"
    if kind == "folder":
        return tmp_path, "is a folder"
    return tmp_path / "no" / "page.html", f"there is no folder {tmp_path / 'no'}"


@needs_dot  # the page is made in the end, from the graph left intact
@pytest.mark.parametrize("kind", ["dangling link", "/proc", "NUL", "folder", "missing folder"])
def test_save_html_refuses_a_path_it_cannot_write_before_backward_runs(tmp_path, kind):
    model = nn.MLP([3, 4, 2], seed=0)
    loss = ag.quadratic_cost(model(np.ones((5, 3))), np.zeros((5, 2)))
    path, problem = unwritable(tmp_path, kind)
    with pytest.raises(OSError) as info:
        ag.save_html(loss, path)
    assert all(p.grad is None for p in model.parameters()), "backward did not run"
    message = str(info.value)
    assert message.startswith("save_html: ") and problem in message, message
    assert "\n" not in message and "\0" not in message
    assert isinstance(info.value, ag.FileWriteError)
    page = ag.stepper(loss)  # the graph is intact: the page can still be made
    assert page.steps > 0 and all(p.grad is not None for p in model.parameters())


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
