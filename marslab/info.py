"""The environment report: what a student (or a bug report) needs to know about this machine."""
from __future__ import annotations

import importlib.metadata
import platform
import sys

from marslab.config import get_profile, keras_backend, list_gpus
from marslab.course_file import check_course_file, summarize_course_file
from marslab.data import find_real_data, sample_path


def package_version(name: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_report() -> dict[str, str]:
    """Versions, devices, run profile and data source, as an ordered dict of strings. A course file that is
    found is checked (its headers) and reported as unusable, with the reason, if it would not load."""
    gpus = list_gpus()
    try:
        real = find_real_data()
        problem = check_course_file(real) if real else None  # its headers: nothing is decompressed
    except FileNotFoundError as err:  # $MARSLAB_DATA names a file that is not there
        real, problem = None, str(err)
    if problem:
        data = f"unusable: {problem}"
    elif real:
        source, n_train, n_test, labelled = summarize_course_file(real)
        where = "the real AI4Mars sample shipped with marslab" if real == sample_path() else real
        data = f"{source} ({where}): {n_train} training and {n_test} test images" + \
               (" with their masks" if labelled else "")
    else:
        data = "synthetic (generated locally; no real file found)"
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
        "data": data,
    }


def print_report() -> None:
    """Print environment_report() as an aligned two-column table."""
    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
