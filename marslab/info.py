"""The environment report: what a student (or a bug report) needs to know about this machine."""
from __future__ import annotations

import importlib.metadata
import platform
import sys

from marslab.config import get_profile, keras_backend, list_gpus


def package_version(name: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def data_report() -> str:
    """Which data `load_mars()` would return, named and counted; the file is opened and validated, and a file
    that does not pass says why in one line instead of raising."""
    from marslab.data import read_course_npz, sample_path

    try:
        from marslab.data import find_real_data

        path = find_real_data()
        if path is None:
            return "synthetic (generated locally; no real file found)"
        data = read_course_npz(path)
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unusable: {err}"
    shipped = path == sample_path()
    name = f"{data.source} ({'the real AI4Mars sample shipped with marslab' if shipped else path})"
    labels = " with their masks" if data.test_masks is not None else ""
    return f"{name}: {len(data.images)} training and {len(data.test_images)} test images{labels}"


def environment_report() -> dict[str, str]:
    """Versions, devices, run profile and data source, as an ordered dict of strings."""
    gpus = list_gpus()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "marslab": package_version("marslab"),
        "tensorflow": package_version("tensorflow"),
        "keras": package_version("keras"),
        "keras-cv": package_version("keras-cv"),
        "numpy": package_version("numpy"),
        "keras backend": keras_backend(),
        "devices": ", ".join(gpus) if gpus else "CPU only",
        "profile": get_profile(),
        "data": data_report(),
    }


def print_report() -> None:
    """Print environment_report() as an aligned two-column table."""
    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
