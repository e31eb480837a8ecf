"""Storing funnel specs as versions. Commands and views call these; they hold no logic."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from yesladder.funnels.cost import step_cost
from yesladder.funnels.lint import Ladder
from yesladder.funnels.models import Funnel, FunnelVersion, Step
from yesladder.funnels.spec import SourcedSpec, SpecError, variant_sources
from yesladder.funnels.spec.files import local_files, missing_files
from yesladder.funnels.spec.schema import FunnelSpec
from yesladder.funnels.spec.variants import variants
from yesladder.funnels.spec.yamlsource import Positions


@dataclass(frozen=True)
class Loaded:
    funnel: str
    version: int
    created: bool
    steps: int
    variants: int = 0  # experiment variants stored beside the version, each a ladder


def load_funnel(sourced: SourcedSpec) -> Loaded:
    """Store a spec as the funnel's next version, unless it equals the current one.

    Files the spec points at are made part of the version: Markdown is read into it, assets are
    copied into the data directory under their SHA-256, so a later edit of a file is a new version.
    """
    problems = missing_files(sourced)
    if problems:
        raise SpecError(problems)
    data, assets = _self_contained(sourced)
    spec = FunnelSpec.model_validate(data)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    for name, content in assets:
        _store_asset(name, content)
    with transaction.atomic():
        funnel, _ = Funnel.objects.select_for_update().get_or_create(
            key=spec.funnel, defaults={"name": spec.name}
        )
        latest = funnel.current_version()
        if latest is not None and latest.digest == digest:
            return Loaded(spec.funnel, latest.number, created=False, steps=len(spec.steps))
        funnel.name = spec.name
        funnel.save(update_fields=["name"])
        version = FunnelVersion.objects.create(
            funnel=funnel,
            number=(latest.number + 1) if latest else 1,
            digest=digest,
            spec_json=data,
            source=sourced.text,
            source_file=str(sourced.file),
        )
        Step.objects.bulk_create(_step_rows(version, sourced, spec))
        stored = _store_variants(version, data, sourced)
    return Loaded(spec.funnel, version.number, True, len(spec.steps), stored)


def store_next(funnel: Funnel, data: dict, source: str, source_file: str) -> FunnelVersion:
    """`data` (a self-contained spec, as versions store it) as the funnel's next version: an
    experiment's winner shipped becomes the ladder as written."""
    spec = FunnelSpec.model_validate(data)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    with transaction.atomic():
        latest = Funnel.objects.select_for_update().get(pk=funnel.pk).current_version()
        version = FunnelVersion.objects.create(
            funnel=funnel,
            number=(latest.number + 1) if latest else 1,
            digest=hashlib.sha256(canonical.encode()).hexdigest(),
            spec_json=data,
            source=source,
            source_file=source_file,
        )
        sourced = SourcedSpec(spec, Positions(), source_file or "<stored>", source)
        Step.objects.bulk_create(_step_rows(version, sourced, spec))
    return version


def _store_variants(version: FunnelVersion, data: dict, sourced: SourcedSpec) -> int:
    """Each experiment variant's ladder as a version beside `version` (the control is
    `version` itself). Built from the self-contained data, so a variant's files are the
    version's own."""
    ladders = {s.variant: s for s in variant_sources(sourced)}
    built = variants(data, Positions())
    for variant in built:
        canonical = json.dumps(variant.data, sort_keys=True, separators=(",", ":"))
        row = FunnelVersion.objects.create(
            funnel=version.funnel,
            number=version.number,
            variant=variant.name,
            base=version,
            digest=hashlib.sha256(canonical.encode()).hexdigest(),
            spec_json=variant.data,
            source=version.source,
            source_file=version.source_file,
        )
        Step.objects.bulk_create(_step_rows(row, ladders[variant.name], variant.spec))
    return len(built)


def _self_contained(sourced: SourcedSpec) -> tuple[dict, list[tuple[str, bytes]]]:
    data = sourced.spec.model_dump(mode="json", exclude_unset=True)
    assets: list[tuple[str, bytes]] = []
    for local in local_files(sourced):
        section, name = local.owner
        owner = data[section][name]
        if local.inline:
            owner.pop("file")
            owner["body"] = local.path.read_text(encoding="utf-8")
            continue
        content = local.path.read_bytes()
        name = f"{hashlib.sha256(content).hexdigest()}/{local.path.name}"
        parent = owner
        for part in local.where[:-1]:
            parent = parent[part]
        parent[local.where[-1]] = name
        assets.append((name, content))
    return data, assets


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
