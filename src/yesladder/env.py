"""Typed readers for environment variables that fail loudly on bad values.

Settings are read once at start-up; a typo in a deployment must stop the process with a message
that names the variable, never fall back silently to a default.
"""

import ipaddress
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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_duration(name: str, default: int = 0) -> int:
    """Seconds, from `90`, `30m`, `6h` or `1d`; 0 (off) when unset."""
    value = env_str(name)
    if not value:
        return default
    number, unit = (value[:-1], value[-1].lower()) if value[-1].isalpha() else (value, "s")
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a duration; write a whole number with s, m, h or d, "
            "e.g. 6h or 1d"
        )
    return int(number) * _UNITS[unit]


def env_networks(name: str, default: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or networks, comma-separated: `127.0.0.1,::1`, `10.0.0.0/8`."""
    networks = []
    for item in env_list(name, default.split(",")):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} has {item!r}, which is not an IP address or network; "
                "e.g. 127.0.0.1,::1 or 10.0.0.0/8"
            ) from None
    return networks
