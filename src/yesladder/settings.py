"""The one settings module. Every knob is an environment variable (see docs/configuration.md).

The embedded default needs nothing: one SQLite file in the data directory `YESLADDER_HOME`
(default `./.yesladder`). `DATABASE_URL` switches to PostgreSQL for production.
"""

import os
import re
import secrets
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from yesladder.env import (
    bad,
    env_bool,
    env_choice,
    env_dotted,
    env_duration,
    env_emails,
    env_int,
    env_list,
    env_log_level,
    env_networks,
    env_origins,
    env_pair,
    env_path,
    env_seconds,
    env_sender,
    env_str,
    env_url,
)
from yesladder.warehouse import config as warehouse_config

HOME = env_path("YESLADDER_HOME", ".yesladder")


def _usable_home() -> None:
    """The data directory exists (made if need be) and takes files: else one line naming it."""
    try:
        HOME.mkdir(parents=True, exist_ok=True)
        probe = HOME / f".writable-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise bad("YESLADDER_HOME", str(HOME), f"cannot be used as the data directory "
                  f"({exc.strerror or exc})", "./.yesladder") from None  # fmt: skip


_usable_home()


def _secret_key() -> str:
    """The key from the environment, else one generated once into the data directory."""
    given = env_str("YESLADDER_SECRET_KEY")
    if given:
        return given
    key_file = HOME / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()


def _clickhouse(url: str, cluster: str):
    timeouts = {
        # Seconds, not minutes: a server that is down, frozen or speaks another protocol is
        # given up quickly (the worker tries again at its next round).
        "connect_timeout": env_seconds("YESLADDER_CLICKHOUSE_CONNECT_TIMEOUT", 3, 0.1, 300),
        "timeout": env_seconds("YESLADDER_CLICKHOUSE_TIMEOUT", 10, 0.1, 3600),
    }
    try:
        return warehouse_config.parse(url, cluster, **timeouts)
    except warehouse_config.ConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from None


DEBUG = env_bool("YESLADDER_DEBUG", False)
ALLOWED_HOSTS = env_list("YESLADDER_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_origins("YESLADDER_CSRF_TRUSTED_ORIGINS", "https://go.example.com")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # its API docs page from our own static files, never a CDN
    "yesladder.team",
    "yesladder.funnels",
    "yesladder.leads",
    "yesladder.tracking",
    "yesladder.steps",
    "yesladder.scheduling",
    "yesladder.offers",
    "yesladder.automation",
    "yesladder.analytics",
    "yesladder.experiments",
    "yesladder.dashboard",
    "yesladder.demo",
    "yesladder.warehouse",
]

MIDDLEWARE = [
    "yesladder.tracking.middleware.tracking_preflight",
    "django.middleware.security.SecurityMiddleware",
    "yesladder.security.content_security_policy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sessions, sign-in and messages are skipped on the visitor's pages (steps.middleware).
    "yesladder.steps.middleware.StaffSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "yesladder.steps.middleware.StaffAuthenticationMiddleware",
    "yesladder.steps.middleware.StaffMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "yesladder.urls"
WSGI_APPLICATION = "yesladder.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # A user's own templates folder comes first so any page can be overridden.
        "DIRS": [
            p for p in [env_path("YESLADDER_TEMPLATES", str(HOME / "templates"))] if p.is_dir()
        ],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

SQLITE_PATH = HOME / "yesladder.sqlite3"
DATABASE_URL = env_str("DATABASE_URL")


def _postgres(url: str) -> dict:
    """DATABASE_URL as Django's settings; one line naming it when it is not a PostgreSQL URL
    (its password never shown)."""
    example = "postgres://user:password@db.internal:5432/yesladder"
    shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:…@", url)
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        raise bad("DATABASE_URL", shown, "is not a PostgreSQL URL (postgres://…; unset it for "
                  "the embedded SQLite file)", example)  # fmt: skip
    try:
        found = dj_database_url.parse(url, conn_max_age=60)
    except ValueError as exc:
        raise bad("DATABASE_URL", shown, f"cannot be read ({exc})", example) from None
    if not found.get("NAME"):
        raise bad("DATABASE_URL", shown, "names no database", example)
    return found


if DATABASE_URL:
    DATABASES = {"default": _postgres(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "yesladder.sqlite_backend",
            "NAME": SQLITE_PATH,
            # Kept open as on PostgreSQL: opening the file and its four PRAGMAs cost more than
            # a small request's own queries (docs/benchmarks.md, "The outbox").
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two writers queue on the busy
                # timeout instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("YESLADDER_SQLITE_TIMEOUT", 20, minimum=1),
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA temp_store=MEMORY;"
                ),
            },
            "TEST": {"NAME": str(HOME / "test.sqlite3")},
        }
    }
EMBEDDED = not DATABASE_URL

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from the finders until collectstatic runs
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# A user's own static folder comes first too: HOME/theme/yesladder/ladder.css replaces ours.
STATICFILES_DIRS = [p for p in [env_path("YESLADDER_STATIC", str(HOME / "theme"))] if p.is_dir()]

# Files the funnels deliver (lead magnets, videos), copied here when a funnel is loaded.
ASSETS_ROOT = HOME / "assets"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
HTTPS = env_bool("YESLADDER_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS

# How many reverse proxies in front of yesladder add to X-Forwarded-For (0: trust none of it).
TRUSTED_PROXIES = env_int("YESLADDER_TRUSTED_PROXIES", 0, minimum=0)
# Per-address limits on what a stranger can make the pages do (see docs/configuration.md).
RATE_LIMITS = env_bool("YESLADDER_RATE_LIMITS", True)
LIMIT_OPTINS_PER_HOUR = env_int("YESLADDER_LIMIT_OPTINS_PER_HOUR", 20, minimum=1)
LIMIT_ANSWERS_PER_HOUR = env_int("YESLADDER_LIMIT_ANSWERS_PER_HOUR", 300, minimum=1)
LIMIT_EMAILS_PER_HOUR = env_int("YESLADDER_LIMIT_EMAILS_PER_HOUR", 5, minimum=1)
LIMIT_REFERRALS_PER_HOUR = env_int("YESLADDER_LIMIT_REFERRALS_PER_HOUR", 10, minimum=1)
LIMIT_TOKEN_MISSES_PER_HOUR = env_int("YESLADDER_LIMIT_TOKEN_MISSES_PER_HOUR", 30, minimum=1)
# The tracking API's budgets, per web process: a site's whole stream, and each visitor's
# (PostHog's figures: bursts of 1,000, then 100 a second).
API_EVENTS_PER_SECOND = env_int("YESLADDER_API_EVENTS_PER_SECOND", 1000, minimum=1)
API_BURST = env_int("YESLADDER_API_BURST", 10_000, minimum=1)
API_VISITOR_EVENTS_PER_SECOND = env_int("YESLADDER_API_VISITOR_EVENTS_PER_SECOND", 100, minimum=1)
API_VISITOR_BURST = env_int("YESLADDER_API_VISITOR_BURST", 1000, minimum=1)

# Email: SMTP when EMAIL_HOST is set; otherwise each message is written as a file into
# HOME/mail, so the embedded default never loses a message it could not send.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587 if env_bool("EMAIL_USE_TLS", False) else 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_BACKEND = env_dotted(
    "YESLADDER_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = HOME / "mail"
DEFAULT_FROM_EMAIL = env_sender("YESLADDER_FROM_EMAIL", "yesladder <noreply@localhost>")
# Where links in emails point (https://funnels.example.com); else the address the visitor used.
BASE_URL = env_url("YESLADDER_BASE_URL", "https://go.example.com")

# Payments: "" (offers show their schedule but take no money), "stripe", or "test" (the
# built-in provider for the demo and the tests: a page with a Pay and a Decline button).
PAYMENTS = env_choice("YESLADDER_PAYMENTS", ("", "stripe", "test"))
STRIPE_SECRET_KEY = env_str("YESLADDER_STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("YESLADDER_STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_url(
    "YESLADDER_STRIPE_API_BASE", "http://127.0.0.1:12111"
)  # only to point tests at a local stub

# Background work (the outbox, CRM webhooks, timed automations) is claimed from its tables by
# `yesladder worker`; `yesladder serve` starts one beside itself when embedded.
# How long a worker may hold a claimed message before another one takes it over (a killed
# worker's claims come back after this); tries before a message goes to the dead letters.
OUTBOX_LEASE_SECONDS = env_int("YESLADDER_OUTBOX_LEASE_SECONDS", 120, minimum=1)
OUTBOX_MAX_ATTEMPTS = env_int("YESLADDER_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
OUTBOX_RETRY_SECONDS = env_int("YESLADDER_OUTBOX_RETRY_SECONDS", 60, minimum=1)
WORKER_INTERVAL_MS = env_int("YESLADDER_WORKER_INTERVAL_MS", 200, minimum=10)

# The optional ClickHouse analytics store (docs/scale.md): None when not configured.
CLICKHOUSE = _clickhouse(
    env_str("YESLADDER_CLICKHOUSE_URL"), env_str("YESLADDER_CLICKHOUSE_CLUSTER")
)
CLICKHOUSE_SHIP_SECONDS = env_int("YESLADDER_CLICKHOUSE_SHIP_SECONDS", 5, minimum=1)
# The dashboard's reports come from the store while it is at most this far behind the log.
CLICKHOUSE_MAX_LAG_SECONDS = env_int("YESLADDER_CLICKHOUSE_MAX_LAG_SECONDS", 120, minimum=0)
# Who gets `notify` actions (the team), besides any `team:` a funnel names.
TEAM_EMAILS = env_emails("YESLADDER_TEAM_EMAILS", "sales@example.com,founder@example.com")
# CRM webhooks may reach loopback and private networks only when the operator says so.
HOOKS_ALLOW_PRIVATE = env_bool("YESLADDER_HOOKS_ALLOW_PRIVATE", False)
# Provider bounce and complaint webhooks (docs/automation.md): a shared secret in the URL's
# Basic auth, as django-anymail's tracking webhooks use.
BOUNCE_WEBHOOK_SECRET = env_pair("YESLADDER_BOUNCE_WEBHOOK_SECRET", "postmark:a-long-secret")

LOG_LEVEL = env_log_level("YESLADDER_LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The level sits on the handler too: Django's own loggers (e.g. django.request's
    # "Not Found") reach it through propagation, which skips the root logger's level.
    "handlers": {"console": {"class": "logging.StreamHandler", "level": LOG_LEVEL}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # clickhouse-driver logs a traceback for every connection it could not make; warehouse
    # turns each failure into one line that names the server, so only its errors go through.
    "loggers": {"clickhouse_driver": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "ERROR"}},
}

# --- Operations (issue 34, docs/deploy.md): health, metrics, backups, the TLS proxy, errors ---
INSTALLED_APPS.append("yesladder.operations")
# The request's id first (every log line of the request carries it), then the metrics, which
# time everything the others do (static files included); then the proxy's
# headers are dropped unless a trusted proxy sent them, before anything reads them.
MIDDLEWARE[:0] = [
    "yesladder.operations.logs.request_id",
    "yesladder.operations.middleware.request_metrics",
    "yesladder.security.trusted_proxy_headers",
]
# Whose X-Forwarded-For and X-Forwarded-Proto are believed: the TLS proxy's own addresses.
TRUSTED_PROXY_ADDRESSES = env_networks("YESLADDER_TRUSTED_PROXY_ADDRESSES", "127.0.0.1,::1")
if HTTPS:
    # The proxy ends TLS and says so in X-Forwarded-Proto. A plain-http request that reaches
    # the server itself is sent to https, except the probes and Prometheus on loopback.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
    SECURE_HSTS_SECONDS = env_int("YESLADDER_HSTS_SECONDS", 31_536_000, minimum=0)
# /metrics answers only with `Authorization: Bearer <this>`; without it, /metrics is off.
METRICS_TOKEN = env_str("YESLADDER_METRICS_TOKEN")
# Backups (`yesladder backup`, and the worker's when BACKUP_EVERY is set): where, how often,
# how many to keep.
BACKUP_DIR = env_path("YESLADDER_BACKUP_DIR", str(HOME / "backups"))
BACKUP_EVERY = env_duration("YESLADDER_BACKUP_EVERY")
BACKUP_KEEP = env_int("YESLADDER_BACKUP_KEEP", 7, minimum=1)
# Errors to Sentry with personal data scrubbed (operations.errors); logs as JSON lines.
SENTRY_DSN = env_str("SENTRY_DSN")
LOG_FORMAT = env_choice("YESLADDER_LOG_FORMAT", ("text", "json"))
if LOG_FORMAT == "json":
    LOGGING["formatters"] = {"json": {"()": "yesladder.operations.logs.JsonLines"}}
    LOGGING["filters"] = {"request_id": {"()": "yesladder.operations.logs.RequestId"}}
    LOGGING["handlers"]["console"].update(formatter="json", filters=["request_id"])
