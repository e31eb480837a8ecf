"""The one way yesladder calls out to an address an operator typed in (THREATS.md row 22: SSRF).

Every outbound POST to a CRM goes through `post`, which
- accepts only http and https URLs, without credentials in them;
- resolves the host name once and refuses if any address it resolves to is loopback, private,
  link-local, unspecified, multicast, reserved or otherwise not public, also when such an
  address hides inside an IPv6 one (::ffff:127.0.0.1, 6to4, NAT64), unless the caller allows
  private networks; cloud metadata addresses (169.254.169.254) are refused even then;
- connects to the address it checked, never to the name again, so a name that resolves to a
  public address for the check and to 127.0.0.1 a moment later (DNS rebinding) cannot move the
  connection; the Host header, TLS SNI and the certificate check still use the name;
- never follows a redirect: a 3xx is a failure that says where it pointed;
- reads at most `MAX_RESPONSE_BYTES` of the answer.

The check runs on every call, so a hook saved while its name pointed somewhere public is
checked again at each delivery.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from yesladder import __version__

MAX_URL_LENGTH = 2000  # Hook.url's column
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = f"yesladder-webhooks/{__version__}"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Prefixes that carry an IPv4 address in their last 32 bits, which a NAT64 gateway forwards to
# (RFC 6052, RFC 8215): judged by that address, public or not, as ipaddress cannot know it.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Cloud metadata services hand out the machine's credentials; no CRM lives there, so they stay
# refused when private networks are allowed (AWS, GCP, Azure, Oracle; AWS over IPv6; Alibaba).
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class EgressError(Exception):
    """Why a POST did not get a 2xx answer."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Refused(EgressError):
    """Policy said no before any connection was made; trying again will not change that."""


class DeliveryFailed(EgressError):
    """The network or the receiver failed (no answer, timeout, a non-2xx); worth a retry."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Response:
    status: int
    body_excerpt: str


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Target:
    """The parts `post` needs, or Refused with what is wrong: also the check at the edge."""
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unclosed [ of an IPv6 address, say
        raise Refused(f"{url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise Refused(f"{url!r} is not an http or https URL")
    if not parts.hostname:
        raise Refused(f"{url!r} has no host name")
    if not parts.hostname.isprintable() or " " in parts.hostname:
        raise Refused(f"{url!r} has an invalid host name")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not sent; put a token in the path instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused(f"{url!r} has an invalid port") from None
    # http.client sends the path as it is and refuses anything not ASCII.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(parts.scheme, parts.hostname, port, path)


def why_not_public(ip: IPAddress) -> str | None:
    """What makes an address one a webhook may not reach by default, or None if it is public.
    An IPv6 address that carries an IPv4 one is judged by the IPv4 address it reaches."""
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if inner is None:
        return _why_not_public(ip)
    reason = _why_not_public(inner)
    return reason and f"an IPv6 form of {inner}, {reason}"


def _why_not_public(ip: IPAddress) -> str | None:
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _metadata(ip: IPAddress) -> str | None:
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    reason = "a cloud metadata address, which no hook may reach"
    if inner in METADATA:
        return f"an IPv6 form of {inner}, {reason}"
    return reason if ip in METADATA else None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    inner = ip.ipv4_mapped or ip.sixtofour
    if inner is None and any(ip in prefix for prefix in _NAT64):
        inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return inner


def resolve(target: Target, *, allow_private: bool) -> list[tuple[int, tuple]]:
    """Every (family, socket address) the host resolves to, each one checked; Refused if any
    is not public and private networks are not allowed, DeliveryFailed if the name does not
    resolve (DNS may come back)."""
    try:
        found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryFailed(f"cannot resolve {target.host}: {exc}") from None
    addresses = []
    for family, _, _, _, sockaddr in found:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])  # drop an IPv6 zone
        reason = _metadata(ip) or (None if allow_private else why_not_public(ip))
        if reason:
            what = f"{ip} is" if target.host == str(ip) else f"{target.host} resolves to {ip},"
            raise Refused(
                f"{what} {reason}; a hook reaches private networks only with allow_private "
                "(or YESLADDER_HOOKS_ALLOW_PRIVATE)"
            )
        addresses.append((family, sockaddr))
    if not addresses:
        raise DeliveryFailed(f"{target.host} resolves to no address")
    return addresses


def post(
    url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float = 10
) -> Response:
    """POST `body` to `url` under the rules above; a 2xx answer, else Refused or DeliveryFailed."""
    target = parse_url(url)
    addresses = resolve(target, allow_private=allow_private)
    started = time.monotonic()
    connection = _connection(target, addresses, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=_with_defaults(headers))
        answer = connection.getresponse()
        excerpt = _read_capped(answer, started + timeout)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"{target.host}: {exc or type(exc).__name__}") from None
    finally:
        connection.close()
    if 300 <= answer.status < 400:
        where = answer.getheader("Location", "")[:200]
        raise DeliveryFailed(f"redirect {answer.status} to {where!r} not followed", answer.status)
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"HTTP {answer.status}: {excerpt[:200]}", answer.status)
    return Response(answer.status, excerpt)


def _with_defaults(headers: dict[str, str]) -> dict[str, str]:
    given = {name.lower() for name in headers}
    defaults = {"User-Agent": USER_AGENT, "Connection": "close"}
    return {**{k: v for k, v in defaults.items() if k.lower() not in given}, **headers}


def _read_capped(answer: http.client.HTTPResponse, deadline: float) -> str:
    """At most MAX_RESPONSE_BYTES, and no longer than the deadline: a receiver dripping its
    answer byte by byte cannot hold a worker."""
    chunks, size = [], 0
    while size < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
        chunk = answer.read1(MAX_RESPONSE_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _connection(
    target: Target, addresses: list[tuple[int, tuple]], timeout: float
) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPS(target.host, target.port, timeout, addresses)
    return _PinnedHTTP(target.host, target.port, timeout, addresses)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the addresses that were checked, whatever the name resolves to by now."""

    def __init__(self, host: str, port: int, timeout: float, addresses: list[tuple[int, tuple]]):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _open(self.addresses, self.timeout)


class _PinnedHTTPS(_PinnedHTTP):
    default_port = 443  # so the Host header leaves out :443, as a browser's would

    def connect(self) -> None:
        super().connect()
        # A fresh context per call picks up the system's (or SSL_CERT_FILE's) current roots.
        tls = ssl.create_default_context()
        self.sock = tls.wrap_socket(self.sock, server_hostname=self.host)


def _open(addresses: list[tuple[int, tuple]], timeout: float) -> socket.socket:
    """A TCP connection to the first checked address that answers."""
    error = OSError("no address to connect to")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error
