"""The ladder editor's flow, called by the dashboard's pages and its live check alike: a text
checked as `yesladder lint` checks a file, its commitment ladder and its diff against the
version being served, kept as the user's draft, and published through `load`'s own path
(funnels.services.load_funnel). Versions, rollback and export are here too.

The editor edits a funnel's YAML, not the files it points at: `file:` in the text resolves to
the files of the version being edited (a new funnel: those of the `yesladder init` template),
read back from that version. A new file is added beside the spec in the repository and loaded.
"""

import difflib
from dataclasses import asdict, dataclass
from importlib.resources import files as package_files
from pathlib import Path

import yaml
from django.core import signing
from django.db import transaction

from yesladder.funnels import lint
from yesladder.funnels.models import Draft, Funnel, FunnelVersion
from yesladder.funnels.services import (
    EXPORT_MARK,
    Origin,
    Stale,
    check_files,
    load_funnel,
    store_in_passing,
    stored_files,
    unmarked,
)
from yesladder.funnels.spec import SourcedSpec, SpecError, parse_spec
from yesladder.team.audit import Actor

# Where a new funnel's text stands: the init template's files resolve beside it.
NEW_FILE = "funnel.yaml"
SCAFFOLD_FILES = ("guide.md", "checklist.md")
PREVIEW_SALT = "yesladder.funnels.draft-preview"
PREVIEW_AGE = 24 * 3600  # seconds a draft's preview link works
CONTEXT_LINES = 3


@dataclass(frozen=True)
class Problem:
    """One thing to say about a line: a spec error (rule "spec", never publishable) or a lint
    finding, as `yesladder lint --format json` says it."""

    line: int
    severity: str
    rule: str
    message: str
    hint: str
    step: str = ""
    field: str = ""


@dataclass(frozen=True)
class Checked:
    funnel: str  # the key the text names ("" when it names none)
    problems: tuple[Problem, ...]
    ladder: tuple[lint.Climb, ...]
    diff: tuple[str, ...]  # unified diff against the version being served
    steps: tuple[tuple[str, str], ...]  # (key, title): what can be previewed

    @property
    def errors(self) -> int:
        return sum(p.severity == lint.ERROR for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == lint.WARNING for p in self.problems)

    def as_json(self) -> dict:
        return {
            "funnel": self.funnel,
            "errors": self.errors,
            "warnings": self.warnings,
            "problems": [asdict(p) for p in self.problems],
            "ladder": [asdict(r) for r in self.ladder],
            "diff": list(self.diff),
            "steps": [{"key": key, "title": title} for key, title in self.steps],
        }


class NotPublished(Exception):
    """Errors, or warnings not confirmed: `checked` says which, on which lines."""

    def __init__(self, message: str, checked: Checked):
        super().__init__(message)
        self.checked = checked


# --- what the editor shows -------------------------------------------------------------------


def served(funnel: Funnel | None) -> FunnelVersion | None:
    return funnel.current_version() if funnel is not None else None


def starting_text(funnel: Funnel | None, key: str = "my-funnel") -> str:
    """What the editor opens with: the served version's text, or the init template."""
    version = served(funnel)
    if version is not None:
        return unmarked(version.source)
    return (
        (package_files("yesladder") / "scaffold" / "funnel.yaml")
        .read_text()
        .replace("__KEY__", key)
    )


def check(text: str, funnel: Funnel | None) -> Checked:
    """The text as the linter sees it, its ladder, and its diff against the served version.
    Nothing is stored."""
    version = served(funnel)
    diff = _diff(
        unmarked(version.source) if version else "",
        text,
        f"version {version.number}" if version else "nothing yet",
        "your text",
    )
    try:
        sourced = _sourced(text, version)
    except SpecError as invalid:
        problems = tuple(
            Problem(
                p.line,
                lint.ERROR,
                "spec",
                p.message,
                "fix the spec; see docs/funnel-spec.md",
                field=p.field,
            )
            for p in invalid.problems
        )
        return Checked("", problems, (), diff, ())
    problems = [*_misplaced(sourced, funnel), *_missing(sourced, version)]
    problems += [
        Problem(f.line, f.severity, f.rule, f.message, f.hint, f.step or "")
        for f in lint.lint(sourced)
    ]
    steps = tuple((s.key, s.title) for s in sourced.spec.steps)
    return Checked(
        sourced.spec.funnel,
        tuple(sorted(problems, key=lambda p: p.line)),
        tuple(lint.climb(sourced)),
        diff,
        steps,
    )


def _sourced(text: str, version: FunnelVersion | None) -> SourcedSpec:
    sourced = parse_spec(text, _file_of(version))
    lint.check_settings(sourced)
    return sourced


def _file_of(version: FunnelVersion | None) -> str:
    return version.source_file if version is not None and version.source_file else NEW_FILE


def _files_of(version: FunnelVersion | None) -> dict[Path, bytes]:
    if version is not None:
        return stored_files(version)
    beside = Path(NEW_FILE).resolve().parent
    scaffold = package_files("yesladder") / "scaffold"
    return {beside / name: (scaffold / name).read_bytes() for name in SCAFFOLD_FILES}


def _misplaced(sourced: SourcedSpec, funnel: Funnel | None) -> list[Problem]:
    key, line = sourced.spec.funnel, sourced.positions.line(("funnel",))
    if funnel is not None and key != funnel.key:
        return [
            Problem(
                line,
                lint.ERROR,
                "spec",
                f"this editor publishes funnel '{funnel.key}'; the text names '{key}'",
                "keep the key, or start a new funnel for another",
                field="funnel",
            )
        ]
    if funnel is None and Funnel.objects.filter(key=key).exists():
        return [
            Problem(
                line,
                lint.ERROR,
                "spec",
                f"a funnel '{key}' exists already",
                "choose another key, or edit that funnel on its page",
                field="funnel",
            )
        ]
    return []


def _missing(sourced: SourcedSpec, version: FunnelVersion | None) -> list[Problem]:
    try:
        check_files(sourced, _files_of(version))
    except SpecError as missing:
        return [
            Problem(p.line, lint.ERROR, "spec", p.message, "", field=p.field)
            for p in missing.problems
        ]
    return []


def _diff(before: str, after: str, before_name: str, after_name: str) -> tuple[str, ...]:
    return tuple(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            before_name,
            after_name,
            lineterm="",
            n=CONTEXT_LINES,
        )
    )


# --- drafts ----------------------------------------------------------------------------------


def draft_of(user, funnel: Funnel | None) -> Draft | None:
    return Draft.objects.filter(user=user, funnel_key=funnel.key if funnel else "").first()


def keep_draft(user, funnel: Funnel | None, text: str, based_on: int | None) -> Draft:
    draft, _ = Draft.objects.update_or_create(
        user=user,
        funnel_key=funnel.key if funnel else "",
        defaults={"text": text, "based_on": based_on},
    )
    return draft


def discard_draft(user, funnel: Funnel | None) -> bool:
    return bool(
        Draft.objects.filter(user=user, funnel_key=funnel.key if funnel else "").delete()[0]
    )


def preview_token(draft: Draft) -> str:
    return signing.dumps({"d": draft.pk}, salt=PREVIEW_SALT)


def draft_previewed(token: str) -> Draft | None:
    """The draft a preview link shows; None when the link is forged, expired or its draft was
    published or discarded."""
    try:
        claim = signing.loads(token, salt=PREVIEW_SALT, max_age=PREVIEW_AGE)
    except signing.BadSignature:
        return None
    pk = claim.get("d") if isinstance(claim, dict) else None
    return Draft.objects.filter(pk=pk).first()


def draft_as_version(draft: Draft) -> FunnelVersion | None:
    """The draft stored as a version for a preview to render, inside the caller's transaction,
    which must roll back; None when the draft has errors that stop it being stored."""
    funnel = Funnel.objects.filter(key=draft.funnel_key).first() if draft.funnel_key else None
    version = served(funnel)
    try:
        sourced = _sourced(draft.text, version)
        return store_in_passing(sourced, _files_of(version))
    except SpecError:
        return None


# --- publishing ------------------------------------------------------------------------------


def publish(
    user, funnel: Funnel | None, text: str, based_on: int | None, confirmed: bool
) -> FunnelVersion:
    """The text as the funnel's next version (or a new funnel's first), through load's path.
    Refused with NotPublished (errors; warnings not confirmed) or Stale (another version was
    published after `based_on`); the draft is kept until it is published."""
    checked = check(text, funnel)
    if checked.errors:
        raise NotPublished(f"not published: {checked.errors} error(s) to fix first", checked)
    if checked.warnings and not confirmed:
        raise NotPublished(
            f"{checked.warnings} warning(s): publish anyway only if you mean it", checked
        )
    version = served(funnel)
    sourced = _sourced(text, version)
    with transaction.atomic():
        loaded = load_funnel(
            sourced,
            by=Actor.of(user),
            origin=Origin.EDITOR,
            based_on=based_on,
            files=_files_of(version),
        )
        discard_draft(user, funnel)
    stored = Funnel.objects.get(key=loaded.funnel).versions.current().get(number=loaded.version)
    if not loaded.created:
        raise NotPublished(f"nothing to publish: the text is version {loaded.version}'s", checked)
    return stored


def others_diff(funnel: Funnel, stale: Stale) -> tuple[str, ...]:
    """What was published since the version a refused text started from."""
    start = funnel.versions.current().filter(number=stale.based_on).first()
    return version_diff(start, stale.newer) if start else ()


# --- versions --------------------------------------------------------------------------------


def version_diff(a: FunnelVersion, b: FunnelVersion) -> tuple[str, ...]:
    """From version a to version b, as their texts say; when only the files they point at
    changed (same text), the stored specs are compared instead."""
    names = (f"version {a.number}", f"version {b.number}")
    found = _diff(unmarked(a.source), unmarked(b.source), *names)
    if found or a.digest == b.digest:
        return found
    return _diff(_dumped(a), _dumped(b), *(f"{n} (with its files)" for n in names))


def _dumped(version: FunnelVersion) -> str:
    return yaml.safe_dump(version.spec_json, sort_keys=False, allow_unicode=True)


def exported(funnel: Funnel, number: int | None = None) -> str:
    """A version's text as it was loaded or published (comments kept), first line saying
    which version it is, for `yesladder load` to know what it was taken from."""
    versions = funnel.versions.current()
    version = (versions.filter(number=number) if number else versions).first()
    if version is None:
        raise LookupError(
            f"{funnel.key} has no version {number}"
            if number
            else f"{funnel.key} has no version yet"
        )
    text = unmarked(version.source)
    mark = EXPORT_MARK.format(funnel=funnel.key, number=version.number)
    return f"{mark}\n{text}" + ("" if text.endswith("\n") else "\n")
