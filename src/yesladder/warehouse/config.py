"""Where the ClickHouse store is: `YESLADDER_CLICKHOUSE_URL` and `YESLADDER_CLICKHOUSE_CLUSTER`,
read once at start-up (pure: no Django, no network).

Accepted addresses (docs/scale.md):
- `clickhouse://[user[:password]@]host[:port]/database` and `clickhouses://...` (TLS): the
  native protocol, port 9000 (9440 with TLS) by default;
- `http://host[:8123]/database` and `https://...[:8443]`, the form of ClickHouse's own HTTP
  interface: the same server is reached on its native port (9000 / 9440), because the client
  speaks the native protocol (the one every supported release shares); add
  `?native_port=N` when the native port is another one.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

NATIVE = {"clickhouse": (9000, False), "clickhouses": (9440, True)}
HTTP = {"http": (9000, False), "https": (9440, True)}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    database: str
    user: str = "default"
    password: str = ""
    secure: bool = False
    cluster: str = ""  # remote_servers name; "" is one server
    connect_timeout: float = 3.0  # seconds to open a connection to one server
    timeout: float = 10.0  # seconds a server may stay silent (no answer, no progress)

    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"


EXAMPLE = "clickhouse://analytics:secret@ch1.internal:9000/yesladder"


def parse(url: str, cluster: str = "", connect_timeout: float = 3.0, timeout: float = 10.0
          ) -> Settings | None:  # fmt: skip
    """The store's settings, None when no URL is set; ConfigError names what is wrong, in one
    line with an example of a good value (the password is never shown)."""
    var = "YESLADDER_CLICKHOUSE_URL"
    if not url:
        if cluster:
            raise ConfigError("YESLADDER_CLICKHOUSE_CLUSTER is set without "
                              f"{var}; e.g. {var}={EXAMPLE}")  # fmt: skip
        return None
    shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:…@", url)

    def wrong(problem: str) -> ConfigError:
        return ConfigError(f"{var}={shown!r} {problem}; e.g. {var}={EXAMPLE}")

    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
    except ValueError as exc:
        raise wrong(f"is not a URL ({exc})") from None
    if scheme not in NATIVE and scheme not in HTTP:
        raise wrong("must start with clickhouse://, clickhouses://, http:// or https://")
    if not host:
        raise wrong("names no host")
    database = parts.path.strip("/") or "yesladder"
    if not NAME.match(database):
        raise wrong(f"names the database {database!r}: use letters, digits and _")
    if cluster and not NAME.match(cluster):
        raise ConfigError(f"YESLADDER_CLICKHOUSE_CLUSTER={cluster!r} must be letters, digits "
                          "and _ (the name under remote_servers); e.g. "
                          "YESLADDER_CLICKHOUSE_CLUSTER=events")  # fmt: skip
    default, secure = NATIVE.get(scheme) or HTTP[scheme]
    try:
        port = parts.port if scheme in NATIVE else None
    except ValueError:
        raise wrong("has a port that is not a number from 1 to 65535") from None
    native = parse_qs(parts.query).get("native_port")
    if native:
        if not native[0].isdigit():
            raise wrong("has a native_port that is not a number from 1 to 65535")
        port = int(native[0])
    port = port or default
    if not 0 < port < 65536:
        raise wrong(f"has port {port}, out of range (1 to 65535)")
    return Settings(
        host=host, port=port, database=database,
        user=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        secure=secure, cluster=cluster, connect_timeout=connect_timeout, timeout=timeout,
    )  # fmt: skip
