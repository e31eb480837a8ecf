"""yesladder's own deployment checks, run with Django's by `yesladder check --deploy`. Each says
what to do. Errors are what breaks a production site or loses data; warnings are what a
production site should not go without. None raises: a fresh laptop gets a list, not a traceback.
"""

import os
import shutil
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from yesladder.operations import health

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}
NOT_DELIVERED = ("filebased", "console", "locmem", "dummy")  # Django's backends that send nothing
MIN_FREE_BYTES = 1 << 30  # a day of events and a backup of a small site
MIN_SECRET_LENGTH = 50


def register() -> None:
    checks.register(deployment, "yesladder", deploy=True)


def deployment(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    found = _settings_checks() + _data_directory_checks()
    try:
        found += _database_checks()
    except DatabaseError as exc:
        found.append(checks.Error(
            f"The database does not answer: {type(exc).__name__}: {str(exc).strip()[:200]}",
            hint="Check DATABASE_URL (postgres://user:password@host:5432/name) and that "
            "PostgreSQL runs and accepts this user.", id="yesladder.E010",
        ))  # fmt: skip
    return found


def _settings_checks() -> list[checks.CheckMessage]:
    found = []
    key = os.environ.get("YESLADDER_SECRET_KEY", "").strip()
    if key and (len(key) < MIN_SECRET_LENGTH or len(set(key)) < 5):
        found.append(checks.Error(
            f"YESLADDER_SECRET_KEY is weak ({len(key)} characters; at least "
            f"{MIN_SECRET_LENGTH}, random).",
            hint="Generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(50))', "
            "or unset it to use the one generated into $YESLADDER_HOME/secret_key.",
            id="yesladder.E001",
        ))  # fmt: skip
    public = [h for h in settings.ALLOWED_HOSTS if h not in LOCAL_HOSTS]
    if not public or "*" in settings.ALLOWED_HOSTS:
        found.append(checks.Error(
            "YESLADDER_ALLOWED_HOSTS names no public host name"
            + (" (it allows any: '*')" if "*" in settings.ALLOWED_HOSTS else "") + ".",
            hint="Set it to the site's host names, keeping 127.0.0.1 for local probes, e.g. "
            "YESLADDER_ALLOWED_HOSTS=go.example.com,127.0.0.1", id="yesladder.E002",
        ))  # fmt: skip
    plain = [o for o in settings.CSRF_TRUSTED_ORIGINS if not o.startswith("https://")]
    if plain:
        found.append(checks.Error(
            f"YESLADDER_CSRF_TRUSTED_ORIGINS has origins without https: {', '.join(plain[:3])}.",
            hint="List https origins only, e.g. YESLADDER_CSRF_TRUSTED_ORIGINS="
            "https://go.example.com", id="yesladder.E003",
        ))  # fmt: skip
    base = urlsplit(settings.BASE_URL)
    if base.scheme != "https" or not base.hostname:
        found.append(checks.Error(
            "YESLADDER_BASE_URL is " + (f"{settings.BASE_URL!r}, not https" if settings.BASE_URL
                                        else "not set") + ": links in emails would point "
            "elsewhere or travel unencrypted.",
            hint="Set the public address, e.g. YESLADDER_BASE_URL=https://go.example.com",
            id="yesladder.E004",
        ))  # fmt: skip
    elif base.hostname not in settings.ALLOWED_HOSTS:
        found.append(checks.Error(
            f"YESLADDER_BASE_URL's host {base.hostname} is not in YESLADDER_ALLOWED_HOSTS: "
            "every link in an email would answer 400.",
            hint=f"Add it: YESLADDER_ALLOWED_HOSTS={base.hostname},127.0.0.1",
            id="yesladder.E005",
        ))  # fmt: skip
    if not settings.HTTPS:
        found.append(checks.Error(
            "YESLADDER_HTTPS is off: cookies are sent without Secure, no HSTS, no redirect "
            "to https.",
            hint="Serve behind a TLS proxy (docs/deploy.md, Caddy) and set YESLADDER_HTTPS=true "
            "and YESLADDER_TRUSTED_PROXIES=1.", id="yesladder.E006",
        ))  # fmt: skip
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2] if "." in settings.EMAIL_BACKEND else ""
    if backend in NOT_DELIVERED:
        found.append(checks.Error(
            f"Emails are not delivered: the {backend} backend keeps them"
            + (f" as files in {settings.EMAIL_FILE_PATH}" if backend == "filebased" else "")
            + ".",
            hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, "
            "EMAIL_USE_TLS=true), or YESLADDER_EMAIL_BACKEND for a provider (django-anymail).",
            id="yesladder.E007",
        ))  # fmt: skip
    if settings.PAYMENTS == "test":
        found.append(checks.Error(
            "YESLADDER_PAYMENTS=test: the built-in test provider takes no money.",
            hint="Use YESLADDER_PAYMENTS=stripe with its two secrets.", id="yesladder.E008",
        ))  # fmt: skip
    if not settings.METRICS_TOKEN:
        found.append(checks.Warning(
            "YESLADDER_METRICS_TOKEN is not set: /metrics is off.",
            hint="Set a long random token and give it to Prometheus (docs/deploy.md).",
            id="yesladder.W001",
        ))  # fmt: skip
    if not settings.BACKUP_EVERY:
        found.append(checks.Warning(
            "No scheduled backups (YESLADDER_BACKUP_EVERY is not set).",
            hint="Set YESLADDER_BACKUP_EVERY=1d and copy YESLADDER_BACKUP_DIR off the machine; "
            "or run `yesladder backup` from cron.", id="yesladder.W002",
        ))  # fmt: skip
    return found


def _data_directory_checks() -> list[checks.CheckMessage]:
    home = settings.HOME
    if not os.access(home, os.W_OK):
        return [checks.Error(
            f"The data directory {home} is not writable by this user.",
            hint="chown it to the service's user (yesladder) or set YESLADDER_HOME.",
            id="yesladder.E011",
        )]  # fmt: skip
    free = shutil.disk_usage(home).free
    if free < MIN_FREE_BYTES:
        return [checks.Error(
            f"The disk of {home} has {free / 2**20:,.0f} MB free.",
            hint=f"Keep at least {MIN_FREE_BYTES // 2**30} GB free: the database grows with "
            "every event and backups need room.", id="yesladder.E012",
        )]  # fmt: skip
    return []


def _database_checks() -> list[checks.CheckMessage]:
    if not health.migrations_applied():
        return [checks.Error(
            "The database's tables are not up to date (migrations not applied).",
            hint="Run `yesladder migrate`.", id="yesladder.E013",
        )]  # fmt: skip
    found = _payment_checks()
    vitals = health.vitals()
    if vitals.worker_tick is None:
        found.append(checks.Warning(
            "No worker has run yet: follow-up emails, webhooks, charges and backups wait "
            "for one.", hint="Start `yesladder worker` (the yesladder-worker service).",
            id="yesladder.W003",
        ))  # fmt: skip
    elif vitals.worker_late:
        found.append(checks.Error(
            f"The worker last went round {vitals.worker_seconds / 60:,.1f} minutes ago.",
            hint="Look at `journalctl -u yesladder-worker`; restart it.", id="yesladder.E014",
        ))  # fmt: skip
    if settings.CLICKHOUSE is not None:
        found += _store_checks()
    return found


def _payment_checks() -> list[checks.CheckMessage]:
    from yesladder.funnels.models import Funnel, current_version

    selling = [f.key for f in Funnel.objects.all() if _sells(current_version(f.key))]
    if not selling:
        return []
    if not settings.PAYMENTS:
        return [checks.Warning(
            f"Funnels with a paid offer ({', '.join(selling[:3])}) take no money: "
            "YESLADDER_PAYMENTS is not set.", hint="Set YESLADDER_PAYMENTS=stripe, "
            "YESLADDER_STRIPE_SECRET_KEY and YESLADDER_STRIPE_WEBHOOK_SECRET.",
            id="yesladder.W004",
        )]  # fmt: skip
    secrets = {"YESLADDER_STRIPE_SECRET_KEY": settings.STRIPE_SECRET_KEY,
               "YESLADDER_STRIPE_WEBHOOK_SECRET": settings.STRIPE_WEBHOOK_SECRET}  # fmt: skip
    missing = [name for name, value in secrets.items() if not value]
    if settings.PAYMENTS == "stripe" and missing:
        return [checks.Error(
            f"Funnels with a paid offer ({', '.join(selling[:3])}) need {' and '.join(missing)}.",
            hint="Copy them from Stripe's dashboard: the API key (sk_live_...) and the webhook "
            "endpoint https://<host>/webhooks/stripe/ signing secret (whsec_...).",
            id="yesladder.E015",
        )]  # fmt: skip
    return []


def _sells(version) -> bool:
    """An offer always asks for money (a price, a trial, instalments); a checkout when priced."""
    return version is not None and any(
        step.kind == "offer" or (step.kind == "checkout" and getattr(step, "price", None))
        for step in version.spec.steps
    )


def _store_checks() -> list[checks.CheckMessage]:
    from yesladder.warehouse.client import WarehouseError, connect, run, shards

    try:
        for shard in shards(settings.CLICKHOUSE):
            run(connect(shard, database=False), shard, "SELECT 1")
    except WarehouseError as exc:
        return [checks.Error(
            str(exc),
            hint="Start it, or unset YESLADDER_CLICKHOUSE_URL (reports then come from the "
            "primary database).", id="yesladder.E016",
        )]  # fmt: skip
    return []
