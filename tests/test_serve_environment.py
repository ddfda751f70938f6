"""Every `eventgate serve` flag reads its EVENTGATE_* variable, and a flag wins over the variable
(SPEC §7, §12).

The per-flag tests stop at the real boundary: `uvicorn.run` is replaced by a recorder of its
arguments and of the environment the worker processes would inherit, which is what each worker
builds its Settings from (settings_from_environment). One test starts a real server from
variables alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from eventgate.cli import main, settings_from_environment
from tests.processes import stop, wait_until_serving


def _clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `eventgate serve` up to uvicorn; return (uvicorn kwargs, Settings the workers build)."""
    saved = dict(os.environ)
    calls: list[tuple[dict[str, Any], dict[str, str]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append((kwargs, dict(os.environ))))

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], Any]:
        calls.clear()
        # serve exports its settings into os.environ for its workers: start each run without them.
        os.environ.clear()
        os.environ.update(_clean_environment())
        # A database of the test's own unless the test is about the database itself.
        runner_env = {"EVENTGATE_DATA_DIR": str(tmp_path / "data"), **(env or {})}
        result = CliRunner().invoke(main, ["serve", *args], env=runner_env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert len(calls) == 1
        kwargs, environment = calls[0]
        return kwargs, settings_from_environment(environment)

    yield run
    os.environ.clear()
    os.environ.update(saved)


# (flag, variable, value in the variable, value on the flag, Settings field, expected from each)
CASES = [
    ("--host", "EVENTGATE_HOST", "127.0.0.2", "127.0.0.3", "host", "127.0.0.2", "127.0.0.3"),
    ("--port", "EVENTGATE_PORT", "18081", "18082", "port", 18081, 18082),
    ("--broker-url", "EVENTGATE_BROKER_URL", "redis://env-host:6379/0", "redis://flag-host:6379/0", "broker_url",
     "redis://env-host:6379/0", "redis://flag-host:6379/0"),
    ("--gateway-token", "EVENTGATE_GATEWAY_TOKEN", "token-from-env", "token-from-flag", "gateway_token",
     "token-from-env", "token-from-flag"),
    ("--idempotency-retention-days", "EVENTGATE_IDEMPOTENCY_RETENTION_DAYS", "3", "5", "idempotency_retention_days",
     3.0, 5.0),
    ("--write-timeout", "EVENTGATE_WRITE_TIMEOUT", "2.5", "4.5", "write_timeout", 2.5, 4.5),
    ("--write-queue-size", "EVENTGATE_WRITE_QUEUE_SIZE", "123", "456", "write_queue_size", 123, 456),
    ("--log-level", "EVENTGATE_LOG_LEVEL", "warning", "debug", "log_level", "warning", "debug"),
    ("--log-format", "EVENTGATE_LOG_FORMAT", "json", "text", "log_format", "json", "text"),
    ("--forwarded-allow-ips", "EVENTGATE_FORWARDED_ALLOW_IPS", "10.0.0.1", "10.0.0.0/8", "forwarded_allow_ips",
     "10.0.0.1", "10.0.0.0/8"),
    ("--retention-days", "EVENTGATE_RETENTION_DAYS", "30", "7.5", "retention_days", 30.0, 7.5),
    ("--destination-allow-list", "EVENTGATE_DESTINATION_ALLOW_LIST", "hooks.lan", "10.0.0.0/8",
     "destination_allow_list", "hooks.lan", "10.0.0.0/8"),
    ("--public-url", "EVENTGATE_PUBLIC_URL", "https://a.example", "https://b.example", "public_url",
     "https://a.example", "https://b.example"),
    ("--delivery-timeout", "EVENTGATE_DELIVERY_TIMEOUT", "3", "4.5", "delivery_timeout", 3.0, 4.5),
]


@pytest.mark.parametrize("flag, variable, env_value, flag_value, field, from_env, from_flag", CASES,
                         ids=[case[0] for case in CASES])
def test_serve_flag_reads_its_variable_and_the_flag_wins(serve, flag, variable, env_value, flag_value, field,
                                                        from_env, from_flag):
    _, settings = serve("--workers", "1", env={variable: env_value})
    assert getattr(settings, field) == from_env
    _, settings = serve("--workers", "1", flag, flag_value, env={variable: env_value})
    assert getattr(settings, field) == from_flag


def test_allow_private_destinations_reads_its_variable_and_the_flag_wins(serve):
    _, settings = serve("--workers", "1", env={"EVENTGATE_ALLOW_PRIVATE_DESTINATIONS": "1"})
    assert settings.allow_private_destinations is True
    _, settings = serve("--workers", "1", "--no-allow-private-destinations",
                        env={"EVENTGATE_ALLOW_PRIVATE_DESTINATIONS": "1"})
    assert settings.allow_private_destinations is False


def test_host_port_and_log_level_reach_uvicorn(serve):
    env = {"EVENTGATE_HOST": "127.0.0.2", "EVENTGATE_PORT": "18081", "EVENTGATE_LOG_LEVEL": "warning"}
    kwargs, _ = serve("--workers", "1", env=env)
    assert (kwargs["host"], kwargs["port"], kwargs["log_level"]) == ("127.0.0.2", 18081, "warning")
    kwargs, _ = serve("--workers", "1", "--host", "127.0.0.3", "--port", "18082", "--log-level", "error", env=env)
    assert (kwargs["host"], kwargs["port"], kwargs["log_level"]) == ("127.0.0.3", 18082, "error")


def test_database_url_reads_its_variable_and_the_flag_wins(serve, tmp_path):
    from_env, from_flag = f"sqlite:///{tmp_path / 'env.db'}", f"sqlite:///{tmp_path / 'flag.db'}"
    _, settings = serve("--workers", "1", env={"EVENTGATE_DATABASE_URL": from_env})
    assert settings.database_url == from_env
    _, settings = serve("--workers", "1", "--database-url", from_flag, env={"EVENTGATE_DATABASE_URL": from_env})
    assert settings.database_url == from_flag


def test_workers_reads_its_variable_and_the_flag_wins(serve, tmp_path):
    env = {"EVENTGATE_WORKERS": "3", "EVENTGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    kwargs, settings = serve(env=env)
    assert kwargs["workers"] == 3 and settings.workers == 3
    kwargs, settings = serve("--workers", "2", env=env)
    assert kwargs["workers"] == 2 and settings.workers == 2


def test_strict_event_types_reads_its_variable_and_the_flag_wins(serve):
    _, settings = serve("--workers", "1", env={"EVENTGATE_STRICT_EVENT_TYPES": "1"})
    assert settings.strict_event_types is True
    _, settings = serve("--workers", "1", "--no-strict-event-types", env={"EVENTGATE_STRICT_EVENT_TYPES": "1"})
    assert settings.strict_event_types is False
    _, settings = serve("--workers", "1", "--strict-event-types", env={"EVENTGATE_STRICT_EVENT_TYPES": "0"})
    assert settings.strict_event_types is True
    _, settings = serve("--workers", "1", env={"EVENTGATE_STRICT_EVENT_TYPES": "0"})
    assert settings.strict_event_types is False


def test_data_dir_reads_its_variable_and_the_flag_wins(serve, tmp_path):
    _, settings = serve("--workers", "1", env={"EVENTGATE_DATA_DIR": str(tmp_path / "env-data")})
    assert settings.database_url == f"sqlite:///{tmp_path / 'env-data' / 'eventgate.db'}"
    _, settings = serve("--workers", "1", "--data-dir", str(tmp_path / "flag-data"),
                        env={"EVENTGATE_DATA_DIR": str(tmp_path / "env-data")})
    assert settings.database_url == f"sqlite:///{tmp_path / 'flag-data' / 'eventgate.db'}"


def test_database_url_wins_over_data_dir(serve, tmp_path):
    url = f"sqlite:///{tmp_path / 'explicit.db'}"
    _, settings = serve("--workers", "1", "--data-dir", str(tmp_path / "unused"), "--database-url", url)
    assert settings.database_url == url


# -- one real server, configured by variables alone ---------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_real_serve_configured_only_by_variables(tmp_path):
    port = _free_port()
    env = {**_clean_environment(), "EVENTGATE_PORT": str(port), "EVENTGATE_GATEWAY_TOKEN": "s3cret",
           "EVENTGATE_STRICT_EVENT_TYPES": "1"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "eventgate", "serve", "--workers", "1"], cwd=tmp_path,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base, log_path)
        # The admin command run from the same directory finds the server's database (./data).
        created = subprocess.run([sys.executable, "-m", "eventgate", "channel", "create", "--name", "n",
                                  "--password", "password-123", "--json"], cwd=tmp_path, env=_clean_environment(),
                                 capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        channel_id = json.loads(created.stdout)["channel_id"]
        url = f"{base}/v1/channel/{channel_id}/event/create"
        body = {"password": "password-123", "event_type": "new_type"}

        refused = httpx.post(url, json=body, timeout=10)
        assert refused.status_code == 401, refused.text

        unknown = httpx.post(url, json=body, headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert unknown.status_code == 400, unknown.text
        assert unknown.json()["error_code"] == "unknown_event_type"
    finally:
        stop(process)
