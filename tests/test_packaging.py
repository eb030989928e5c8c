"""The package as a user installs it: `pip install .` (not editable) into a fresh venv, then
`autograd-mini demo` from another folder writes a working SVG and stepper page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import needs_dot

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, cwd=cwd, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@needs_dot
def test_pip_install_ships_the_page_and_the_demo_writes_it_from_another_folder(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside it
    for package in ("autograd_mini", "nn"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)

    # A fresh venv that sees this environment's packages (numpy, graphviz, pip, setuptools)
    # through a .pth file, so the install is fast and offline; the editable install of this
    # checkout is not seen (.pth files of a directory named in a .pth file are not run).
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).strip()
    )
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        source,
        cwd=tmp_path,
    )

    installed = site / "autograd_mini" / "visual" / "page"
    assert sorted(p.name for p in installed.iterdir()) == [
        "stepper.css",
        "stepper.html",
        "stepper.js",
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(python, "-c", "import autograd_mini; print(autograd_mini.__file__)", cwd=elsewhere)
    assert Path(where.strip()).is_relative_to(site), "the installed copy, not the checkout"

    out = run(venv / "bin" / "autograd-mini", "demo", cwd=elsewhere)
    assert "Wrote the page that steps through its backward pass to or_gate.html" in out
    ET.parse(elsewhere / "or_gate.svg")
    page = (elsewhere / "or_gate.html").read_text(encoding="utf-8")
    (raw,) = re.findall(r'id="stepper-data">(.*?)</script>', page, re.S)
    assert len(json.loads(raw)["steps"]) == 7
    assert (installed / "stepper.js").read_text(encoding="utf-8") in page, "the script inline"
    assert "<svg" in page and "{{" not in page
