"""The Colab install cell, run as Colab runs it: on top of an environment that already holds TensorFlow, Keras
and the rest (Colab's versions in CI's Colab leg), marslab goes in with --no-deps, then every module a lesson,
solution or exercise imports must import. The course's repository URL is replaced by a wheel of this checkout."""
from __future__ import annotations

import ast
import shlex
import site
import subprocess
import sys
import venv
from pathlib import Path

import nbformat

from tools.nb import COLAB_INSTALL, install_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")


def pip_command(cell: str) -> list[str]:
    """The one `%pip install` line of the Colab cell, as pip arguments."""
    lines = [line.strip() for line in cell.splitlines() if line.strip().startswith("%pip")]
    assert len(lines) == 1, f"the Colab cell should run one %pip install, found {lines}"
    args = shlex.split(lines[0])[1:]
    assert args[0] == "install" and "--no-deps" in args, f"expected %pip install --no-deps ..., got {lines[0]}"
    return args


def import_statements() -> set[str]:
    """Every import statement of a code cell of any notebook (IPython syntax turned into Python first)."""
    from IPython.core.inputtransformer2 import TransformerManager

    names = set()
    for path in sorted(p for d in NOTEBOOK_DIRS for p in (ROOT / d).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and "google.colab" not in ast.unparse(node):
                    names.add(ast.unparse(node))
    return names


def test_colab_cell_installs_marslab_over_the_preinstalled_stack_and_every_lesson_import_works(tmp_path):
    args = pip_command(COLAB_INSTALL)
    assert install_source() in args, f"the cell should install {install_source()!r}, got {args}"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("marslab-*.whl"))
    env = tmp_path / "colab"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    new_site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
    # "Colab": this test environment's packages, visible from the new one (but not this checkout's marslab).
    (new_site / "preinstalled.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    args = [str(wheel) if a == install_source() else a for a in args]
    subprocess.run([python, "-m", "pip", *args], check=True, capture_output=True, cwd=tmp_path)
    statements = sorted(import_statements())
    assert "import keras" in statements and any(".checks import" in s for s in statements)
    code = "\n".join(["import marslab", *statements, "print(marslab.__file__)"])
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "MARSLAB_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip()).is_relative_to(new_site), f"marslab imported from {done.stdout.strip()}"
