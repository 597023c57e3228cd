import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from event_triggers.errors import InvalidField
from event_triggers.security import ssrf
from event_triggers.security.ssrf import (
    DestinationPolicy,
    DestinationRefused,
    GuardedTransport,
    classify_address,
)

REFUSED = [
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("100::1", "discard"),
    ("2001:db8::1", "documentation"),
    ("fc00::1", "unique-local"),
    ("fd12:3456:789a::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "ipv4-mapped:loopback"),
    ("::ffff:169.254.169.254", "ipv4-mapped:link-local"),
    ("::ffff:10.1.2.3", "ipv4-mapped:private"),
    ("::127.0.0.1", "ipv4-compatible:loopback"),
    ("::10.0.0.1", "ipv4-compatible:private"),
    ("2002:7f00:1::", "6to4:loopback"),
    ("2002:a9fe:a9fe::1", "6to4:link-local"),
    ("64:ff9b::7f00:1", "nat64:loopback"),
    ("64:ff9b::c0a8:101", "nat64:private"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo:documentation"),  # client 192.0.2.45, XOR-ed
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.169.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81b::200e",
    "::ffff:8.8.8.8",
    "2002:0808:0808::1",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize(("address", "range_name"), REFUSED)
def test_refused_addresses_name_their_range(address, range_name):
    assert classify_address(address) == range_name
    with pytest.raises(DestinationRefused) as raised:
        DestinationPolicy().check_address(address)
    assert raised.value.range_name == range_name
    assert raised.value.field == "url"


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert classify_address(address) is None
    DestinationPolicy().check_address(address)


def test_allowlist_permits_listed_networks_only():
    policy = DestinationPolicy(["127.0.0.0/8", "10.1.2.0/24"])
    policy.check_address("127.0.0.1")
    policy.check_address("::ffff:127.0.0.1")
    policy.check_address("10.1.2.3")
    with pytest.raises(DestinationRefused, match="private"):
        policy.check_address("10.1.3.1")
    with pytest.raises(DestinationRefused, match="loopback"):
        policy.check_address("::1")


def test_invalid_allowlist_entry_is_named():
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not a CIDR network"):
        DestinationPolicy(["10.0.0.0/33"])


@pytest.mark.parametrize(
    ("url", "range_name"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:169.254.169.254]/", "ipv4-mapped:link-local"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "loopback"),
        ("http://localhost:9000/", "loopback"),
        ("http://LOCALHOST./", "loopback"),
        ("http://api.localhost/", "loopback"),
    ],
)
def test_url_literals_are_refused_when_saved(url, range_name):
    with pytest.raises(DestinationRefused) as raised:
        DestinationPolicy().check_url_literal(url)
    assert raised.value.range_name == range_name


@pytest.mark.parametrize("url", ["https://hooks.example.com/x", "http://8.8.8.8/", "https://[2606:4700::1]/"])
def test_public_or_named_urls_pass_when_saved(url):
    DestinationPolicy().check_url_literal(url)


def test_allowlisted_literals_and_localhost_pass_when_saved():
    policy = DestinationPolicy(["127.0.0.0/8"])
    policy.check_url_literal("http://127.0.0.1:8080/")
    policy.check_url_literal("http://localhost:8080/")


@pytest.mark.parametrize("url", ["http:///path", "http://[::1/"])
def test_urls_without_a_usable_host_are_invalid(url):
    with pytest.raises(InvalidField) as raised:
        DestinationPolicy().check_url_literal(url)
    assert raised.value.field == "url"


async def test_resolve_and_check_refuses_if_any_address_is_refused(monkeypatch):
    async def mixed_answer(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.5"]

    monkeypatch.setattr(ssrf, "resolve_host", mixed_answer)
    with pytest.raises(DestinationRefused, match=r"hooks\.example\.com \(10\.0\.0\.5\).*private"):
        await DestinationPolicy().resolve_and_check("hooks.example.com", 443)


async def test_resolve_and_check_returns_the_first_address(monkeypatch):
    async def public_answer(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    monkeypatch.setattr(ssrf, "resolve_host", public_answer)
    assert await DestinationPolicy().resolve_and_check("hooks.example.com", 443) == "93.184.215.14"


# --- GuardedTransport against real loopback servers -------------------------------------------------


@dataclass
class LoopbackServer:
    port: int
    seen: list[dict[str, str]] = field(default_factory=list)


async def _answer(server: LoopbackServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Minimal HTTP/1.1: record the Host header and the local address a request arrived at."""
    head = await reader.readuntil(b"\r\n\r\n")
    header_lines = (line.partition(":") for line in head.decode().split("\r\n")[1:])
    headers = {name.lower(): value.strip() for name, _, value in header_lines}
    server.seen.append({"host": headers.get("host", ""), "local": writer.get_extra_info("sockname")[0]})
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def loopback_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[LoopbackServer]:
    state = LoopbackServer(port=0)
    servers = [await asyncio.start_server(lambda r, w: _answer(state, r, w), "127.0.0.1", 0, ssl=ssl_context)]
    state.port = servers[0].sockets[0].getsockname()[1]
    with contextlib.suppress(OSError):  # also on ::1 when the host has IPv6, for "localhost"
        servers.append(await asyncio.start_server(lambda r, w: _answer(state, r, w), "::1", state.port))
    try:
        yield state
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


def guarded_client(allowlist: list[str], *, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    transport = GuardedTransport(DestinationPolicy(allowlist), httpx.AsyncHTTPTransport(verify=verify))
    return httpx.AsyncClient(transport=transport, timeout=5)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_transport_refuses_loopback_destinations(host):
    async with loopback_server() as server, guarded_client([]) as client:
        with pytest.raises(DestinationRefused, match="loopback"):
            await client.get(f"http://{host}:{server.port}/hook")
        assert server.seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_transport_allows_allowlisted_loopback(host):
    async with loopback_server() as server, guarded_client(["127.0.0.0/8", "::1/128"]) as client:
        response = await client.get(f"http://{host}:{server.port}/hook")
        assert response.status_code == 200
        assert response.request.url.host == host
        assert server.seen[0]["host"] == f"{host}:{server.port}"


async def test_public_looking_hostname_resolving_to_a_private_address_is_refused(monkeypatch):
    async def rebinding_resolver(host: str, port: int) -> list[str]:
        return ["192.168.0.10"]

    monkeypatch.setattr(ssrf, "resolve_host", rebinding_resolver)
    async with guarded_client([]) as client:
        with pytest.raises(DestinationRefused, match=r"hooks\.example\.com \(192\.168\.0\.10\).*private"):
            await client.post("http://hooks.example.com/hook", json={"a": 1})


async def test_connection_goes_to_the_checked_address_with_the_original_host_header(monkeypatch):
    """``rebind.invalid`` has no DNS record: the request can only arrive if the transport connected to
    the address the policy checked, rather than resolving again."""
    resolved: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "resolve_host", resolver)
    async with loopback_server() as server, guarded_client(["127.0.0.0/8"]) as client:
        response = await client.get(f"http://rebind.invalid:{server.port}/hook")
        assert response.status_code == 200
        assert resolved == ["rebind.invalid"]
        assert server.seen == [{"host": f"rebind.invalid:{server.port}", "local": "127.0.0.1"}]


async def test_unresolvable_host_is_a_connect_error(monkeypatch):
    async def no_answer(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(ssrf, "resolve_host", no_answer)
    async with guarded_client([]) as client:
        with pytest.raises(httpx.ConnectError, match="cannot resolve nowhere.invalid"):
            await client.get("http://nowhere.invalid/")


def _self_signed(hostname: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str | None]]:
    """(server context with a certificate for ``secure.test`` that records the SNI names it is
    offered, client context trusting only that certificate, the recorded names)."""
    certificate_pem, key_pem = _self_signed("secure.test")
    directory = tmp_path_factory.mktemp("tls")
    (directory / "cert.pem").write_bytes(certificate_pem)
    (directory / "key.pem").write_bytes(key_pem)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    offered_names: list[str | None] = []
    server_context.sni_callback = lambda _ssl_object, name, _context: offered_names.append(name)
    client_context = ssl.create_default_context(cadata=certificate_pem.decode())
    return server_context, client_context, offered_names


@pytest.mark.parametrize("hostname", ["secure.test", "other.test"])
async def test_tls_uses_the_original_hostname_for_sni_and_certificate_checks(
    monkeypatch, tls_contexts, hostname
):
    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "resolve_host", resolver)
    server_context, client_context, offered_names = tls_contexts
    offered_names.clear()
    async with (
        loopback_server(server_context) as server,
        guarded_client(["127.0.0.0/8"], verify=client_context) as client,
    ):
        if hostname == "secure.test":
            response = await client.get(f"https://secure.test:{server.port}/hook")
            assert response.status_code == 200
            assert server.seen == [{"host": f"secure.test:{server.port}", "local": "127.0.0.1"}]
            assert offered_names == ["secure.test"]
        else:  # the certificate names secure.test: connecting by IP must not make other.test pass
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://other.test:{server.port}/hook")
            assert offered_names == ["other.test"]
