"""The course's own plumbing: packaging, notebooks' shape, profiles, seeding, the environment report."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import marslab
from marslab import config
from tools.nb import COLAB_INSTALL, colab_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")


def all_notebooks() -> list[Path]:
    return sorted(p for d in NOTEBOOK_DIRS for p in (ROOT / d).glob("*.ipynb"))


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def requirement_names(reqs: list[str]) -> dict[str, str]:
    """{normalised name: full requirement string} for PEP 508 strings."""
    out = {}
    for r in reqs:
        name = re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0]
        out[name.lower().replace("_", "-")] = r.replace(" ", "")
    return out


def test_every_notebook_is_stored_without_outputs():
    dirty = []
    for nb in all_notebooks():
        cells = json.loads(nb.read_text())["cells"]
        if any(c.get("outputs") or c.get("execution_count") is not None for c in cells if c["cell_type"] == "code"):
            dirty.append(nb.relative_to(ROOT).as_posix())
    assert not dirty, f"notebooks stored with outputs or execution counts: {dirty}"


def test_every_notebook_is_valid_nbformat():
    # an invalid notebook still runs under nbval, but fails where it is written back (the site's executed
    # copies) and may not open in JupyterLab or Colab
    import nbformat

    invalid = []
    for path in all_notebooks():
        try:
            nbformat.validate(json.loads(path.read_text()))
        except nbformat.ValidationError as err:
            invalid.append(f"{path.relative_to(ROOT).as_posix()}: {err.message}")
    assert not invalid, f"notebooks that are not valid nbformat: {invalid}"


def test_environment_yml_installs_the_same_runtime_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]
    conda_reqs = [m.strip().strip('"') for m in re.findall(r"^\s+- (.+)$", pip_section, re.M)]
    conda_reqs = [r for r in conda_reqs if r != "-e ."]
    assert requirement_names(conda_reqs) == requirement_names(project["dependencies"])
    py = re.search(r"- python(.+)", text).group(1).strip()
    assert project["requires-python"] in py, f"python range differs: {py} vs {project['requires-python']}"


VERSIONS = tomllib.loads((ROOT / ".ci" / "versions.toml").read_text())


def pinned(section: str) -> dict[str, str]:
    """{package: version} of one version set of .ci/versions.toml."""
    return dict(p.split("==") for p in VERSIONS[section]["packages"])


@pytest.mark.parametrize("package", ["tensorflow", "keras", "numpy"])
def test_dependency_ranges_admit_colabs_versions_and_their_floor_is_the_one_ci_tests(package):
    """Installing marslab in Colab must not replace its TensorFlow or Keras, and the floor CI installs is
    exactly the lower bound pyproject.toml admits."""
    from packaging.specifiers import SpecifierSet

    reqs = requirement_names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    spec = SpecifierSet(reqs[package][len(package):])
    assert pinned("colab")[package] in spec, f"{reqs[package]} excludes Colab's {package} {pinned('colab')[package]}"
    assert "==" not in reqs[package]
    floor = next(s.version for s in spec if s.operator == ">=")
    assert pinned("floor")[package].startswith(floor), f"{reqs[package]}: CI's floor is {pinned('floor')[package]}"


def test_every_lesson_starts_with_its_colab_badge_and_a_colab_only_install():
    assert lessons(), "no lesson notebooks"
    for nb_path in all_notebooks():
        cells = json.loads(nb_path.read_text())["cells"]
        rel = nb_path.relative_to(ROOT).as_posix()
        assert colab_url(rel) in "".join(cells[0]["source"]), f"{rel}: first cell is not its Colab badge"
        install = "".join(cells[1]["source"])
        assert install == COLAB_INSTALL, f"{rel}: second cell is not the standard Colab install cell"
    assert 'if "google.colab" in sys.modules' in COLAB_INSTALL and "--no-deps" in COLAB_INSTALL
    assert not re.search(r"install[^\n]*\btensorflow\b", COLAB_INSTALL)


def test_readme_links_every_lesson_to_colab():
    readme = (ROOT / "README.md").read_text()
    for nb in lessons():
        rel = nb.relative_to(ROOT).as_posix()
        assert colab_url(rel) in readme, f"README has no Colab badge for {rel}"
        assert f"]({rel})" in readme, f"README lesson map does not link {rel}"


def test_ci_runs_the_test_command_the_readme_gives():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"<!-- (\w+)-command -->\s*```bash\n(.+?)\n```", readme, re.S)
    assert {name for name, _ in commands} == {"lab", "test", "site"}, "README must mark its lab, test and site commands"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci, ".ci/run must take its command from the README"


def test_profile_follows_the_environment_variable(monkeypatch):
    monkeypatch.setenv("MARSLAB_PROFILE", "full")
    assert config.get_profile() == "full"
    monkeypatch.setenv("MARSLAB_PROFILE", " Smoke ")
    assert config.get_profile() == "smoke"
    monkeypatch.setenv("MARSLAB_PROFILE", "fast")
    with pytest.raises(ValueError, match="smoke"):
        config.get_profile()


def test_default_profile_is_full_exactly_when_a_gpu_is_visible(monkeypatch):
    monkeypatch.delenv("MARSLAB_PROFILE", raising=False)
    monkeypatch.setattr(config, "list_gpus", lambda: ["/physical_device:GPU:0"])
    assert config.get_profile() == "full"
    monkeypatch.setattr(config, "list_gpus", lambda: [])
    assert config.get_profile() == "smoke"


def test_seed_everything_repeats_python_numpy_and_keras_draws():
    import random

    import keras

    def draws():
        return random.random(), np.random.rand(3), keras.ops.convert_to_numpy(keras.random.uniform((3,)))

    marslab.seed_everything(7)
    first = draws()
    marslab.seed_everything(7)
    second = draws()
    marslab.seed_everything(8)
    third = draws()
    assert first[0] == second[0] and np.array_equal(first[1], second[1]) and np.array_equal(first[2], second[2])
    assert first[0] != third[0] and not np.array_equal(first[1], third[1])
    with pytest.raises(TypeError):
        marslab.seed_everything(1.5)


def test_seeded_training_repeats_exactly():
    import keras

    def train_once():
        marslab.seed_everything(3)
        x = np.random.rand(32, 8).astype("float32")
        y = (x.sum(1) > 4).astype("int32")
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return model.predict(x, verbose=0)

    assert np.array_equal(train_once(), train_once())


def test_environment_report_names_versions_devices_profile_and_data(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MARSLAB_DATA", raising=False)
    from marslab.info import environment_report

    report = environment_report()
    for key in ("python", "tensorflow", "keras", "keras-cv", "devices", "profile", "data"):
        assert key in report
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report["profile"] == config.get_profile()
    assert report["data"].startswith("synthetic")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mars_for_students.npz").write_bytes(b"")  # issue 24: found, opened, and not usable
    assert environment_report()["data"].startswith("unusable: ")
    train = np.zeros((2, 2, 64, 128), np.uint8)
    np.savez(tmp_path / "data" / "mars_for_students.npz", training_set=train, test_set=train[:, 0])
    assert environment_report()["data"].startswith("real")


def test_python_m_marslab_info_runs():
    out = subprocess.run([sys.executable, "-m", "marslab", "info"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "keras" in out.stdout and "profile" in out.stdout


def test_a_missing_data_path_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    from marslab.data import find_real_data

    monkeypatch.setenv("MARSLAB_DATA", str(tmp_path / "nowhere.npz"))
    with pytest.raises(FileNotFoundError, match="MARSLAB_DATA"):
        find_real_data()


def run_python(code: str) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh interpreter, with no TF_CPP_MIN_LOG_LEVEL inherited from the tests."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})


def test_importing_marslab_imports_no_tensorflow_and_changes_nothing():
    out = run_python("import os, sys, marslab; print('tensorflow' in sys.modules, 'keras' in sys.modules, "
                     "'TF_CPP_MIN_LOG_LEVEL' in os.environ)")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.split() == ["False", "False", "False"]


def test_quiet_then_keras_prints_nothing_on_stderr():
    """TensorFlow's C++ start-up lines (oneDNN, CUDA probe) must not reach the lessons' output."""
    out = run_python("import marslab; marslab.quiet(); import keras; print(float(keras.ops.sum(keras.ops.ones((2, 2)))))")
    assert out.returncode == 0 and out.stdout.strip() == "4.0", out.stderr
    assert out.stderr == "", out.stderr


def test_one_command_points_every_notebook_and_the_readme_at_a_fork_or_release(tmp_path):
    import shutil

    from tools.nb import set_source

    for folder in NOTEBOOK_DIRS:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    set_source("someone/marslab-fork", "v9.1", root=tmp_path)
    for path in sorted(p for d in NOTEBOOK_DIRS for p in (tmp_path / d).glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        rel = path.relative_to(tmp_path).as_posix()
        assert f"github/someone/marslab-fork/blob/v9.1/{rel})" in "".join(cells[0]["source"]), rel
        assert '"marslab @ git+https://github.com/someone/marslab-fork.git@v9.1"' in "".join(cells[1]["source"]), rel
    readme = (tmp_path / "README.md").read_text()
    assert "github/someone/marslab-fork/blob/v9.1/notebooks/05_unet.ipynb" in readme
    assert "colab.research.google.com/github/marslab-course" not in readme
    with pytest.raises(ValueError, match="OWNER/NAME"):
        set_source("not a repo", "main", root=tmp_path)


def test_quiet_after_keras_still_keeps_the_cuda_probe_out():
    """Whatever was imported first, quiet() catches the CUDA probe's line (printed at the first device use)."""
    code = "import keras, marslab; marslab.quiet(); print(float(keras.ops.sum(keras.ops.ones((2, 2)))))"
    out = run_python(code)
    assert out.returncode == 0 and out.stdout.strip() == "4.0", out.stderr
    assert "cuInit" not in out.stderr and "cuda_platform" not in out.stderr, out.stderr
    loud = run_python("import keras; print(float(keras.ops.sum(keras.ops.ones((2, 2)))))")  # the control
    assert loud.returncode == 0
    if "cuInit" not in loud.stderr:
        pytest.skip("this machine's TensorFlow prints no CUDA probe line to keep out")


def test_functions_that_import_tensorflow_do_it_quietly():
    out = run_python("import marslab; print(marslab.get_profile())")  # get_profile probes the GPUs
    assert out.returncode == 0 and out.stdout.strip() in ("smoke", "full"), out.stderr
    assert out.stderr == "", out.stderr
