"""The outbound HTTP client every webhook goes through (SPEC §10, "No SSRF").

Real sockets on loopback: a small HTTP receiver in a thread records what reaches it, and the
client under test talks to it the way it would talk to any destination. DNS is replaced only
where the point is what a name resolves to (rebinding, a mixed answer).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from eventgate.delivery import outbound_http
from eventgate.delivery.outbound_http import (
    AddressPolicy,
    DestinationRefused,
    DestinationUnreachable,
    OutboundClient,
    excerpt,
    resolve_checked,
)

SECRET_PATH = "/secret-path?token=abc"


class Receiver:
    """An HTTP(S) server on 127.0.0.1 that records each request; `mode` says how it answers."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"method": self.command, "path": self.path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                if receiver.mode == "hang":
                    receiver.release.wait(10)
                    self.close_connection = True
                    return
                if receiver.mode == "close":
                    self.close_connection = True
                    return
                if receiver.mode == "redirect":
                    self._answer(302, b"moved", (("Location", "/elsewhere"),))
                elif receiver.mode == "big":
                    self._answer(200, b"x" * (200 * 1024))
                else:
                    self._answer(200, b'{"received": true}', (("Set-Cookie", "session=s1; Path=/"),))

            def _answer(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6}) \
            if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[Receiver]:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*map(str, certificate))
    r = Receiver(server_context)
    yield r
    r.stop()


@pytest.fixture
def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the self-signed certificate, and checks host names."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def post(url: str, policy: AddressPolicy | None = None, body: bytes = b'{"n": 1}',
         headers: dict[str, str] | None = None, **options: Any) -> Any:
    async def scenario() -> Any:
        client = OutboundClient(policy, **options)
        try:
            return await client.post(url, content=body, headers=headers or {"content-type": "application/json"})
        finally:
            await client.aclose()
    return asyncio.run(scenario())


def loopback_names_in_hosts_file() -> list[str]:
    names = {"localhost"}
    try:
        for line in Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if fields and fields[0].startswith("127."):
                names.update(fields[1:])
    except OSError:
        pass
    return sorted(names)


# -- refused -----------------------------------------------------------------------------------

REFUSED_HOSTS = ["127.0.0.1", "[::1]", "10.1.2.3", "192.168.1.1", "172.16.0.1", "169.254.169.254",
                 "100.64.0.1", "100.100.100.200", "0.0.0.0", "[::]", "[::ffff:127.0.0.1]", "[fe80::1]",
                 "224.0.0.1", "[fd00:ec2::254]", "[fc00::1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
                 "240.0.0.1", "2130706433", "127.1"]


@pytest.mark.parametrize("host", REFUSED_HOSTS + loopback_names_in_hosts_file())
def test_an_inside_address_is_refused_and_nothing_reaches_it(receiver: Receiver, host: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        post(f"http://{host}:{receiver.port}{SECRET_PATH}")
    assert "secret" not in refused.value.reason and "abc" not in str(refused.value)
    assert receiver.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1/",
                                 "not a url", "http:///no-host"])
def test_only_http_and_https_urls_are_sent(receiver: Receiver, url: str) -> None:
    with pytest.raises(DestinationRefused):
        post(url, AddressPolicy(allow_private=True))
    assert receiver.requests == []


def test_a_name_is_refused_when_any_of_its_addresses_is(monkeypatch: pytest.MonkeyPatch) -> None:
    def mixed(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with pytest.raises(DestinationRefused, match="127.0.0.1 is a loopback address"):
        asyncio.run(resolve_checked("mixed.example", 80, AddressPolicy()))


def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    with pytest.raises(DestinationUnreachable, match="could not resolve"):
        asyncio.run(resolve_checked("no-such-host.invalid", 80, AddressPolicy()))


def test_public_addresses_pass_the_policy() -> None:
    policy = AddressPolicy()
    for address in ("93.184.215.14", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"):
        assert policy.refusal("example.com", ipaddress.ip_address(address)) is None


# -- allowed -----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [AddressPolicy(allow_private=True),
                                    AddressPolicy.from_settings(False, "127.0.0.1"),
                                    AddressPolicy.from_settings(False, "10.0.0.0/8, 127.0.0.0/8"),
                                    AddressPolicy.from_settings(False, "LocalHost")],
                         ids=["allow_private", "address", "network", "name"])
def test_an_allowed_destination_gets_the_post(receiver: Receiver, policy: AddressPolicy) -> None:
    response = post(f"http://localhost:{receiver.port}/hooks/in?x=1", policy, body=b'{"n": 1}',
                    headers={"content-type": "application/json", "webhook-id": "msg_1"})
    assert response.status_code == 200 and response.json() == {"received": True}
    [seen] = receiver.requests
    assert seen["method"] == "POST" and seen["path"] == "/hooks/in?x=1" and seen["body"] == b'{"n": 1}'
    assert seen["headers"]["host"] == f"localhost:{receiver.port}"
    assert seen["headers"]["webhook-id"] == "msg_1" and seen["headers"]["content-type"] == "application/json"


def test_an_ip_literal_keeps_its_host_header(receiver: Receiver) -> None:
    post(f"http://127.0.0.1:{receiver.port}/", AddressPolicy.from_settings(False, "127.0.0.1"))
    assert receiver.requests[0]["headers"]["host"] == f"127.0.0.1:{receiver.port}"


def test_an_allowed_ipv6_literal_is_bracketed() -> None:
    try:
        receiver = Receiver(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        post(f"http://[::1]:{receiver.port}/v6", AddressPolicy.from_settings(False, "::1/128"))
    finally:
        receiver.stop()
    [seen] = receiver.requests
    assert seen["path"] == "/v6" and seen["headers"]["host"] == f"[::1]:{receiver.port}"


def test_the_allow_list_is_parsed_strictly() -> None:
    policy = AddressPolicy.from_settings(False, " *.Hooks.Example, ::1/128 ,,192.0.2.7")
    loopback, documentation = ipaddress.ip_address("::1"), ipaddress.ip_address("192.0.2.7")
    assert policy.refusal("a.hooks.example", ipaddress.ip_address("10.0.0.1")) is None
    assert policy.refusal("hooks.example", ipaddress.ip_address("10.0.0.1")) is not None
    assert policy.refusal("anything", loopback) is None and policy.refusal("anything", documentation) is None
    assert policy.refusal("anything", ipaddress.ip_address("::ffff:127.0.0.1")) is not None
    for bad in ("10.0.0.0/33", "exa mple.com", "1.2.3.999", "a/b", "http://x"):
        with pytest.raises(ValueError, match="allow-list entry"):
            AddressPolicy.from_settings(False, bad)


# -- DNS rebinding -----------------------------------------------------------------------------

def test_the_connection_goes_to_the_checked_address(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is checked once; a second lookup (here: any later getaddrinfo) would answer an
    address nothing listens on, so the request arriving proves post connected to the checked one."""
    checked: list[str] = []
    later_lookups: list[Any] = []

    def rebound(name: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        later_lookups.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.9", port))]

    async def check_once(host: str, port: int, policy: AddressPolicy) -> list[Any]:
        checked.append(host)
        addresses = await resolve_checked("127.0.0.1", port, policy)  # the answer at check time
        monkeypatch.setattr(socket, "getaddrinfo", rebound)  # every answer after it
        return addresses

    response = post(f"http://rebind.example:{receiver.port}/hook", AddressPolicy.from_settings(False, "127.0.0.1"),
                    resolve=check_once)
    assert response.status_code == 200
    assert checked == ["rebind.example"] and later_lookups == []
    [seen] = receiver.requests
    assert seen["headers"]["host"] == f"rebind.example:{receiver.port}"


def test_the_real_check_resolves_once(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    lookups: list[Any] = []

    def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", counting)
    post(f"http://localhost:{receiver.port}/", AddressPolicy.from_settings(False, "localhost"))
    assert lookups == ["localhost"] and len(receiver.requests) == 1


# -- answers and failures ----------------------------------------------------------------------

ALLOW_LOOPBACK = AddressPolicy.from_settings(False, "127.0.0.0/8")


def test_a_redirect_is_returned_not_followed(receiver: Receiver) -> None:
    receiver.mode = "redirect"
    response = post(f"http://127.0.0.1:{receiver.port}/hook", ALLOW_LOOPBACK)
    assert response.status_code == 302 and response.headers["location"] == "/elsewhere"
    assert [r["path"] for r in receiver.requests] == ["/hook"]


def test_a_hanging_receiver_times_out(receiver: Receiver) -> None:
    receiver.mode = "hang"
    started = time.monotonic()
    with pytest.raises(DestinationUnreachable) as failed:
        post(f"http://127.0.0.1:{receiver.port}{SECRET_PATH}", ALLOW_LOOPBACK, timeout=0.5)
    assert time.monotonic() - started < 2
    assert "no answer" in failed.value.reason
    assert_no_secret(failed.value)


def test_a_receiver_that_closes_the_connection_is_unreachable(receiver: Receiver) -> None:
    receiver.mode = "close"
    with pytest.raises(DestinationUnreachable) as failed:
        post(f"http://127.0.0.1:{receiver.port}{SECRET_PATH}", ALLOW_LOOPBACK)
    assert len(receiver.requests) == 1
    assert_no_secret(failed.value)


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DestinationUnreachable, match=f"could not connect to 127.0.0.1:{port}") as failed:
        post(f"http://user:hunter2@127.0.0.1:{port}{SECRET_PATH}", ALLOW_LOOPBACK)
    assert_no_secret(failed.value)
    assert "hunter2" not in str(failed.value)


def test_the_body_read_and_the_excerpt_are_bounded(receiver: Receiver) -> None:
    receiver.mode = "big"
    response = post(f"http://127.0.0.1:{receiver.port}/", ALLOW_LOOPBACK)
    assert response.status_code == 200
    assert len(response.content) == outbound_http.MAX_BODY
    assert excerpt(response) == "x" * 1024
    assert excerpt("é".encode() * 1000) == ("é" * 512)
    assert len(excerpt(b"\xff" * 5000)) == 1024


def test_no_cookie_is_carried_from_one_delivery_to_the_next(receiver: Receiver) -> None:
    async def scenario() -> None:
        client = OutboundClient(ALLOW_LOOPBACK)
        try:
            for _ in range(2):
                await client.post(f"http://127.0.0.1:{receiver.port}/", content=b"{}", headers={})
        finally:
            await client.aclose()
    asyncio.run(scenario())
    assert [r["headers"].get("cookie") for r in receiver.requests] == [None, None]


def test_no_log_line_carries_the_path_or_query(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    post(f"http://127.0.0.1:{receiver.port}{SECRET_PATH}", ALLOW_LOOPBACK)
    receiver.mode = "close"
    with pytest.raises(DestinationUnreachable):
        post(f"http://127.0.0.1:{receiver.port}{SECRET_PATH}", ALLOW_LOOPBACK)
    assert logging.getLogger("aiohttp.client").isEnabledFor(logging.DEBUG), "aiohttp's debug lines are captured"
    assert "secret" not in caplog.text and "abc" not in caplog.text


def assert_no_secret(exc: Exception) -> None:
    for text in (str(exc), exc.reason, repr(exc)):  # type: ignore[attr-defined]
        assert "secret" not in text and "abc" not in text


# -- TLS ---------------------------------------------------------------------------------------

def test_https_checks_the_certificate_against_the_original_name(tls_receiver: Receiver,
                                                                trusting: ssl.SSLContext) -> None:
    policy = AddressPolicy.from_settings(False, "localhost, 127.0.0.1")
    response = post(f"https://localhost:{tls_receiver.port}/hook", policy, verify=trusting)
    assert response.status_code == 200
    assert tls_receiver.requests[0]["headers"]["host"] == f"localhost:{tls_receiver.port}"

    # The same server and certificate, reached by its address: the name does not match.
    with pytest.raises(DestinationUnreachable, match="TLS certificate check failed") as failed:
        post(f"https://127.0.0.1:{tls_receiver.port}{SECRET_PATH}", policy, verify=trusting)
    assert_no_secret(failed.value)
    assert len(tls_receiver.requests) == 1


def test_https_without_trust_fails(tls_receiver: Receiver) -> None:
    with pytest.raises(DestinationUnreachable, match="TLS certificate check failed"):
        post(f"https://localhost:{tls_receiver.port}/", AddressPolicy.from_settings(False, "localhost"))
    assert tls_receiver.requests == []


@pytest.mark.skipif(len(loopback_names_in_hosts_file()) < 2, reason="needs a second loopback name in /etc/hosts")
def test_a_pooled_tls_connection_is_not_reused_for_another_name(tls_receiver: Receiver,
                                                                trusting: ssl.SSLContext) -> None:
    """Two names on one address: the connection checked for `localhost` must not carry a
    request for the other name, whose certificate check has to fail on its own."""
    other = next(n for n in loopback_names_in_hosts_file() if n != "localhost")

    async def scenario() -> None:
        client = OutboundClient(AddressPolicy(allow_private=True), verify=trusting)
        try:
            ok = await client.post(f"https://localhost:{tls_receiver.port}/", content=b"{}", headers={})
            assert ok.status_code == 200
            with pytest.raises(DestinationUnreachable, match="TLS certificate check failed"):
                await client.post(f"https://{other}:{tls_receiver.port}/", content=b"{}", headers={})
        finally:
            await client.aclose()
    asyncio.run(scenario())
    assert len(tls_receiver.requests) == 1
