"""The command line's errors: every error one line, refused before any work;
outputs in the format their name says; checkpoints that resume or are refused clearly."""

from __future__ import annotations

import argparse
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_dot, write_tiny_mnist
from test_data import write_idx_set

import nn
from nn.checkpoint import save_checkpoint
from nn.cli import main, parser


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code == 1, err
    assert err.startswith("autograd-mini: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# ---------------------------------------------------------------------------------------
# check and graph: refused before allocating, naming the option
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--sizes", "2", "100000000000", "1"], ["--sizes 2 100000000000 1", "smaller --sizes"]),
        (["--sizes", "100000", "100000", "1"], ["--sizes 100000 100000 1", "of memory"]),
        (["--batch-size", "1000000000"], ["--batch-size 1000000000", "a smaller --batch-size"]),
    ],
)
@pytest.mark.parametrize("command", ["check", "graph"])
def test_networks_too_big_for_memory_are_refused_first(capsys, tmp_path, command, argv, fragments):
    extra = ["-o", tmp_path / "g.svg"] if command == "graph" else []
    code, out, err = run(capsys, command, *argv, *extra)
    assert_one_line_error(code, err, *fragments, "available")
    assert out == "" and not (tmp_path / "g.svg").exists()


def test_train_refuses_a_network_too_big_before_loading_data(capsys, tmp_path):
    code, out, err = run(
        capsys, "train", "--data", tmp_path / "absent", "--sizes", "784", "10000000000", "10"
    )
    assert_one_line_error(code, err, "--sizes 784 10000000000 10: training would need")
    assert out == ""


def test_a_one_output_softmax_is_refused_in_one_line(capsys):
    code, out, err = run(
        capsys, "check", "--sizes", "2", "3", "1", "--cost", "softmax-cross-entropy"
    )
    assert_one_line_error(code, err, "--cost softmax-cross-entropy with --sizes 2 3 1", "2 output")
    assert "✗" not in out


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["check", "--seed", "-1"], "--seed"),
        (["graph", "--seed", "-1"], "--seed"),
        (["train", "--data", "x", "--seed", "-1"], "--seed"),
        (["check", "--max-finite-differences", "-1"], "--max-finite-differences"),
    ],
)
def test_negative_seeds_and_counts_are_refused_by_the_parser(capsys, argv, option):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument {option}: -1 must be ≥ 0" in err


@pytest.mark.parametrize(
    ("argv", "prog", "fragment"),
    [
        (["check", "--sizes", "2", "x", "1"], "autograd-mini check", "'x' is not a whole number"),
        (["train", "--data", "x", "--epochs", "0"], "autograd-mini train", "0 must be at least 1"),
        (["graph", "--cost", "hinge"], "autograd-mini graph", "invalid choice: 'hinge'"),
        ([], "autograd-mini", "the following arguments are required: command"),
        (["draw"], "autograd-mini", "invalid choice: 'draw'"),
    ],
)
def test_a_bad_command_line_is_one_line_pointing_to_help(capsys, argv, prog, fragment):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith(f"{prog}: error: ") and err.endswith(f"; see {prog} --help\n"), err
    assert err.count("\n") == 1 and "usage:" not in err and fragment in err


def test_debug_is_accepted_after_the_command_too(capsys):
    with pytest.raises(Exception, match="at least two"):
        main(["check", "--sizes", "3", "--debug"])
    assert main(["check", "--sizes", "3"]) == 1  # and without it: one line
    assert "Traceback" not in capsys.readouterr().err


def test_every_option_of_check_and_graph_says_its_default():
    commands = next(
        a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    for name in ("check", "graph"):
        for action in commands[name]._actions:
            if action.option_strings and action.dest not in ("help", "debug"):
                assert action.help and "default" in action.help, (name, action.dest)
                shown = action.help % {"default": action.default}
                default = action.default
                if default is None or default is False:  # worked out, or a flag: said in words
                    continue
                text = " ".join(map(str, default)) if isinstance(default, list) else str(default)
                assert text in shown, (name, action.dest, shown)


# ---------------------------------------------------------------------------------------
# Drawings: the format the name says, standard output, folders
# ---------------------------------------------------------------------------------------

MAGIC = {
    ".svg": b"<?xml",
    ".png": b"\x89PNG",
    ".pdf": b"%PDF",
    ".gv": b"digraph",
    ".dot": b"digraph",
}


@needs_dot
@pytest.mark.parametrize("suffix", list(MAGIC))
def test_graph_writes_the_format_its_name_says_creating_folders(capsys, tmp_path, suffix):
    path = tmp_path / "new" / "folder" / f"g{suffix}"
    code, out, err = run(capsys, "graph", "-o", path)
    assert code == 0, err
    assert path.read_bytes().startswith(MAGIC[suffix]) and f"to {path}" in out


@needs_dot
def test_graph_to_standard_output(capsys):
    code, out, err = run(capsys, "graph", "-o", "-")
    assert code == 0 and out.startswith("<?xml") and out.rstrip().endswith("</svg>")
    assert "to standard output" in err


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["graph", "-o", "{tmp}/g.jpg"], ["g.jpg: cannot tell the format", ".png"]),
        (["graph", "-o", "{tmp}/a-file/g.svg"], ["a-file is a file, not a folder"]),
        (["demo", "-o", "{tmp}/a-file/g.svg"], ["a-file is a file, not a folder"]),
        (["graph", "-o", "{tmp}"], ["is a directory"]),
        (["demo", "-o", "-"], ["the demo prints its report on standard output"]),
        (["train", "--data", "x", "--save", "-"], ["--save -: it writes a file"]),
        (["train", "--data", "x", "--plot", "-"], ["--plot -: it writes a file"]),
    ],
)
def test_bad_output_destinations_are_refused_before_any_work(capsys, tmp_path, argv, fragments):
    (tmp_path / "a-file").write_text("not a folder")
    code, out, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert_one_line_error(code, err, *fragments)
    assert out == ""  # the demo did not train first


@pytest.mark.parametrize("command", ["graph", "demo", "train"])
def test_an_empty_file_name_is_a_clear_error(capsys, command):
    option = "--save" if command == "train" else "-o"
    extra = ["--data", "x"] if command == "train" else []
    with pytest.raises(SystemExit) as info:
        main([command, *extra, option, ""])
    assert info.value.code == 2 and "an empty file name" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# train: outputs checked before the first epoch, --plot, --download, --eval on resume
# ---------------------------------------------------------------------------------------

TINY = ["--sizes", "784", "5", "10", "--batch-size", "10", "--quiet"]


def test_a_save_path_that_cannot_be_written_fails_before_training(capsys, tmp_path, tiny_mnist):
    (tmp_path / "a-file").write_text("")
    bad = tmp_path / "a-file" / "model.npz"
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, *TINY, "--epochs", "1", "--save", bad
    )
    assert_one_line_error(code, err, f"--save {bad}", "a-file is a file, not a folder")
    assert "Epoch" not in out and "Training" not in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_read_only_folder_fails_before_training(capsys, tmp_path, tiny_mnist):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, out, err = run(
            capsys, "train", "--data", tiny_mnist, *TINY, "--save", folder / "m.npz"
        )
    finally:
        folder.chmod(0o700)
    assert_one_line_error(code, err, "cannot write in")
    assert "Epoch" not in out


def test_plot_into_a_folder_writes_curves_png_and_says_so(capsys, tmp_path, tiny_mnist):
    pytest.importorskip("matplotlib")
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, *TINY, "--epochs", "1", "--plot", tmp_path
    )
    assert code == 0, err
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert f"Wrote the curves to {tmp_path / 'curves.png'}" in out


def test_plot_needs_a_picture_name_or_a_folder(capsys, tmp_path, tiny_mnist):
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, *TINY, "--plot", tmp_path / "curves"
    )
    assert_one_line_error(code, err, "--plot", ".png, .svg, .pdf", "existing folder")
    assert out == ""


def test_non_finite_training_stops_naming_epoch_and_batch(capsys, tmp_path):
    data = write_tiny_mnist(tmp_path / "nan.pkl.gz", nan=True)
    save = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", "--data", data, *TINY, "--epochs", "2", "--save", save)
    assert_one_line_error(code, err, "the cost is nan at epoch 0, mini-batch 0 (of 4)", "NaN")
    assert not save.exists() and "Epoch 0" not in out


@pytest.mark.parametrize("n_train", [100, 10_000])
def test_an_idx_folder_with_too_few_training_images_says_how_many_are_needed(
    capsys, tmp_path, n_train
):
    write_idx_set(tmp_path / "idx", n_train=n_train, compress=False)
    code, out, err = run(capsys, "train", "--data", tmp_path / "idx", *TINY, "--epochs", "1")
    assert_one_line_error(
        code,
        err,
        f"--data {tmp_path / 'idx'}: its training images file holds {n_train:,} images",
        "keeps the last 10,000 of them as validation data",
        "needs more than 10,000",
    )
    assert "validation_size" not in err and "Epoch" not in out


def test_data_and_download_are_alternatives(capsys):
    for argv in (["train"], ["train", "--data", "x", "--download"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and "--data" in err and "--download" in err


def resume_run(capsys, tmp_path, data, *extra):
    path = tmp_path / "m.npz"
    first = ["train", "--data", data, *TINY, "--epochs", "1", "--save", path, *extra]
    assert run(capsys, *first)[0] == 0
    return path


def test_resume_keeps_the_evaluation_data_of_the_run(capsys, tmp_path, tiny_mnist):
    path = resume_run(capsys, tmp_path, tiny_mnist, "--eval", "validation")
    assert json.loads(str(np.load(path)["meta"]))["training"]["eval"] == "validation"
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, "--quiet", "--resume", path, "--epochs", "2"
    )
    assert code == 0, err
    assert "scored on validation data" in out and "Epoch 1: " in out and "/ 20" in out
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, "--resume", path, "--epochs", "3", "--eval", "test"
    )
    assert_one_line_error(code, err, "trained with --eval validation; --eval test would not")


def test_resume_from_a_checkpoint_without_training_settings(capsys, tmp_path, tiny_mnist):
    """nn.save_checkpoint without `training=`: the network's sizes and dtype are kept and the
    options give the rest; an epoch count in the meta data is honoured."""
    path = save_checkpoint(tmp_path / "plain.npz", nn.MLP([784, 5, 10], seed=1), epoch=1)
    code, out, err = run(
        capsys,
        "train",
        "--data",
        tiny_mnist,
        "--quiet",
        "--resume",
        path,
        "--epochs",
        "2",
        "--lr",
        "0.5",
        "--save",
        path,
    )
    assert code == 0, err
    assert "holds no training settings" in out and "η = 0.5" in out
    assert "Epoch 1: " in out and "Epoch 0: " not in out
    assert nn.load_checkpoint(path).meta["training"]["lr"] == 0.5
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, "--resume", path, "--epochs", "9", "--lr", "3"
    )
    assert_one_line_error(code, err, "trained with --lr 0.5")


def test_resume_of_a_network_the_command_cannot_train_is_refused(capsys, tmp_path, tiny_mnist):
    net = nn.MLP([784, 5, 10], activation="tanh", seed=1)
    path = save_checkpoint(tmp_path / "tanh.npz", net)
    code, _, err = run(capsys, "train", "--data", tiny_mnist, "--resume", path, "--epochs", "2")
    assert_one_line_error(code, err, "holds MLP(784→5→10, tanh", "not the network")


# ---------------------------------------------------------------------------------------
# Corrupt checkpoints: each one line naming the file, before any data is read
# ---------------------------------------------------------------------------------------


def good_checkpoint(path: Path) -> Path:
    model = nn.MLP([784, 5, 10], seed=0)
    optimizer = nn.SGD(model.parameters(), lr=3.0, momentum=0.5)
    model.parameters()[0].grad = np.zeros((784, 5))
    for p in model.parameters():
        p.grad = np.zeros_like(p.data)
    optimizer.step()
    training = {"sizes": [784, 5, 10], "batch_size": 10, "lr": 3.0, "cost": "quadratic"}
    return save_checkpoint(path, model, optimizer, epoch=1, training=training, history=[])


def rewrite(path: Path, meta_change=None, arrays_change=None) -> None:
    """Rewrite the checkpoint with np.savez after `meta_change(meta)` (on the JSON meta data)
    and then `arrays_change(arrays)` (on the arrays, meta included)."""
    with np.load(path) as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))
    if meta_change is not None:
        meta_change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    if arrays_change is not None:
        arrays_change(arrays)
    path.unlink()
    np.savez(path, **arrays)


def meta_edit(function):
    return lambda path: rewrite(path, meta_change=function)


def array_edit(function):
    return lambda path: rewrite(path, arrays_change=function)


def meta_array(value):
    return array_edit(lambda arrays: arrays.update(meta=value))


def zip_with(path: Path, **members: bytes) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def npy_in_place(path: Path) -> None:
    with open(path, "wb") as file:
        np.save(file, np.zeros(3))


CORRUPTIONS = {
    "empty file": (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
    "text": (lambda p: p.write_text("hello"), "not a readable checkpoint"),
    "cut in half": (
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        "not a readable checkpoint",
    ),
    "an .npy named .npz": (npy_in_place, "a single numpy array"),
    "an .npz without meta": (lambda p: (p.unlink(), np.savez(p, a=np.zeros(2))), "no meta"),
    "meta is a list": (
        meta_array(np.array("[1, 2]")),
        "a JSON list",
    ),
    "meta is not JSON": (
        meta_array(np.array("{oops")),
        "not JSON",
    ),
    "meta is a number array": (
        meta_array(np.zeros(3)),
        "float64 (3,), not one JSON text",
    ),
    "meta is pickled": (
        meta_array(np.array([{}], dtype=object)),
        "holds Python objects",
    ),
    "another format": (
        meta_edit(lambda m: m.update(format="something else")),
        "unsupported checkpoint format",
    ),
    "a later version": (meta_edit(lambda m: m.update(version=2)), "version 2"),
    "no model": (meta_edit(lambda m: m.pop("model")), "no 'model'"),
    "model without sizes": (meta_edit(lambda m: m["model"].pop("sizes")), "has no 'sizes'"),
    "sizes not numbers": (
        meta_edit(lambda m: m["model"].update(sizes="784 30 10")),
        "'sizes' must be a list",
    ),
    "negative size": (
        meta_edit(lambda m: m["model"].update(sizes=[784, -5, 10])),
        "'sizes' must be a list",
    ),
    "unknown activation": (
        meta_edit(lambda m: m["model"].update(activation="swish")),
        "activation 'swish'",
    ),
    "model dtype int": (meta_edit(lambda m: m["model"].update(dtype="int64")), "dtype 'int64'"),
    "huge sizes": (
        meta_edit(lambda m: m["model"].update(sizes=[100000, 100000, 10])),
        "needs (100000, 100000)",
    ),
    "epoch text": (meta_edit(lambda m: m.update(epoch="one")), "'epoch' must be a whole number"),
    "negative epoch": (meta_edit(lambda m: m.update(epoch=-1)), "'epoch' must be a whole number"),
    "optimizer mangled": (
        meta_edit(lambda m: m["optimizer"].pop("groups")),
        "not an optimizer description",
    ),
    "training is a list": (
        meta_edit(lambda m: m.update(training=[1])),
        "training settings are a JSON list",
    ),
    "training lr text": (
        meta_edit(lambda m: m["training"].update(lr="fast")),
        "lr = 'fast' is invalid",
    ),
    "training unknown cost": (
        meta_edit(lambda m: m["training"].update(cost="hinge")),
        "cost = 'hinge'",
    ),
    "history not a list": (meta_edit(lambda m: m.update(history={"a": 1})), "a history is a list"),
    "history rows wrong": (
        meta_edit(lambda m: m.update(history=[{"epoch": 0}])),
        "history entry 0",
    ),
    "parameter missing": (
        array_edit(lambda a: a.pop("param/layers.1.bias")),
        "missing ['layers.1.bias']",
    ),
    "parameter of another shape": (
        array_edit(lambda a: a.update({"param/layers.0.weight": np.zeros((5, 784))})),
        "layers.0.weight has shape (5, 784)",
    ),
    "parameter of ints": (
        array_edit(lambda a: a.update({"param/layers.0.bias": np.zeros(5, dtype=np.int64)})),
        "param/layers.0.bias is int64",
    ),
    "parameter of objects": (
        array_edit(lambda a: a.update({"param/layers.0.bias": np.array([None] * 5)})),
        "holds Python objects",
    ),
    "unknown parameter": (
        array_edit(lambda a: a.update({"param/layers.9.weight": np.zeros((2, 2))})),
        "unknown parameter 'layers.9.weight'",
    ),
    "optimizer state of another shape": (
        array_edit(lambda a: a.update({"optim/0/velocity": np.zeros((3, 3))})),
        "the shape of a parameter",
    ),
    "optimizer state an SGD does not keep": (
        array_edit(lambda a: a.update({"optim/0/momentum": np.zeros((784, 5))})),
        "SGD keeps no 'momentum'",
    ),
    "optimizer state of a parameter the groups lack": (
        meta_edit(lambda m: m["optimizer"]["scalars"].update({"99": {}})),
        "state of parameter '99': the groups hold 4 parameters",
    ),
    "optimizer state at a position in other digits": (
        meta_edit(lambda m: m["optimizer"]["scalars"].update({"²": {}})),
        "a parameter position is a whole number in the digits 0-9",
    ),
    "a negative learning rate": (
        meta_edit(lambda m: m["optimizer"]["groups"][0].update(lr=-3.0)),
        "group 0 has lr = -3.0; it must be a positive number",
    ),
    "a learning rate in words": (
        meta_edit(lambda m: m["optimizer"]["groups"][0].update(lr="abc")),
        "group 0 has lr = 'abc'; it must be a positive number",
    ),
    "a momentum of 1": (
        meta_edit(lambda m: m["optimizer"]["groups"][0].update(momentum=1)),
        "group 0 has momentum = 1; it must be a number in [0, 1)",
    ),
    "a velocity that is one number": (
        meta_edit(lambda m: m["optimizer"]["scalars"].update({"0": {"velocity": 5}})),
        "velocity = 5 must be an array the shape of the parameter",
    ),
    "a velocity that is not finite": (
        array_edit(lambda a: a["optim/1/velocity"].fill(np.nan)),
        "'velocity' of parameter 1 holds NaN or infinite values",
    ),
    "an extra member": (
        lambda p: zip_with(p, **{"extra.npy": b"x" * 1000}),
        "unknown member 'extra.npy'",
    ),
    "a compressed member": (
        lambda p: (p.unlink(), np.savez_compressed(p, meta=np.array("{}"))),
        "is compressed",
    ),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_checkpoint_is_one_line_naming_the_file(capsys, tmp_path, corruption):
    damage, message = CORRUPTIONS[corruption]
    path = good_checkpoint(tmp_path / "model.npz")
    damage(path)
    code, out, err = run(
        capsys, "train", "--data", tmp_path / "no-data-needed", "--resume", path, "--epochs", "5"
    )
    assert_one_line_error(code, err, str(path), message)
    assert out == ""


def test_the_good_checkpoint_of_those_tests_does_resume(capsys, tmp_path, tiny_mnist):
    path = good_checkpoint(tmp_path / "model.npz")
    code, out, err = run(
        capsys, "train", "--data", tiny_mnist, "--quiet", "--resume", path, "--epochs", "2"
    )
    assert code == 0, err
    assert "Epoch 1: " in out


# ---------------------------------------------------------------------------------------
# The example script
# ---------------------------------------------------------------------------------------


def test_the_nielsen_example_refuses_zero_epochs():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [
            sys.executable,
            str(root / "examples" / "nielsen_mnist.py"),
            "--data",
            "x",
            "--epochs",
            "0",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "--epochs: 0 must be at least 1" in result.stderr
    assert "AttributeError" not in result.stderr
