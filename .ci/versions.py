"""Print what the CI legs install, from .ci/versions.toml and pyproject.toml (one source for each fact).

    python3 .ci/versions.py pins colab       # the pinned packages of a version set, one per line
    python3 .ci/versions.py value colab python
    python3 .ci/versions.py lessons colab    # the lessons a leg runs
    python3 .ci/versions.py others           # pyproject's runtime and test requirements a leg installs
                                             # besides the pins (keras-cv and the browser driver left out)
"""
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = ("keras-cv", "playwright", "tensorflow", "keras", "numpy", "marslab")  # marslab[site]: the website


def main(command: str, *args: str) -> None:
    versions = tomllib.loads((ROOT / ".ci" / "versions.toml").read_text())
    if command == "pins":
        print("\n".join(versions[args[0]]["packages"]))
    elif command == "lessons":
        print("\n".join(f"notebooks/{name}" for name in versions[args[0]]["lessons"]))
    elif command == "value":
        value = versions[args[0]][args[1]]
        print("\n".join(value) if isinstance(value, list) else value)
    elif command == "others":
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        reqs = project["dependencies"] + project["optional-dependencies"]["test"]
        print("\n".join(r for r in reqs if not r.startswith(LEFT_OUT)))
    else:
        sys.exit(f"unknown command {command!r}; see the docstring")


if __name__ == "__main__":
    main(*sys.argv[1:])
