"""Backups that restore: one tar file holding a consistent copy of the database, the data
directory's own files (templates, theme, assets, the generated secret key) and a manifest
(release, time, rows per table, SHA-256 of every member).

- SQLite is copied with its online backup API, in one step: the copy reads one snapshot while
  the pages go on writing (WAL), never a file copy of a live database.
- PostgreSQL is dumped by `pg_dump` in its custom format, from a snapshot that the rows are
  also counted in, so the manifest's counts are the dump's.
- The file is written as `NAME.partial` beside its final name and renamed when complete and
  synced: a full disk or a crash leaves no file that looks like a backup.
- `restore` checks every member against the manifest before it touches anything, restores only
  into an empty database and data directory, and checks SQLite's `integrity_check` and the
  counts of every table.
"""

import datetime as dt
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from yesladder import __version__

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATABASE = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# The data directory's own files, besides the database (relative to YESLADDER_HOME).
DATA = ("templates", "theme", "assets", "secret_key")
# Django's bookkeeping, which `migrate` fills in an otherwise empty database.
# Rows the migrations make themselves (the roles' groups too): an empty installation has them.
BOOKKEEPING = {"django_migrations", "django_content_type", "auth_permission", "sqlite_sequence",
               "auth_group", "auth_group_permissions"}  # fmt: skip
PREFIX, SUFFIX = "yesladder-", ".tar"


class BackupError(Exception):
    """What went wrong, in words for the operator; nothing was left behind."""


@dataclass
class Report:
    path: Path
    engine: str
    created_at: str
    version: str
    tables: dict[str, int]
    files: list[str] = field(default_factory=list)
    size: int = 0
    checks: list[str] = field(default_factory=list)

    def text(self, verb: str) -> str:
        rows = sum(self.tables.values())
        lines = [
            f"{verb} {self.path} ({self.size:,} bytes)",
            f"  engine {self.engine}, taken {self.created_at} by yesladder {self.version}",
            f"  {len(self.tables)} tables, {rows:,} rows; {len(self.files)} data files",
        ]
        ours = [item for item in self.tables.items() if item[0] not in BOOKKEEPING]
        busiest = sorted(ours, key=lambda item: -item[1])[:8]
        lines += [f"    {name:<32} {count:>12,}" for name, count in busiest if count]
        lines += [f"  ok: {check}" for check in self.checks]
        return "\n".join(lines)


def engine() -> str:
    return "sqlite" if settings.EMBEDDED else "postgresql"


# --- taking one ------------------------------------------------------------------------------


def backup(to: Path | None = None) -> Report:
    folder = Path(to or settings.BACKUP_DIR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".taking-") as work:
            return _backup(folder, Path(work))
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(_disk_problem(exc, folder)) from None


def _backup(folder: Path, work: Path) -> Report:
    created = timezone.now()
    member = DATABASE[engine()]
    dump = work / member
    tables = _dump_sqlite(dump) if settings.EMBEDDED else _dump_postgres(dump)
    files = {member: dump} | _data_files()
    manifest = {
        "format": 1, "version": __version__, "engine": engine(),
        "created_at": created.isoformat(), "tables": tables,
        "members": {name: _digest(path) for name, path in files.items()},
    }  # fmt: skip
    final = _free_name(folder, created)
    partial = final.with_name(final.name + ".partial")
    try:
        with open(partial, "xb") as out:
            os.fchmod(out.fileno(), 0o600)  # it holds every lead and the secret key
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
                for name, path in files.items():
                    tar.add(path, arcname=name, recursive=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        _sync_folder(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Report(final, engine(), manifest["created_at"], __version__, tables,
                  sorted(set(files) - {member}), final.stat().st_size)  # fmt: skip


def _free_name(folder: Path, created: dt.datetime) -> Path:
    stem = f"{PREFIX}{created:%Y%m%dT%H%M%SZ}"
    candidate, n = folder / f"{stem}{SUFFIX}", 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}{SUFFIX}"
    return candidate


def _dump_sqlite(dump: Path) -> dict[str, int]:
    source = sqlite3.connect(_sqlite_path(), timeout=connection.settings_dict["OPTIONS"]["timeout"])
    copy = sqlite3.connect(dump)
    try:
        source.backup(copy)  # every page in one step: one consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        _integrity(copy, "the copy just taken")
        return _sqlite_counts(copy)
    finally:
        copy.close()
        source.close()


def _sqlite_counts(db: sqlite3.Connection) -> dict[str, int]:
    listed = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
              "ORDER BY name")  # fmt: skip
    return _counts(db, [row[0] for row in db.execute(listed)])


def _counts(db, tables: list[str]) -> dict[str, int]:
    """Rows per table; the names come from the database's own catalogue."""
    count = 'SELECT COUNT(*) FROM "{}"'
    return {name: db.execute(count.format(name)).fetchone()[0] for name in tables}


def _integrity(db: sqlite3.Connection, what: str) -> None:
    found = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if found != ["ok"]:
        raise BackupError(f"SQLite's integrity_check fails on {what}: {'; '.join(found[:3])}")


def _dump_postgres(dump: Path) -> dict[str, int]:
    import psycopg

    with psycopg.connect(**_pg_params()) as db:
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = db.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = _pg_counts(db)
        # pg_dump reads the same snapshot while this transaction holds it open.
        _run_pg("pg_dump", "--format=custom", f"--snapshot={snapshot}", "--no-owner",
                "--no-privileges", f"--file={dump}")  # fmt: skip
    return tables


def _pg_counts(db) -> dict[str, int]:
    listed = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
    return _counts(db, [row[0] for row in db.execute(listed)])


def _sqlite_path() -> Path:
    return Path(connection.settings_dict["NAME"])  # a test run's own file too


def _pg_params() -> dict:
    db = connection.settings_dict
    return {"dbname": db["NAME"], "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None, "host": db.get("HOST") or None,
            "port": db.get("PORT") or None}  # fmt: skip


def _run_pg(program: str, *args: str) -> None:
    params = _pg_params()
    env = {**os.environ, "PGPASSWORD": params["password"] or os.environ.get("PGPASSWORD", "")}
    where = [f"--{flag}={params[key]}" for flag, key in (("host", "host"), ("port", "port"),
             ("username", "user")) if params[key]]  # fmt: skip
    database = ["--dbname", params["dbname"]]
    if shutil.which(program) is None:
        raise BackupError(f"{program} is not installed; install PostgreSQL's client tools of "
                          "the server's major version (Debian: apt-get install "
                          "postgresql-client)")  # fmt: skip
    done = subprocess.run([program, *where, *database, *args], env=env, capture_output=True,  # noqa: S603
                          text=True)  # fmt: skip
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise BackupError(f"{program} failed: {said[-1] if said else done.returncode}")


def _data_files() -> dict[str, Path]:
    found = {}
    for name in DATA:
        path = settings.HOME / name
        if path.is_file():
            found[name] = path
        elif path.is_dir():
            for inner in sorted(p for p in path.rglob("*") if p.is_file()):
                found[inner.relative_to(settings.HOME).as_posix()] = inner
    return found


def _digest(path: Path) -> dict:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return {"sha256": sha.hexdigest(), "size": size}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(timezone.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


def _sync_folder(folder: Path) -> None:
    """The rename itself survives a crash only once the folder is synced."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _disk_problem(exc: OSError | sqlite3.Error, folder: Path) -> str:
    full = getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"
    if full or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        free = shutil.disk_usage(folder).free if folder.exists() else 0
        return (f"the disk holding {folder} is full ({free:,} bytes free): no backup was "
                "written and nothing half-written was left; free some space or use --to DIR "
                "on another disk")  # fmt: skip
    return f"cannot write into {folder}: {getattr(exc, 'strerror', None) or exc}"


# --- on a schedule -----------------------------------------------------------------------------


def backups(folder: Path | None = None) -> list[tuple[dt.datetime, Path]]:
    """The complete backups in the folder with the time each was taken (from its name), oldest
    first."""
    folder = Path(folder or settings.BACKUP_DIR)
    found = []
    for path in folder.glob(f"{PREFIX}*{SUFFIX}") if folder.is_dir() else ():
        stamp = path.name[len(PREFIX) :].removesuffix(SUFFIX).partition("-")[0]
        try:
            taken = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            continue  # not one of ours
        found.append((taken, path))
    return sorted(found)


def scheduled() -> int:
    """The worker's job: a backup when the newest is older than YESLADDER_BACKUP_EVERY (so a
    restarted worker, or `worker --once` from cron, does not take one more), then only the
    newest YESLADDER_BACKUP_KEEP are kept. Returns 0: a backup is not work that makes the
    loop go round again at once."""
    existing = backups()
    if existing and (timezone.now() - existing[-1][0]).total_seconds() < settings.BACKUP_EVERY:
        return 0
    try:
        report = backup()
    except BackupError as exc:
        logger.error("scheduled backup failed: %s", exc)
        return 0
    logger.info("scheduled backup written: %s (%s bytes)", report.path, report.size)
    for _, old in backups()[: -settings.BACKUP_KEEP]:
        old.unlink(missing_ok=True)
    return 0


# --- restoring ---------------------------------------------------------------------------------


def restore(file: Path) -> Report:
    file = Path(file)
    try:
        with tempfile.TemporaryDirectory(dir=settings.HOME, prefix=".restoring-") as work:
            manifest = _unpack(file, Path(work))
            return _restore(file, manifest, Path(work))
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(_disk_problem(exc, settings.HOME)) from None


def _unpack(file: Path, work: Path) -> dict:
    """Every member, extracted and checked against the manifest; refused if anything is
    missing, extra, cut short or changed."""
    if not file.is_file():
        raise BackupError(f"{file} is not a file")
    damaged = (f"{file} is not a complete yesladder backup: it was cut short or damaged "
               "(restore another one)")  # fmt: skip
    try:
        with tarfile.open(file, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BackupError(f"{damaged}; its manifest is missing")
            manifest = json.loads(tar.extractfile(first).read())
            expected = manifest["members"]
            seen = set()
            for member in tar:
                if member is first:
                    continue
                if member.name not in expected or not member.isfile():
                    raise BackupError(f"{damaged}; it holds {member.name!r}, which the "
                                      "manifest does not list")  # fmt: skip
                target = work / "members" / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                if _digest(target) != expected[member.name]:
                    raise BackupError(f"{damaged}; {member.name} does not match its checksum")
                seen.add(member.name)
    except (tarfile.TarError, EOFError, json.JSONDecodeError, UnicodeDecodeError, KeyError,
            TypeError) as exc:  # fmt: skip
        raise BackupError(f"{damaged} ({type(exc).__name__}: {exc})") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(f"{damaged}; it lacks {', '.join(missing[:3])}")
    if manifest.get("engine") != engine():
        raise BackupError(f"{file} is a backup of {manifest.get('engine')}; this installation "
                          f"uses {engine()} (set or unset DATABASE_URL to match)")  # fmt: skip
    return manifest


def _restore(file: Path, manifest: dict, work: Path) -> Report:
    members = work / "members"
    data = [name for name in manifest["members"] if name not in DATABASE.values()]
    _refuse_live_data()
    _refuse_existing_files(members, data)
    dump = members / DATABASE[engine()]
    checks = [f"every member matches the manifest's SHA-256 ({len(manifest['members'])})"]
    if settings.EMBEDDED:
        checks += _restore_sqlite(dump, manifest["tables"])
    else:
        checks += _restore_postgres(dump, manifest["tables"])
    for name in data:
        target = settings.HOME / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(members / name, target)
        if name == "secret_key":
            target.chmod(0o600)
    return Report(file, engine(), manifest["created_at"], manifest["version"], manifest["tables"],
                  data, file.stat().st_size, checks)  # fmt: skip


def _refuse_live_data() -> None:
    live = _live_tables()
    if live:
        named = ", ".join(f"{name} ({count:,})" for name, count in live[:3])
        where = _sqlite_path() if settings.EMBEDDED else "the database of DATABASE_URL"
        raise BackupError(f"{where} already holds data: {named}; restore only into an empty "
                          "database (a new YESLADDER_HOME, or a new database from createdb); "
                          "nothing was changed")  # fmt: skip


def _live_tables() -> list[tuple[str, int]]:
    if settings.EMBEDDED:
        if not _sqlite_path().exists():
            return []
        db = sqlite3.connect(_sqlite_path())
        try:
            counts = _sqlite_counts(db)
        finally:
            db.close()
    else:
        import psycopg

        with psycopg.connect(**_pg_params()) as db:
            counts = _pg_counts(db)
    return [(name, n) for name, n in counts.items() if n and name not in BOOKKEEPING]


def _refuse_existing_files(members: Path, data: list[str]) -> None:
    """Templates, theme and assets must not be overwritten. The secret key may: every command
    generates one into a new data directory, and with an empty database it signed nothing."""
    clash = [name for name in data if name != "secret_key" and (settings.HOME / name).exists()
             and _digest(settings.HOME / name) != _digest(members / name)]  # fmt: skip
    if clash:
        raise BackupError(f"the data directory {settings.HOME} already has other "
                          f"{', '.join(clash[:3])}; restore into an empty one; nothing was "
                          "changed")  # fmt: skip


def _restore_sqlite(dump: Path, expected: dict[str, int]) -> list[str]:
    db = sqlite3.connect(dump)
    try:
        _integrity(db, "the backup's database")
        _same_counts(_sqlite_counts(db), expected)
    finally:
        db.close()
    path = _sqlite_path()
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):  # an empty database only
        stale.unlink(missing_ok=True)
    os.replace(dump, path)
    return ["SQLite's integrity_check", f"rows in all {len(expected)} tables equal the manifest"]


def _restore_postgres(dump: Path, expected: dict[str, int]) -> list[str]:
    # --clean drops the empty tables a `migrate` may have made; one transaction, so a failed
    # restore leaves the database as it was.
    _run_pg("pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
            "--single-transaction", "--exit-on-error", str(dump))  # fmt: skip
    import psycopg

    with psycopg.connect(**_pg_params()) as db:
        _same_counts(_pg_counts(db), expected)
    return ["pg_restore in one transaction", f"rows in all {len(expected)} tables equal the "
            "manifest"]  # fmt: skip


def _same_counts(found: dict[str, int], expected: dict[str, int]) -> None:
    wrong = [f"{name}: {found.get(name)} instead of {n}" for name, n in expected.items()
             if found.get(name) != n]  # fmt: skip
    if wrong:
        raise BackupError(f"the restored rows differ from the manifest: {'; '.join(wrong[:5])}")
