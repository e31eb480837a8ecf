"""Typed readers for environment variables that fail loudly on bad values.

Settings are read once at start-up; a typo in a deployment must stop the process with a message
that names the variable, never fall back silently to a default.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of: 1, 0, true, false, yes, no, on, off"
    )


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
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
        raise ImproperlyConfigured(
            f"{name}={value!r} must be a number of seconds from {minimum:g} to {maximum:g}, "
            f"e.g. {name}={default:g}"
        )
    return number


def env_choice(name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; the first is the default (often "", meaning off)."""
    value = env_str(name, choices[0]).lower()
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {allowed}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_path(name: str, default: str) -> Path:
    return Path(env_str(name, default)).expanduser().resolve()
