"""The wrong-password limiter: guesses and CPU are capped, and the cap is one for every process
(SPEC §2, §12).

Real `eventgate serve` processes on real sockets over the session's database (SQLite, and
PostgreSQL when EVENTGATE_TEST_DATABASE_URL is set). Slow (argon2) verifications are counted by
each server's `eventgate_password_verifications_total`; addresses other than 127.0.0.1 reach a
server as X-Forwarded-For, believed only with `--forwarded-allow-ips`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from eventgate.auth.passwords import VerificationPool, hash_password
from eventgate.domain.times import now_ms
from eventgate.store.channels import create_channel
from eventgate.store.database import Database, migrate, open_database
from eventgate.store.password_failures import Attempts, PasswordFailures
from tests.conftest import PASSWORD
from tests.helpers import body_form, error_code
from tests.live_client import EVENTGATE, ServeProcess

pytestmark = pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")

LIMIT = 10  # Settings.password_attempts: what `eventgate serve` allows per 60 s window
FLOOD = 200
VERIFICATIONS = re.compile(r"^eventgate_password_verifications_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


class LimiterServe(ServeProcess):
    """`eventgate serve --workers 1`, optionally believing X-Forwarded-For from 127.0.0.1."""

    def __init__(self, database_url: str, *, forwarded_allow_ips: str | None, log_path: Path) -> None:
        super().__init__(database_url, log_path=log_path)
        self.forwarded_allow_ips = forwarded_allow_ips

    def command(self) -> list[str]:
        command = super().command()
        if self.forwarded_allow_ips:
            command += ["--forwarded-allow-ips", self.forwarded_allow_ips]
        return command

    def verifications(self) -> float:
        """Slow verifications this server has run so far (one process: one registry)."""
        reply = httpx.get(f"{self.base_url}/metrics", timeout=30)
        reply.raise_for_status()
        return sum(float(value) for value in VERIFICATIONS.findall(reply.text))


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    migrate(database)  # before the servers start together on it
    yield database
    database.dispose()


def _serve(database_url: str, forwarded_allow_ips: str | None, log_directory: Path) -> Iterator[LimiterServe]:
    server = LimiterServe(database_url, forwarded_allow_ips=forwarded_allow_ips,
                          log_path=log_directory / f"serve-{secrets.token_hex(4)}.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-logs")


@pytest.fixture(scope="module")
def proxied(database: Database, database_url: str, logs: Path) -> Iterator[LimiterServe]:
    """A server behind a "proxy" at 127.0.0.1: X-Forwarded-For names the client."""
    yield from _serve(database_url, "127.0.0.1", logs)


@pytest.fixture(scope="module")
def second(database: Database, database_url: str, logs: Path) -> Iterator[LimiterServe]:
    """A second server process on the same database."""
    yield from _serve(database_url, "127.0.0.1", logs)


@pytest.fixture(scope="module")
def direct(database: Database, database_url: str, logs: Path) -> Iterator[LimiterServe]:
    """A server without --forwarded-allow-ips: the peer address is the client's."""
    yield from _serve(database_url, None, logs)


def new_channel(database: Database) -> str:
    with database.writer.begin() as connection:
        return create_channel(connection, "default", "limiter", hash_password(PASSWORD)).id


def new_address() -> str:
    """A client address of its own per test (documentation range 198.18.0.0/15)."""
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def post(base_url: str, channel: str, password: str, address: str | None = None) -> httpx.Response:
    headers = as_client(address) if address else {}
    return httpx.post(f"{base_url}/event/create", json=body_form(channel, password=password), headers=headers,
                      timeout=60)


def flood(base_urls: list[str], channel: str, address: str | None, count: int = FLOOD) -> list[httpx.Response]:
    """`count` different wrong passwords at once from one address, spread over the servers."""
    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
        headers = as_client(address) if address else {}
        async with httpx.AsyncClient(limits=limits, timeout=120, headers=headers) as client:
            return list(await asyncio.gather(*(
                client.post(f"{base_urls[index % len(base_urls)]}/event/create",
                            json=body_form(channel, password=f"wrong-guess-{index:04d}"))
                for index in range(count))))
    return asyncio.run(run())


def assert_limited(replies: list[httpx.Response]) -> None:
    """Every reply a 403 (a slow verification) or a 429 with Retry-After (none), and at most LIMIT 403s."""
    statuses = [reply.status_code for reply in replies]
    assert set(statuses) <= {403, 429}, statuses
    assert statuses.count(403) <= LIMIT
    for reply in replies:
        if reply.status_code == 429:
            assert error_code(reply) == "too_many_attempts"
            assert 1 <= int(reply.headers["Retry-After"]) <= 60


def lock_out(base_url: str, channel: str, address: str | None) -> None:
    for _ in range(LIMIT):
        assert post(base_url, channel, "wrong-password", address).status_code == 403
    assert post(base_url, channel, "wrong-password", address).status_code == 429


# -- guesses and CPU ----------------------------------------------------------------------------


def test_a_flood_of_wrong_passwords_from_one_address_costs_at_most_the_limit(proxied, database):
    channel, address = new_channel(database), new_address()
    before = proxied.verifications()
    replies = flood([proxied.base_url], channel, address)
    assert_limited(replies)
    assert 1 <= proxied.verifications() - before <= LIMIT
    assert [reply.status_code for reply in replies].count(429) >= FLOOD - LIMIT


def test_the_right_password_from_another_address_is_accepted_during_a_flood(proxied, database):
    channel = new_channel(database)
    answers: dict[str, Any] = {}

    def producer() -> None:
        answers["producer"] = post(proxied.base_url, channel, PASSWORD, new_address())
        answers["healthz"] = httpx.get(f"{proxied.base_url}/healthz", timeout=60)

    thread = threading.Thread(target=producer)
    thread.start()
    assert_limited(flood([proxied.base_url], channel, new_address()))
    thread.join(timeout=120)
    assert answers["producer"].status_code == 200, answers["producer"].text
    assert answers["healthz"].status_code == 200


def test_a_known_right_password_skips_the_slow_check(proxied, database):
    channel, address = new_channel(database), new_address()
    assert post(proxied.base_url, channel, PASSWORD, address).status_code == 200
    before = proxied.verifications()
    for _ in range(3 * LIMIT):
        assert post(proxied.base_url, channel, PASSWORD, address).status_code == 200
    assert proxied.verifications() == before


def test_the_right_password_waits_out_a_lockout_even_when_known(proxied, database):
    channel, address = new_channel(database), new_address()
    assert post(proxied.base_url, channel, PASSWORD, address).status_code == 200  # now cached
    lock_out(proxied.base_url, channel, address)
    # Otherwise a locked-out guesser would still learn which guess is right.
    reply = post(proxied.base_url, channel, PASSWORD, address)
    assert reply.status_code == 429
    assert error_code(reply) == "too_many_attempts"


def test_verifications_beyond_the_pool_and_its_queue_are_refused_at_once():
    pool = VerificationPool(threads=1, max_waiting=1)
    try:
        assert pool.try_admit() and pool.try_admit()
        assert not pool.try_admit()
        pool.release()
        assert pool.try_admit()
    finally:
        pool.close()


def test_a_flood_from_many_addresses_is_answered_403_or_503_overloaded(proxied, database):
    channel = new_channel(database)

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=120) as client:
            return list(await asyncio.gather(*(
                client.post(f"{proxied.base_url}/event/create", headers=as_client(new_address()),
                            json=body_form(channel, password=f"wrong-guess-{index:04d}"))
                for index in range(FLOOD))))

    for reply in asyncio.run(run()):
        assert reply.status_code in (403, 503), reply.text
        if reply.status_code == 503:
            assert error_code(reply) == "overloaded"
            assert int(reply.headers["Retry-After"]) >= 1
    assert post(proxied.base_url, channel, PASSWORD, new_address()).status_code == 200


# -- one limit for every process ----------------------------------------------------------------


def test_a_lockout_made_through_one_process_holds_in_another(proxied, second, database):
    channel, address = new_channel(database), new_address()
    lock_out(proxied.base_url, channel, address)
    before = second.verifications()
    wrong = post(second.base_url, channel, "another-wrong-password", address)
    right = post(second.base_url, channel, PASSWORD, address)
    assert (wrong.status_code, right.status_code) == (429, 429)
    assert second.verifications() == before


def test_a_flood_spread_over_two_processes_costs_at_most_the_limit_in_all(proxied, second, database):
    channel, address = new_channel(database), new_address()
    before = proxied.verifications() + second.verifications()
    assert_limited(flood([proxied.base_url, second.base_url], channel, address))
    assert proxied.verifications() + second.verifications() - before <= LIMIT


# -- client addresses behind a proxy ------------------------------------------------------------


def test_producers_behind_a_trusted_proxy_have_limits_of_their_own(proxied, database):
    channel, bad, good = new_channel(database), new_address(), new_address()
    lock_out(proxied.base_url, channel, bad)
    assert post(proxied.base_url, channel, PASSWORD, good).status_code == 200
    assert post(proxied.base_url, channel, "wrong-password", good).status_code == 403


def test_an_ipv6_client_is_counted_by_its_64_network(proxied, database):
    channel = new_channel(database)
    lock_out(proxied.base_url, channel, "2001:db8:1:2::1")
    assert post(proxied.base_url, channel, PASSWORD, "2001:db8:1:2:ffff:ffff:ffff:ffff").status_code == 429
    assert post(proxied.base_url, channel, PASSWORD, "2001:db8:1:3::1").status_code == 200


def test_a_forwarded_address_of_any_length_is_answered(proxied, database):
    channel = new_channel(database)
    reply = post(proxied.base_url, channel, "wrong-password", "not-an-address-" + "x" * 300)
    assert reply.status_code == 403
    assert error_code(reply) == "password_mismatch"


def test_without_forwarded_allow_ips_x_forwarded_for_cannot_escape_a_lockout(direct, database):
    channel = new_channel(database)
    lock_out(direct.base_url, channel, new_address())  # the header is ignored: this locks 127.0.0.1
    for password in ("wrong-password", PASSWORD):
        reply = post(direct.base_url, channel, password, new_address())
        assert reply.status_code == 429
        assert error_code(reply) == "too_many_attempts"


def test_no_password_reaches_the_servers_logs(proxied, second, direct, database, logs):
    channel = new_channel(database)
    flood([proxied.base_url, second.base_url, direct.base_url], channel, new_address(), count=30)
    assert post(proxied.base_url, channel, PASSWORD, new_address()).status_code == 200
    text = "".join(path.read_text(errors="replace") for path in logs.glob("*.log"))
    assert "wrong-guess" not in text
    assert PASSWORD not in text


# -- the shared count in the store --------------------------------------------------------------


@pytest.fixture
def failures(database: Database) -> Iterator[PasswordFailures]:
    store = PasswordFailures(database)
    yield store
    store.close()


def test_the_store_admits_limit_attempts_per_window_then_refuses(failures, database):
    channel, address, now = new_channel(database), new_address(), now_ms()
    seen = [failures.reserve(channel, address, limit=3, window_ms=60_000, now=now) for _ in range(5)]
    assert [attempt.admitted for attempt in seen] == [True, True, True, False, False]
    assert {attempt.window_started_at for attempt in seen} == {now}
    assert failures.current(channel, address, window_ms=60_000, now=now).failures == 4  # capped at limit + 1


def test_a_refunded_attempt_frees_its_place(failures, database):
    channel, address, now = new_channel(database), new_address(), now_ms()
    for _ in range(3):
        attempt = failures.reserve(channel, address, limit=3, window_ms=60_000, now=now)
    failures.refund(channel, address, attempt.window_started_at, 60_000)
    assert failures.reserve(channel, address, limit=3, window_ms=60_000, now=now).admitted


def test_a_new_window_starts_the_count_again(failures, database):
    channel, address, now = new_channel(database), new_address(), now_ms()
    for _ in range(4):
        failures.reserve(channel, address, limit=3, window_ms=60_000, now=now)
    later = failures.reserve(channel, address, limit=3, window_ms=60_000, now=now + 60_000)
    assert (later.admitted, later.failures, later.window_started_at) == (True, 1, now + 60_000)
    assert failures.current(channel, address, window_ms=60_000, now=now + 120_000) is None


def test_a_window_starts_again_when_its_first_attempt_fails(failures, database):
    channel, address, now = new_channel(database), new_address(), now_ms()
    first = failures.reserve(channel, address, limit=3, window_ms=60_000, now=now)
    failures.start_window_at(channel, address, first.window_started_at, now + 5_000)  # a slow check later
    assert failures.current(channel, address, window_ms=60_000, now=now + 62_000) == \
        Attempts(1, now + 5_000)
    failures.refund(channel, address, first.window_started_at, 60_000)  # still that window
    assert failures.current(channel, address, window_ms=60_000, now=now + 62_000).failures == 0


def test_old_rows_are_swept(failures, database):
    channel, now = new_channel(database), now_ms()
    for index in range(5):
        failures.reserve(channel, f"192.0.2.{index}", limit=3, window_ms=60_000, now=now - 3_600_000)
    fresh = failures.reserve(channel, "192.0.2.200", limit=3, window_ms=60_000, now=now)
    assert failures.sweep(cutoff=now - 60_000) >= 5
    assert failures.current(channel, "192.0.2.0", window_ms=10**12, now=now) is None
    assert failures.current(channel, "192.0.2.200", window_ms=60_000, now=now) == fresh
