"""Destination guard against server-side request forgery.

Subscribers choose the URLs we call, so a subscription must not reach the service's own network
(loopback, private ranges, cloud metadata at 169.254.169.254, ...). URLs with a literal IP are refused
when the subscription is saved; hostnames are resolved at delivery, every resolved address is checked,
and the connection goes to the checked address, so a DNS answer that changes between check and
connect (DNS rebinding) cannot redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection, Sequence
from urllib.parse import SplitResult, urlsplit

import httpx
import idna

from event_triggers.errors import InvalidField

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Order matters: the first matching network names the range (e.g. broadcast before reserved).
_REFUSED_V4: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), name)
    for cidr, name in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "cgnat"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_REFUSED_V6: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), name)
    for cidr, name in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("100::/64", "discard"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCALHOST_NAMES = ("localhost", "localhost.")
_HOST_LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
"""What a DNS label may hold (underscores too: container and service names use them)."""
HOSTNAME_MAX = 253
LABEL_MAX = 63


class DestinationRefused(InvalidField):
    """The destination is in a refused range; saving the subscription answers 400 on ``url``, a
    delivery fails without retrying."""

    def __init__(self, host: str, ip: str, range_name: str) -> None:
        shown = ip if host == ip else f"{host} ({ip})"
        super().__init__("url", f"destination {shown} is in a refused address range: {range_name}")
        self.host = host
        self.ip = ip
        self.range_name = range_name


def _first_match(address: IPAddress, table: tuple[tuple[IPNetwork, str], ...]) -> str | None:
    return next((name for network, name in table if address in network), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address really reaches, with the name of the embedding."""
    if address.ipv4_mapped is not None:
        return "ipv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "teredo", address.teredo[1]
    if address in _NAT64:
        return "nat64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE:
        return "ipv4-compatible", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify_address(ip: str | IPAddress) -> str | None:
    """The name of the refused range ``ip`` falls in, or None for a public address.

    IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, NAT64, Teredo) are judged by that
    IPv4 address, e.g. ``::ffff:127.0.0.1`` -> ``"ipv4-mapped:loopback"``.
    """
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv4Address):
        return _first_match(address, _REFUSED_V4)
    refused = _first_match(address, _REFUSED_V6)
    if refused is not None:
        return refused
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        embedding, ipv4 = embedded
        inner = _first_match(ipv4, _REFUSED_V4)
        return f"{embedding}:{inner}" if inner is not None else None
    return None


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one, including the legacy IPv4 spellings that resolvers
    accept (``2130706433``, ``0x7f.1``), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in resolver order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url_syntax(url: str, *, credentials_allowed: bool = False) -> SplitResult:
    """``url``'s parts, or ``InvalidField("url", reason)`` for a URL no delivery could ever send.

    Such a URL would fail every attempt (the HTTP client or the resolver refuses it) and be retried
    until the delivery window closes, so it is refused when the subscription is saved: unparsable, a
    port outside 1-65535, a host that is no IP address and no valid hostname, and credentials in the
    URL unless ``credentials_allowed`` (HTTP and SQS have fields for them, stored sealed; a URL is
    stored and shown as it is, and HTTP clients log it).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        host = httpx.URL(url).raw_host.decode("ascii")
    except (ValueError, httpx.InvalidURL) as error:
        raise InvalidField("url", f"is not a valid URL: {error}") from None
    if port == 0:
        raise InvalidField("url", "port must be between 1 and 65535")
    if not credentials_allowed and (parts.username is not None or parts.password is not None):
        raise InvalidField(
            "url", "must not carry credentials (user:password@): set them in the authentication fields"
        )
    if host and _literal_address(host) is None:
        problem = _hostname_problem(host)
        if problem is not None:
            raise InvalidField("url", f"host {host!r} is not a valid hostname: {problem}")
    return parts


def _hostname_problem(host: str) -> str | None:
    """Why ``host`` (as httpx gives it: lower case, internationalized names as IDNA A-labels) can never
    resolve, or None."""
    name = host.removesuffix(".").lower()
    if len(name) > HOSTNAME_MAX:
        return f"longer than {HOSTNAME_MAX} characters"
    for label in name.split("."):
        if not label:
            return "it has an empty label"
        if len(label) > LABEL_MAX:
            return f"a label has {len(label)} characters, over DNS's limit of {LABEL_MAX}"
        if not _HOST_LABEL_CHARACTERS.issuperset(label):
            return f"label {label!r} holds characters other than letters, digits, '-' and '_'"
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError as error:
                return f"label {label!r} is not a valid internationalized (IDNA) label: {error}"
    return None


class DestinationPolicy:
    """Which destinations deliveries may reach: everything public, plus the allowlisted networks
    (e.g. ``127.0.0.0/8`` for a dev stack or tests, ``10.1.2.0/24`` for an internal subscriber)."""

    def __init__(self, allowlist: Sequence[str] = ()) -> None:
        networks: list[IPNetwork] = []
        for entry in allowlist:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"destination allowlist: {entry!r} is not a CIDR network") from None
        self._allowlist = tuple(networks)

    def _allowlisted(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate in network
            for candidate in candidates
            for network in self._allowlist
            if candidate.version == network.version
        )

    def check_address(self, ip: str, *, host: str | None = None) -> None:
        """Raise DestinationRefused unless ``ip`` is public or allowlisted."""
        address = ipaddress.ip_address(ip)
        range_name = classify_address(address)
        if range_name is not None and not self._allowlisted(address):
            raise DestinationRefused(host or ip, ip, range_name)

    def check_url_literal(
        self,
        url: str,
        *,
        schemes: Collection[str] = ("http", "https"),
        expected: str = "must be an absolute http or https URL",
        credentials_allowed: bool = False,
    ) -> SplitResult:
        """Check a subscription URL when it is saved and return its parts: refuse what no delivery could
        send (``check_url_syntax``), another scheme than ``schemes`` or no host (``expected`` says what
        is), a literal IP in a refused range and ``localhost``; hostnames are checked at delivery, when
        they are resolved."""
        parts = check_url_syntax(url, credentials_allowed=credentials_allowed)
        host = parts.hostname
        if parts.scheme not in schemes or not host:
            raise InvalidField("url", expected)
        if host in _LOCALHOST_NAMES or host.rstrip(".").endswith(".localhost"):
            if not any(self._allowlisted(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")):
                raise DestinationRefused(host, "127.0.0.1", "loopback")
            return parts
        address = _literal_address(host)
        if address is not None:
            self.check_address(str(address), host=host)
        return parts

    async def resolve_and_check(self, host: str, port: int) -> str:
        """Resolve ``host`` once and return the first address to connect to; refuse when ANY resolved
        address is refused, so an attacker cannot mix a private address into a public answer."""
        literal = _literal_address(host)
        addresses = [str(literal)] if literal is not None else await resolve_host(host, port)
        if not addresses:
            raise OSError(f"{host} did not resolve to any address")
        for address in addresses:
            self.check_address(address, host=host)
        return addresses[0]


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to checked addresses.

    For each request it resolves the host once, checks every address with the policy, and sends the
    request to the checked IP; the ``Host`` header and TLS (SNI and certificate verification) still use
    the original hostname. Connections are pooled per (scheme, IP, port).
    """

    def __init__(self, policy: DestinationPolicy, transport: httpx.AsyncHTTPTransport | None = None) -> None:
        self._policy = policy
        self._transport = transport or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            ip = await self._policy.resolve_and_check(host, port)
        except OSError as error:
            raise httpx.ConnectError(f"cannot resolve {host}: {error}", request=request) from error
        extensions = dict(request.extensions)
        if _literal_address(host) is None:
            extensions["sni_hostname"] = host
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=ip),
            headers=request.headers,  # carries the original Host header
            stream=request.stream,
            extensions=extensions,
        )
        return await self._transport.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._transport.aclose()
