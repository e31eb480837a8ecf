"""THREATS.md row 22: a webhook URL never reaches loopback, private or link-local networks (the
cloud metadata address above all) unless the operator allows it; checked at delivery time,
against every address the name resolves to; the connection goes to the address checked; no
redirect is followed. Every connection attempt the tests make is recorded, and only loopback
ones go through: nothing leaves the machine."""

import datetime as dt
import ipaddress
import re
import socket
import ssl

import pytest
from django.core.management.base import CommandError

from tests.test_crm_webhooks import Receiver, hooks_command
from yesladder.automation import egress, hooks
from yesladder.automation.models import Hook, HookDelivery

PUBLIC = "93.184.215.14"  # what crm.example.com resolves to in these tests, until it changes


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket tries to connect to; only loopback ones are really connected."""
    seen = []
    real = socket.socket.connect

    def connect(sock, address):
        seen.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"the test stopped a connection to {address[0]}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


class FakeDNS:
    """Answers for some names, each lookup taking the next answer (the last one repeats)."""

    def __init__(self):
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def set(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)

    def resolve(self, name: str, port: int) -> list:
        self.lookups.append(name)
        queue = self.answers[name]
        ips = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in ips
        ]


@pytest.fixture
def dns(monkeypatch):
    fake = FakeDNS()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in fake.answers:
            return fake.resolve(host, port)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


@pytest.fixture
def receiver():
    crm = Receiver()
    yield crm
    crm.stop()


def post(url: str, allow_private: bool = False, **kwargs) -> egress.Response:
    return egress.post(url, b"{}", {"Content-Type": "application/json"},
                       allow_private=allow_private, **kwargs)  # fmt: skip


# --- refused before any connection -----------------------------------------------------------


@pytest.mark.parametrize(
    "url, address",
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/", "::1"),
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://127.0.0.1:8000/admin/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),  # short forms and numbers resolve like inet_aton
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://localhost/", "localhost resolves to"),
        ("https://172.16.5.4/", "172.16.5.4"),
        ("https://192.168.1.1/", "192.168.1.1"),
        ("http://100.64.0.1/", "100.64.0.1"),  # carrier-grade NAT
        ("http://224.0.0.1/", "224.0.0.1"),
        ("http://240.0.0.1/", "240.0.0.1"),
        ("http://[::]/", "::"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254"),
        ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254"),  # NAT64
        ("http://[2002:7f00:1::1]/", "127.0.0.1"),  # 6to4
        ("http://[fc00::1]/", "fc00::1"),
        ("http://[fd12:3456::1]/", "fd12:3456::1"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[ff02::1]/", "ff02::1"),
    ],
)
def test_internal_addresses_are_refused_without_a_connection(url, address, connects):
    with pytest.raises(egress.Refused, match=re.escape(address)):
        post(url)
    assert connects == []


@pytest.mark.parametrize(
    "url, message",
    [
        ("file:///etc/passwd", "not an http or https URL"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "not an http or https URL"),
        ("ftp://crm.example.com/", "not an http or https URL"),
        ("//crm.example.com/in", "not an http or https URL"),
        ("http:///in", "no host name"),
        ("http://crm example.com/in", "invalid host name"),
        ("http://[::1/in", "not a valid URL"),
        ("http://crm\x7f.example.com/in", "invalid host name"),
        ("https://crm.example.com@127.0.0.1/", "credentials"),
    ],
)
def test_other_schemes_and_credentials_are_refused(url, message, connects, dns):
    with pytest.raises(egress.Refused, match=message):
        post(url)
    assert connects == [] and dns.lookups == []


def test_public_addresses_pass_the_check():
    for text in ("8.8.8.8", PUBLIC, "2606:4700::1111", "2002:808:808::1", "64:ff9b::808:808"):
        assert egress.why_not_public(ipaddress.ip_address(text)) is None, text


def test_a_name_that_resolves_to_loopback_is_refused(dns, connects):
    dns.set("crm.example.com", ["127.0.0.1"])
    with pytest.raises(egress.Refused, match=r"crm\.example\.com resolves to 127\.0\.0\.1"):
        post("https://crm.example.com/in")
    assert connects == []


def test_one_internal_address_among_public_ones_is_enough_to_refuse(dns, connects):
    dns.set("crm.example.com", [PUBLIC, "2606:4700::1111", "10.1.2.3"])
    with pytest.raises(egress.Refused, match=r"10\.1\.2\.3"):
        post("https://crm.example.com/in")
    assert connects == []


def test_the_connection_goes_to_the_address_checked_not_to_a_second_lookup(dns, connects):
    """DNS rebinding: public for the check, loopback a moment later. The name is looked up
    once and the connection goes to that answer."""
    dns.set("crm.example.com", [PUBLIC], ["127.0.0.1"])
    with pytest.raises(egress.DeliveryFailed, match="the test stopped a connection"):
        post("http://crm.example.com/in")
    assert dns.lookups == ["crm.example.com"]
    assert connects == [PUBLIC]


def test_a_silent_receiver_times_out_as_a_retryable_failure(connects):
    with socket.socket() as silent:  # accepts into its backlog, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(egress.DeliveryFailed, match="TimeoutError|timed out"):
            post(f"http://127.0.0.1:{silent.getsockname()[1]}/", allow_private=True, timeout=0.3)


# --- answers ---------------------------------------------------------------------------------


def test_a_redirect_is_not_followed(receiver, connects):
    receiver.status, receiver.location = 302, "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(egress.DeliveryFailed, match="redirect 302 .*169.254.169.254.* not fol"):
        post(receiver.url, allow_private=True)
    assert len(receiver.requests) == 1
    assert connects == ["127.0.0.1"]


def test_the_answer_read_is_capped(receiver, connects):
    receiver.answer = b"x" * (1024 * 1024)
    answer = post(receiver.url, allow_private=True)
    assert answer.status == 200 and len(answer.body_excerpt) == egress.MAX_RESPONSE_BYTES


def test_https_sends_the_name_for_sni_and_checks_the_certificate_against_it(
    tmp_path, dns, connects, monkeypatch
):
    authority, server_tls, sni = tls_for("crm.example.com", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))
    crm = Receiver(tls=server_tls)
    try:
        dns.set("crm.example.com", ["127.0.0.1"])
        dns.set("other.example.com", ["127.0.0.1"])
        answer = post(f"https://crm.example.com:{crm.port}/in", allow_private=True)
        assert answer.status == 200
        ((path, headers, _),) = crm.requests
        assert path == "/in" and headers["Host"] == f"crm.example.com:{crm.port}"
        assert sni == ["crm.example.com"]
        with pytest.raises(egress.DeliveryFailed, match="certificate"):
            post(f"https://other.example.com:{crm.port}/in", allow_private=True)
        assert len(crm.requests) == 1
    finally:
        crm.stop()


# --- at delivery time ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254"])
def test_a_delivery_to_an_internal_address_is_dead_at_once_with_the_reason(
    host, receiver, connects, settings
):
    settings.HOOKS_ALLOW_PRIVATE = False
    url = receiver.url.replace("127.0.0.1", host)
    Hook.objects.create(url=url, topics=["*"])
    hooks.publish(hooks.LEAD_CREATED, {"email": "ada@example.com"}, key="lead:1")
    assert hooks.deliver_due("w1") == 1
    delivery = HookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (HookDelivery.State.DEAD, 1)
    assert host in delivery.last_error and "allow_private" in delivery.last_error
    assert receiver.requests == [] and connects == []


@pytest.mark.django_db
def test_the_operator_can_allow_private_networks_for_every_hook(receiver, connects, settings):
    settings.HOOKS_ALLOW_PRIVATE = True
    Hook.objects.create(url=receiver.url, topics=["*"])
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    assert hooks.deliver_due("w1") == 1
    assert HookDelivery.objects.get().state == HookDelivery.State.SENT
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_the_address_is_checked_again_at_delivery_not_only_when_saved(receiver, dns, connects):
    """Public when the hook was added; loopback by the time the event goes out."""
    dns.set("crm.example.com", [PUBLIC], ["127.0.0.1"])
    hooks_command("add", f"http://crm.example.com:{receiver.port}/in", "--topic", "*")
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    assert hooks.deliver_due("w1") == 1
    delivery = HookDelivery.objects.get()
    assert delivery.state == HookDelivery.State.DEAD and "127.0.0.1" in delivery.last_error
    assert receiver.requests == [] and connects == []


@pytest.mark.django_db
def test_an_allowed_private_name_is_reached_with_its_own_host_header(receiver, dns, connects):
    dns.set("crm.lan", ["127.0.0.1"])
    Hook.objects.create(url=f"http://crm.lan:{receiver.port}/in", topics=["*"],
                        allow_private=True)  # fmt: skip
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    assert hooks.deliver_due("w1") == 1
    ((_, headers, _),) = receiver.requests
    assert headers["Host"] == f"crm.lan:{receiver.port}"


@pytest.mark.django_db
def test_a_redirecting_crm_is_retried_never_followed(receiver, connects):
    receiver.status, receiver.location = 307, "http://10.0.0.1/"
    Hook.objects.create(url=receiver.url, topics=["*"], allow_private=True)
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    hooks.deliver_due("w1")
    delivery = HookDelivery.objects.get()
    assert (delivery.state, delivery.last_status) == (HookDelivery.State.QUEUED, 307)
    assert "not followed" in delivery.last_error
    assert delivery.due_at > delivery.created_at + dt.timedelta(seconds=59)
    assert connects == ["127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/", "http://[::ffff:a9fe:a9fe]/", "http://[fd00:ec2::254]/"],
)
def test_cloud_metadata_stays_refused_when_private_networks_are_allowed(url, connects):
    with pytest.raises(egress.Refused, match="cloud metadata"):
        post(url, allow_private=True)
    assert connects == []


@pytest.mark.django_db
def test_the_command_never_adds_a_metadata_address():
    with pytest.raises(CommandError, match="cloud metadata"):
        hooks_command("add", "http://169.254.169.254/", "--topic", "*", "--allow-private")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://10.0.0.1/", "http://[::1]/"])
def test_the_command_refuses_internal_addresses_unless_allowed(url, connects):
    with pytest.raises(CommandError, match="--allow-private"):
        hooks_command("add", url, "--topic", "*")
    assert not Hook.objects.exists()
    hooks_command("add", url, "--topic", "*", "--allow-private")
    assert Hook.objects.get().allow_private
    assert connects == []


# --- certificates for the HTTPS receiver -----------------------------------------------------


def tls_for(name: str, folder) -> tuple:
    """A throwaway authority (its certificate file) and a server context holding a certificate
    for `name` signed by it; the list fills with the SNI names clients send."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def certificate(subject, issuer, key, signer, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # OpenSSL checks these against the machine's clock, not the test's (`--clock`
            # moves only Python's): fixed years around any day the suite may run on.
            .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2099, 12, 31, tzinfo=dt.UTC))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("test authority", "test authority", ca_key, ca_key, [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
    ])  # fmt: skip
    leaf = certificate(name, "test authority", key, ca_key, [
        (x509.SubjectAlternativeName([x509.DNSName(name)]), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
    ])  # fmt: skip
    authority = folder / "authority.pem"
    authority.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain, key_file = folder / "server.pem", folder / "server.key"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain, key_file)
    sni: list[str] = []
    server.sni_callback = lambda sock, server_name, context: sni.append(server_name)
    return authority, server, sni
