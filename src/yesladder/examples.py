"""Where the example funnels are: beside the package in a source checkout, inside it when
installed from a wheel (the build copies examples/ to yesladder/examples/)."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def examples_dir() -> Path:
    for candidate in (PACKAGE / "examples", PACKAGE.parent.parent / "examples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the example funnels are missing from this installation")


def example_files() -> list[Path]:
    return sorted(examples_dir().glob("*.yaml"))
