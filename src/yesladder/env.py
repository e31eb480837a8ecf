"""Typed readers for environment variables that fail loudly on bad values.

Settings are read once at start-up; a typo in a deployment must stop the process with a message
that names the variable, never fall back silently to a default. Every message is one line: the
variable, what is wrong with its value, and an example of a good one (`yesladder` prints it
alone, without a traceback: yesladder.cli).
"""

import ipaddress
import os
import re
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EMAIL = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")
DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def bad(name: str, value: str, problem: str, example: str) -> ImproperlyConfigured:
    """The one-line error for a variable: its value's problem and an example of a good one."""
    return ImproperlyConfigured(f"{name}={value!r} {problem}; e.g. {name}={example}")


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise bad(name, value, "is not a boolean (1, 0, true, false, yes, no, on, off)",
              "true" if not default else "false")  # fmt: skip


def env_int(name: str, default: int, minimum: int | None = None,
            maximum: int | None = None) -> int:  # fmt: skip
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad(name, value, "is not a whole number", str(default)) from None
    if minimum is not None and number < minimum:
        raise bad(name, value, f"is below the minimum of {minimum}", str(default))
    if maximum is not None and number > maximum:
        raise bad(name, value, f"is above the maximum of {maximum}", str(default))
    return number


def env_seconds(name: str, default: float, minimum: float, maximum: float) -> float:
    """A number of seconds (a fraction allowed) within [minimum, maximum]."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not minimum <= number <= maximum:  # also refuses nan and inf
        raise bad(name, value, f"must be a number of seconds from {minimum:g} to {maximum:g}",
                  f"{default:g}")  # fmt: skip
    return number


def env_choice(name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; the first is the default (often "", meaning off)."""
    value = env_str(name, choices[0]).lower()
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise bad(name, value, f"is not one of: {allowed}", next(c for c in choices if c))
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_path(name: str, default: str) -> Path:
    value = env_str(name, default)
    try:
        return Path(value).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise bad(name, value, f"is not a usable path ({exc})", default) from None


def env_url(name: str, example: str, default: str = "") -> str:
    """An http(s) address with a host, without its trailing slash ("" when not set)."""
    value = env_str(name, default).rstrip("/")
    if not value:
        return value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise bad(name, value, f"is not a URL ({exc})", example) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise bad(name, value, "must be an http:// or https:// address with a host", example)
    return value


def env_origins(name: str, example: str) -> list[str]:
    """Comma-separated origins (scheme and host, as browsers send them)."""
    found = env_list(name)
    for origin in found:
        scheme, _, host = origin.partition("://")
        if scheme not in ("http", "https") or not host or "/" in host.rstrip("/"):
            raise bad(name, origin, "is not an origin (http:// or https://, a host, no path)",
                      example)  # fmt: skip
    return found


def env_emails(name: str, example: str) -> list[str]:
    found = env_list(name)
    for address in found:
        if not EMAIL.match(address):
            raise bad(name, address, "is not an email address", example)
    return found


def env_sender(name: str, default: str) -> str:
    """A From: line: an address, optionally with a name ("Team <team@example.com>")."""
    value = env_str(name, default)
    _, address = parseaddr(value)
    if not EMAIL.match(address):
        raise bad(name, value, "is not a sender address", "'Team <team@example.com>'")
    return value


def env_log_level(name: str, default: str) -> str:
    value = env_str(name, default).upper()
    if value not in LOG_LEVELS:
        raise bad(name, value, f"is not a log level ({', '.join(LOG_LEVELS)})", default)
    return value


def env_dotted(name: str, default: str) -> str:
    """A Python path to a class, e.g. anymail.backends.postmark.EmailBackend."""
    value = env_str(name, default)
    if not DOTTED.match(value):
        raise bad(name, value, "is not a Python path to a class",
                  "anymail.backends.postmark.EmailBackend")  # fmt: skip
    return value


def env_pair(name: str, example: str) -> str:
    """`user:password` (both given), or "" when not set."""
    value = env_str(name)
    if value and (":" not in value or not all(value.split(":", 1))):
        raise bad(name, "…", "must be user:password (both given)", example)
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_duration(name: str, default: int = 0) -> int:
    """Seconds, from `90`, `30m`, `6h` or `1d`; 0 (off) when unset."""
    value = env_str(name)
    if not value:
        return default
    number, unit = (value[:-1], value[-1].lower()) if value[-1].isalpha() else (value, "s")
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise bad(name, value, "is not a duration (a whole number with s, m, h or d)", "1d")
    return int(number) * _UNITS[unit]


def env_networks(name: str, default: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or networks, comma-separated: `127.0.0.1,::1`, `10.0.0.0/8`."""
    networks = []
    for item in env_list(name, default.split(",")):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise bad(name, item, "is not an IP address or network", "127.0.0.1,::1") from None
    return networks
