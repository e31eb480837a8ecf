"""Storing funnel specs as versions: `yesladder load`, the dashboard's editor and rollback, and
an experiment's winner shipped all store through `_store`, so every version gets its steps, its
variants and its audit entry the same way."""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from yesladder.funnels.cost import step_cost
from yesladder.funnels.lint import Ladder
from yesladder.funnels.models import Funnel, FunnelVersion, Step
from yesladder.funnels.spec import (
    SourcedSpec,
    SpecError,
    SpecProblem,
    parse_spec,
    variant_sources,
)
from yesladder.funnels.spec.files import LocalFile, local_files, missing_files
from yesladder.funnels.spec.schema import FunnelSpec
from yesladder.funnels.spec.variants import variants
from yesladder.funnels.spec.yamlsource import Positions
from yesladder.team import audit
from yesladder.team.audit import SYSTEM, Actor

Origin = FunnelVersion.Origin

# The first line `yesladder export` writes: a file that says which version it was exported
# from can be loaded over that version and no newer one published in the dashboard.
EXPORT_MARK = "# exported from yesladder: {funnel} version {number}"
_MARK = re.compile(r"\A# exported from yesladder: (?P<funnel>[a-z0-9-]+) version (?P<number>\d+)")


@dataclass(frozen=True)
class Loaded:
    funnel: str
    version: int
    created: bool
    steps: int
    variants: int = 0  # experiment variants stored beside the version, each a ladder


class Stale(Exception):
    """The text was started from a version that is no longer the newest: storing it would
    throw away what was published since. `newer` is the newest version, `based_on` the number
    the text started from (None: a new funnel, or a file that does not say)."""

    def __init__(self, newer: FunnelVersion, based_on: int | None, message: str):
        super().__init__(message)
        self.newer, self.based_on = newer, based_on


def exported_from(sourced: SourcedSpec) -> int | None:
    """The version a file says it was exported from (EXPORT_MARK), for its own funnel only."""
    found = _MARK.match(sourced.text)
    if found is None or found["funnel"] != sourced.spec.funnel:
        return None
    return int(found["number"])


def unmarked(source: str) -> str:
    """A version's text without the line `yesladder export` put first."""
    found = _MARK.match(source)
    return source[found.end() :].removeprefix("\n") if found else source


def check_files(sourced: SourcedSpec, files: Mapping[Path, bytes] | None) -> None:
    """Raise SpecError naming each file the spec points at that is not there."""
    problems = _missing(sourced, files)
    if problems:
        raise SpecError(problems)


def load_funnel(
    sourced: SourcedSpec,
    *,
    by: Actor = SYSTEM,
    origin: str = Origin.FILE,
    based_on: int | None = None,
    files: Mapping[Path, bytes] | None = None,
    force: bool = False,
) -> Loaded:
    """Store a spec as the funnel's next version, unless it equals the current one.

    Files the spec points at are made part of the version: Markdown is read into it, assets are
    copied into the data directory under their SHA-256, so a later edit of a file is a new
    version. They are read from disk beside the spec, or from `files` (the editor's: those of
    the version it edits).

    A file (origin FILE) is refused over a version published in the dashboard after the one
    it was exported from, unless `force`; the editor's text (origin EDITOR) is refused unless
    it was started from the newest version (`based_on`). Either raises Stale, storing nothing.
    """
    data, spec = _made_whole(sourced, files)
    if origin == Origin.FILE and based_on is None:
        based_on = exported_from(sourced)
    with transaction.atomic():
        funnel, _ = Funnel.objects.select_for_update().get_or_create(
            key=spec.funnel, defaults={"name": spec.name}
        )
        latest = funnel.current_version()
        if latest is not None and latest.digest == _digest(data):
            return Loaded(spec.funnel, latest.number, created=False, steps=len(spec.steps))
        _refuse_stale(funnel, latest, origin, based_on, force)
        version = _store(funnel, data, sourced, origin, by, based_on, latest)
    return Loaded(spec.funnel, version.number, True, len(spec.steps), version.variants.count())


def store_in_passing(sourced: SourcedSpec, files: Mapping[Path, bytes]) -> FunnelVersion:
    """A text stored as its funnel's next version only to be rendered (a draft's preview),
    inside a transaction the caller rolls back: nothing of it stays but its assets, which are
    stored by content and harmless."""
    data, spec = _made_whole(sourced, files)
    funnel, _ = Funnel.objects.get_or_create(key=spec.funnel, defaults={"name": spec.name})
    latest = funnel.current_version()
    return _store(funnel, data, sourced, Origin.EDITOR, SYSTEM, None, latest)


def _made_whole(sourced: SourcedSpec,
                files: Mapping[Path, bytes] | None) -> tuple[dict, FunnelSpec]:  # fmt: skip
    """The spec with the files it points at made part of it, the assets stored."""
    check_files(sourced, files)
    data, assets = _self_contained(sourced, files)
    spec = FunnelSpec.model_validate(data)
    for name, content in assets:
        _store_asset(name, content)
    return data, spec


def rollback(funnel: Funnel, number: int, *, by: Actor, based_on: int) -> FunnelVersion | None:
    """Version `number` published again as the newest (a new number: history is never
    rewritten). Refused (Stale) when the newest is not `based_on`, the version the person saw
    as newest when they asked; None when `number` is the newest's spec already."""
    with transaction.atomic():
        funnel = Funnel.objects.select_for_update().get(pk=funnel.pk)
        old = funnel.versions.current().get(number=number)
        latest = funnel.current_version()
        if latest.digest == old.digest:
            return None
        _refuse_stale(funnel, latest, Origin.ROLLBACK, based_on, force=False)
        sourced = SourcedSpec(old.spec, Positions(), old.source_file or "<stored>", old.source)
        return _store(funnel, old.spec_json, sourced, Origin.ROLLBACK, by, based_on, latest,
                      rolled_back=number)  # fmt: skip


def store_next(funnel: Funnel, data: dict, source: str, *, by: Actor) -> FunnelVersion:
    """`data` (a self-contained spec, as versions store it) as the funnel's next version: an
    experiment's winner shipped becomes the ladder as written."""
    spec = FunnelSpec.model_validate(data)
    with transaction.atomic():
        latest = Funnel.objects.select_for_update().get(pk=funnel.pk).current_version()
        sourced = SourcedSpec(spec, Positions(), "", source)
        based_on = latest.number if latest else None
        return _store(funnel, data, sourced, Origin.EXPERIMENT, by, based_on, latest)


def _refuse_stale(funnel: Funnel, latest: FunnelVersion | None, origin: str,
                  based_on: int | None, force: bool) -> None:  # fmt: skip
    if latest is None or force:
        return
    if origin in (Origin.EDITOR, Origin.ROLLBACK) and based_on != latest.number:
        raise Stale(latest, based_on, _stale_message(funnel, latest, based_on))
    if origin == Origin.FILE:
        newer = (funnel.versions.current().filter(number__gt=based_on or 0)
                 .exclude(origin=Origin.FILE).first())  # fmt: skip
        if newer is not None:
            raise Stale(newer, based_on, _older_file_message(funnel, newer, based_on))


def _stale_message(funnel: Funnel, latest: FunnelVersion, based_on: int | None) -> str:
    by = f" by {latest.author}" if latest.author else ""
    if based_on is None:
        return f"funnel {funnel.key} exists already (version {latest.number}); edit it instead"
    return (
        f"not published: you started from version {based_on}, and version {latest.number} was "
        f"published since{by} at {latest.created_at:%Y-%m-%d %H:%M} UTC. Read their changes, "
        f"take them into yours, then publish over version {latest.number}."
    )


def _older_file_message(funnel: Funnel, newer: FunnelVersion, based_on: int | None) -> str:
    by = f" by {newer.author}" if newer.author else ""
    start = f"version {based_on}" if based_on else "no version stored here"
    return (
        f"{funnel.key}: not loaded: version {newer.number} was {newer.get_origin_display()}"
        f"{by} at {newer.created_at:%Y-%m-%d %H:%M} UTC, after the version this file was "
        f"exported from ({start}); loading it would undo that. Take the dashboard's version "
        f"with `yesladder export {funnel.key} > FILE` and edit that, or load this file anyway "
        f"with --force."
    )


def _store(funnel: Funnel, data: dict, sourced: SourcedSpec, origin: str, by: Actor,
           based_on: int | None, latest: FunnelVersion | None,
           rolled_back: int | None = None) -> FunnelVersion:  # fmt: skip
    """The version itself, its steps, its experiment variants and its audit entry (in the
    caller's transaction, with the funnel's row locked)."""
    spec = FunnelSpec.model_validate(data)
    funnel.name = spec.name
    funnel.save(update_fields=["name"])
    version = FunnelVersion.objects.create(
        funnel=funnel,
        number=(latest.number + 1) if latest else 1,
        digest=_digest(data),
        spec_json=data,
        source=sourced.text,
        source_file=sourced.file,
        origin=origin,
        author=by.name,
        based_on=based_on,
    )
    Step.objects.bulk_create(_step_rows(version, sourced, spec))
    _store_variants(version, data, sourced)
    after = {"version": version.number, "origin": origin}
    if rolled_back is not None:
        after["copy of"] = rolled_back
    action = "funnel.rollback" if origin == Origin.ROLLBACK else "funnel.publish"
    audit.record(by, action, f"funnel {funnel.key}",
                 before={"version": latest.number if latest else None}, after=after)  # fmt: skip
    return version


def _digest(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _store_variants(version: FunnelVersion, data: dict, sourced: SourcedSpec) -> int:
    """Each experiment variant's ladder as a version beside `version` (the control is
    `version` itself). Built from the self-contained data, so a variant's files are the
    version's own."""
    ladders = {s.variant: s for s in variant_sources(sourced)}
    built = variants(data, Positions())
    for variant in built:
        row = FunnelVersion.objects.create(
            funnel=version.funnel,
            number=version.number,
            variant=variant.name,
            base=version,
            digest=_digest(variant.data),
            spec_json=variant.data,
            source=version.source,
            source_file=version.source_file,
            origin=version.origin,
            author=version.author,
            based_on=version.based_on,
        )
        Step.objects.bulk_create(_step_rows(row, ladders[variant.name], variant.spec))
    return len(built)


def _missing(sourced: SourcedSpec, files: Mapping[Path, bytes] | None) -> list[SpecProblem]:
    if files is None:
        return missing_files(sourced)
    return [
        SpecProblem(
            sourced.file,
            sourced.positions.line((*f.owner, *f.where)),
            ".".join(map(str, (*f.owner, *f.where))),
            f"file not found: {f.path.name}. The editor knows the files of the version "
            "it edits; write the text inline (`body: |`), or add the file beside the "
            "spec in your repository and `yesladder load` it",
        )  # fmt: skip
        for f in local_files(sourced)
        if f.path not in files
    ]


def _read(local: LocalFile, files: Mapping[Path, bytes] | None) -> bytes:
    return local.path.read_bytes() if files is None else files[local.path]


def _self_contained(
    sourced: SourcedSpec, files: Mapping[Path, bytes] | None
) -> tuple[dict, list[tuple[str, bytes]]]:
    data = sourced.spec.model_dump(mode="json", exclude_unset=True)
    assets: list[tuple[str, bytes]] = []
    for local in local_files(sourced):
        section, name = local.owner
        owner = data[section][name]
        content = _read(local, files)
        if local.inline:
            owner.pop("file")
            owner["body"] = content.decode("utf-8")
            continue
        name = f"{hashlib.sha256(content).hexdigest()}/{local.path.name}"
        parent = owner
        for part in local.where[:-1]:
            parent = parent[part]
        parent[local.where[-1]] = name
        assets.append((name, content))
    return data, assets


# The editor asks on every pause in typing, and parsing the version's YAML again costs more than
# the check itself. Keyed by what the answer depends on (an id alone can come back after a
# rollback on SQLite); a version never changes.
_STORED_FILES: dict[tuple, dict[Path, bytes]] = {}


def stored_files(version: FunnelVersion | None) -> dict[Path, bytes]:
    """The files a stored version's spec points at, by the path they resolve to from its
    source: what the editor's text may point at without a file on disk. Read back from the
    version itself (Markdown is in its spec, assets in the data directory)."""
    if version is None or not version.source_file:
        return {}
    key = (version.pk, version.digest, version.source_file, hash(version.source))
    if key not in _STORED_FILES:
        if len(_STORED_FILES) > 64:
            _STORED_FILES.clear()
        _STORED_FILES[key] = _read_back(version)
    return _STORED_FILES[key]


def _read_back(version: FunnelVersion) -> dict[Path, bytes]:
    try:
        sourced = parse_spec(version.source, version.source_file)
    except SpecError:  # stored before a schema change: the editor then needs inline text
        return {}
    found: dict[Path, bytes] = {}
    for local in local_files(sourced):
        section, name = local.owner
        stored = version.spec_json[section][name]
        if local.inline:
            found[local.path] = str(stored.get("body", "")).encode("utf-8")
            continue
        for part in local.where:
            stored = stored[part]
        asset = Path(settings.ASSETS_ROOT) / str(stored)
        if asset.is_file():
            found[local.path] = asset.read_bytes()
    return found


def _store_asset(name: str, content: bytes) -> None:
    target = Path(settings.ASSETS_ROOT) / name
    if target.exists():
        return  # content-addressed: same name, same bytes
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    partial.write_bytes(content)
    partial.replace(target)


def _step_rows(version: FunnelVersion, sourced: SourcedSpec, spec: FunnelSpec) -> list[Step]:
    costs: dict[str, float] = {}
    ladder = Ladder(sourced)
    for path in ladder.paths:
        for rung in ladder.rungs(path):
            costs.setdefault(rung.step.key, rung.cost.total)
    return [
        Step(
            version=version,
            key=step.key,
            kind=step.kind,
            position=i,
            title=step.title,
            macro=step.macro,
            commitment_cost=costs.get(step.key) or step_cost(step, spec).total,
        )
        for i, step in enumerate(spec.steps)
    ]
