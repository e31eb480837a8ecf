"""Local files a spec points at (articles, lead magnets, videos), resolved beside the spec."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from yesladder.funnels.spec import SourcedSpec, SpecProblem
from yesladder.funnels.spec.schema import Content, Magnet, Video

URL_PREFIXES = ("http://", "https://", "/")


@dataclass(frozen=True)
class LocalFile:
    step_index: int
    where: tuple[str, ...]  # the field path inside the step, e.g. ("asset", "file")
    path: Path
    inline: bool  # Markdown read into the spec rather than copied as an asset


def local_files(sourced: SourcedSpec) -> Iterator[LocalFile]:
    base = Path(sourced.file).resolve().parent
    for i, step in enumerate(sourced.spec.steps):
        if isinstance(step, Content) and step.file:
            yield LocalFile(i, ("file",), base / step.file, inline=True)
        elif isinstance(step, Magnet) and step.asset.file:
            yield LocalFile(i, ("asset", "file"), base / step.asset.file, inline=False)
        elif isinstance(step, Video) and not step.src.startswith(URL_PREFIXES):
            yield LocalFile(i, ("src",), base / step.src, inline=False)


def missing_files(sourced: SourcedSpec) -> list[SpecProblem]:
    return [
        SpecProblem(
            sourced.file,
            sourced.positions.line(("steps", f.step_index, *f.where)),
            ".".join([f"steps[{f.step_index}]", *f.where]),
            f"file not found: {f.path} (paths are relative to the spec file)",
        )
        for f in local_files(sourced)
        if not f.path.is_file()
    ]
