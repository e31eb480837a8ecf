"""Local files a spec points at (articles, lead magnets, videos, emails), resolved beside the
spec."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from yesladder.funnels.spec import SourcedSpec, SpecProblem
from yesladder.funnels.spec.schema import Content, Magnet, Video

URL_PREFIXES = ("http://", "https://", "/")


@dataclass(frozen=True)
class LocalFile:
    owner: tuple  # where in the spec: ("steps", 2) or ("emails", "welcome")
    where: tuple[str, ...]  # the field path inside the owner, e.g. ("asset", "file")
    path: Path
    inline: bool  # Markdown read into the spec rather than copied as an asset


def local_files(sourced: SourcedSpec) -> Iterator[LocalFile]:
    base = Path(sourced.file).resolve().parent
    for i, step in enumerate(sourced.spec.steps):
        if isinstance(step, Content) and step.file:
            yield LocalFile(("steps", i), ("file",), base / step.file, inline=True)
        elif isinstance(step, Magnet) and step.asset.file:
            yield LocalFile(("steps", i), ("asset", "file"), base / step.asset.file, inline=False)
        elif isinstance(step, Video) and not step.src.startswith(URL_PREFIXES):
            yield LocalFile(("steps", i), ("src",), base / step.src, inline=False)
    for key, email in sourced.spec.emails.items():
        if email.file:
            yield LocalFile(("emails", key), ("file",), base / email.file, inline=True)


def missing_files(sourced: SourcedSpec) -> list[SpecProblem]:
    return [
        SpecProblem(
            sourced.file,
            sourced.positions.line((*f.owner, *f.where)),
            _dotted(f),
            f"file not found: {f.path} (paths are relative to the spec file)",
        )
        for f in local_files(sourced)
        if not f.path.is_file()
    ]


def _dotted(f: LocalFile) -> str:
    section, name = f.owner
    owner = f"steps[{name}]" if section == "steps" else f"emails.{name}"
    return ".".join([owner, *f.where])
