"""The one way a webhook leaves the server: an HTTP POST that cannot be pointed inside.

Destinations are URLs that users type in, so without care a destination could make the
server talk to itself, to the private network behind it, or to a cloud metadata service
(server-side request forgery, SPEC §10 "No SSRF"). The rules:

- Only `http` and `https` URLs.
- The host is resolved at delivery time (every delivery, not only when the destination is
  created), IPv4 and IPv6 alike, and the request is refused if ANY address it resolves to is
  loopback, private (RFC 1918, ULA fc00::/7), link-local, multicast, unspecified, reserved,
  shared address space (100.64.0.0/10), a cloud metadata address, or otherwise not global;
  an IPv4 address wrapped in IPv6 (::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is
  judged by the IPv4 address inside. An IP literal is judged without DNS.
- `--allow-private-destinations` (AddressPolicy.allow_private) lifts all of that; an
  allow-list lifts it for the host names, addresses and networks it names.
- Redirects are never followed: a 3xx comes back to the caller as it is.

Why we connect to the checked address: if the check and the connect each resolved the name,
a name whose DNS answer changes between the two (DNS rebinding: public address first,
127.0.0.1 next) would get through. So the check IS the HTTP library's resolver: aiohttp asks
it for the addresses of every new connection, it resolves the name once, refuses the lot if
any address is refused, and aiohttp connects to exactly the addresses it returned. The
request keeps the original `Host` header, and for https the original name is the TLS server
name, which is also the name the certificate is checked against. Pooled connections are
keyed by host name (and port and TLS settings), so a connection whose certificate was checked
for one name never carries a request for another. A pooled connection goes to an address that
was checked when it was opened; a delivery that needs a new connection resolves and checks
again. IP literals are checked in `post` itself (aiohttp does not ask a resolver for them).

Errors never carry the URL's path, query or userinfo (they often hold tokens, e.g. Slack or
Discord webhook URLs): only the host and port.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Union

import aiohttp
import certifi
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

DEFAULT_TIMEOUT = 10.0
MAX_BODY = 64 * 1024
EXCERPT_BYTES = 1024


class DestinationRefused(Exception):
    """The policy says no (scheme, address, bad URL): retrying soon will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationUnreachable(Exception):
    """A network-level failure (DNS, connect, TLS, timeout, dropped connection): retryable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64 or 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _address_refusal(address: IPAddress) -> str | None:
    inner = _embedded_ipv4(address)
    if inner is not None:
        why = _address_refusal(inner)
        return f"{why} (inside {address})" if why else None
    checks = (
        (address in _METADATA, "a cloud metadata address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in _SHARED, "in the shared address space 100.64.0.0/10"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    for refused, why in checks:
        if refused:
            return f"{address} is {why}"
    return None


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass(frozen=True)
class AddressPolicy:
    """Which destination addresses may be reached (SPEC §10, --allow-private-destinations)."""

    allow_private: bool = False
    allow_list: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allow_list: str | None) -> "AddressPolicy":
        """From the server settings: a comma-separated allow-list of IPs, CIDR networks and
        host names (`*.example.com` for its subdomains); ValueError names a bad entry."""
        entries = tuple(e.strip() for e in (allow_list or "").split(",") if e.strip())
        policy = cls(allow_private=allow_private, allow_list=entries)
        policy._parsed  # noqa: B018 -- parsing now is what raises on a bad entry
        return policy

    @functools.cached_property
    def _parsed(self) -> tuple[tuple[IPNetwork, ...], frozenset[str], tuple[str, ...]]:
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in self.allow_list:
            entry = _normal_host(raw)
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or not _HOST_NAME.match(entry) or entry.replace(".", "").isdigit():
                raise ValueError(f"allow-list entry {raw!r} is not an IP address, a CIDR network "
                                 "or a host name (use *.example.com for subdomains, punycode for "
                                 "non-ASCII names)")
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                names.add(entry)
        return tuple(networks), frozenset(names), tuple(suffixes)

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `host`, resolved to `address`, may not be reached; None when it may."""
        why = _address_refusal(address)
        if why is None or self.allow_private:
            return None
        networks, names, suffixes = self._parsed
        name = _normal_host(host)
        if name in names or name.endswith(suffixes):
            return None
        candidates = [address]
        inner = _embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        if any(a in n for a in candidates for n in networks if a.version == n.version):
            return None
        return f"{host}: {why}"


async def resolve_checked(host: str, port: int, policy: AddressPolicy) -> list[IPAddress]:
    """The addresses `host` resolves to, all of them allowed by `policy`.

    DestinationRefused if any one is refused (a name answering both a public address and
    127.0.0.1 is refused); DestinationUnreachable if the name does not resolve.
    """
    name = _normal_host(host)
    try:
        literal: IPAddress | None = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except UnicodeError:
            raise DestinationRefused(f"{host!r} is not a valid host name") from None
        except OSError:
            raise DestinationUnreachable(f"could not resolve {host}") from None
        addresses = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise DestinationUnreachable(f"could not resolve {host}")
    for address in addresses:
        why = policy.refusal(host, address)
        if why is not None:
            raise DestinationRefused(why)
    return addresses


Resolver = Callable[[str, int, AddressPolicy], Awaitable[list[IPAddress]]]

_DROPPED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
_NUMERIC_HOST = re.compile(r"^[0-9.]+$")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` or the first exception of `kind` among its causes, contexts and os_error."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, kind):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """A destination's answer: status, headers (case-insensitive) and at most 64 KiB of body."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def excerpt(response: OutboundResponse | bytes, limit: int = EXCERPT_BYTES) -> str:
    """At most `limit` bytes of a response body as text (UTF-8, undecodable bytes replaced)."""
    body = response if isinstance(response, bytes) else response.content
    return body[:limit].decode("utf-8", "replace")


class _CheckedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver: the addresses a name resolves to, only once the policy allows them all."""

    def __init__(self, resolve: Resolver, policy: AddressPolicy) -> None:
        self._resolve = resolve
        self._policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[aiohttp.abc.ResolveResult]:
        addresses = await self._resolve(host, port, self._policy)
        return [{"hostname": host, "host": str(address), "port": port,
                 "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for address in addresses]

    async def close(self) -> None:
        pass


class OutboundClient:
    """POSTs to destination URLs under an AddressPolicy; see the module docstring.

    `timeout` (seconds) bounds each whole delivery: resolution, connect, TLS, sending and
    reading the answer. `verify` is True (certifi's CA bundle), False, or an
    ssl.SSLContext. `resolve` is the address check, resolve_checked unless a test replaces it.
    """

    def __init__(self, policy: AddressPolicy | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 verify: ssl.SSLContext | bool = True, max_connections: int = 100,
                 resolve: Resolver = resolve_checked) -> None:
        self.policy = policy or AddressPolicy()
        self.timeout = timeout
        self._resolve = resolve
        self._verify: ssl.SSLContext | bool = (
            verify if isinstance(verify, ssl.SSLContext) or verify is False
            else ssl.create_default_context(cafile=certifi.where()))
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The one session, made inside the running loop on first use."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=_CheckedResolver(self._resolve, self.policy), use_dns_cache=False,
                limit=self._max_connections, ssl=self._verify)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookie is kept from one delivery to the next
                trust_env=False,  # no proxy from the environment, no .netrc
                auto_decompress=False)
        return self._session

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """POST `content` to `url`; the answer (3xx included) with at most 64 KiB of body.

        DestinationRefused: not http(s), no host, or an address the policy refuses.
        DestinationUnreachable: DNS, connect, TLS, timeout or a dropped connection.
        """
        try:
            target = URL(url)
        except (TypeError, ValueError):
            raise DestinationRefused("not a valid URL") from None
        if target.scheme not in ("http", "https"):
            raise DestinationRefused(f"scheme {target.scheme!r} is not allowed: only http and https")
        host = target.raw_host or ""
        if not host:
            raise DestinationRefused("the URL has no host")
        port = target.port or (443 if target.scheme == "https" else 80)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            async with asyncio.timeout(self.timeout):
                await self._check_literal(host, port)
                return await self._send(target, content, headers, where)
        except TimeoutError:
            raise DestinationUnreachable(f"no answer from {where} within {self.timeout:g} s") from None

    async def _check_literal(self, host: str, port: int) -> None:
        """IP literals never reach the resolver: they are judged here, without DNS."""
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            if _NUMERIC_HOST.match(host):  # 2130706433, 127.1: aiohttp refuses to connect to them
                raise DestinationRefused(f"{host} is not a canonical IP address") from None
            return
        await self._resolve(host, port, self.policy)

    async def _send(self, target: URL, content: bytes, headers: Mapping[str, str],
                    where: str) -> OutboundResponse:
        request_headers = CIMultiDict(headers)
        request_headers.setdefault("Accept-Encoding", "identity")
        try:
            async with self._client().post(
                    target, data=content, headers=request_headers, allow_redirects=False,
                    timeout=self._timeout, skip_auto_headers=("Content-Type",)) as response:
                body = bytearray()
                while len(body) < MAX_BODY:
                    chunk = await response.content.readany()
                    if not chunk:
                        break
                    body += chunk
                if len(body) >= MAX_BODY and not response.content.at_eof():
                    response.close()  # the rest is not read: the connection cannot be reused
                # The body as received (we ask for identity encoding), capped; hence no
                # Content-Encoding or Content-Length of the original is kept.
                kept = CIMultiDict((k, v) for k, v in response.headers.items() if k.lower() not in _DROPPED_HEADERS)
                return OutboundResponse(response.status, CIMultiDictProxy(kept), bytes(body[:MAX_BODY]))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # never chained: it may name the URL
            raise self._failure(exc, where) from None

    def _failure(self, exc: Exception, where: str) -> DestinationRefused | DestinationUnreachable:
        """The reason for one of aiohttp's failures, from host:port only."""
        verdict = _caused_by(exc, DestinationRefused) or _caused_by(exc, DestinationUnreachable)
        if verdict is not None:
            return DestinationRefused(verdict.reason) if isinstance(verdict, DestinationRefused) \
                else DestinationUnreachable(verdict.reason)  # type: ignore[attr-defined]
        if isinstance(exc, aiohttp.ClientConnectorCertificateError) or _caused_by(exc, ssl.SSLCertVerificationError):
            return DestinationUnreachable(f"TLS certificate check failed for {where}")
        if isinstance(exc, aiohttp.ClientSSLError) or _caused_by(exc, ssl.SSLError):
            return DestinationUnreachable(f"TLS handshake with {where} failed")
        if isinstance(exc, TimeoutError):
            return DestinationUnreachable(f"no answer from {where} within {self.timeout:g} s")
        if isinstance(exc, aiohttp.InvalidURL):
            return DestinationRefused("not a valid URL")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return DestinationUnreachable(f"could not connect to {where}")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return DestinationUnreachable(f"{where} closed the connection mid-answer")
        return DestinationUnreachable(f"{where} closed the connection without an answer")

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
