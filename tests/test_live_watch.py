"""`eventgate watch`: a terminal tail of live events that reconnects and resumes by itself."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest

from tests.live_client import (
    EVENTGATE,
    LineReader,
    ServeProcess,
    create,
    live,  # noqa: F401  (fixture)
    prepare_database,
)


def _watch(base_url: str, key: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([EVENTGATE, "watch", "--url", base_url, "--key", key, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(30)


def test_watch_json_prints_one_event_frame_a_line(live):
    process = _watch(live.base_url, live.key, "--json", "--max-events", "2")
    try:
        reader = LineReader(process.stdout)
        reader.start()
        # It prints only what follows its connection: keep writing until it has two.
        while len(reader.lines) < 2 and process.poll() is None:
            live.create()
        assert process.wait(60) == 0
        reader.join(10)
    finally:
        _finish(process)
    frames = [json.loads(line) for line in reader.lines]
    assert len(frames) == 2
    assert all(f["type"] == "event" for f in frames)
    assert frames[1]["seq"] == frames[0]["seq"] + 1


def test_watch_since_and_filters(live):
    live.create(severity="low")
    wanted = live.create(severity="critical")
    process = _watch(live.base_url, live.key, "--json", "--since", "0", "--severity", "high", "--max-events", "1")
    try:
        out, _ = process.communicate(timeout=60)
    finally:
        _finish(process)
    assert process.returncode == 0
    assert json.loads(out.decode().splitlines()[0])["event"]["id"] == wanted


def test_watch_prints_readable_lines_by_default(live):
    live.create(title="Front door", severity="high")
    process = _watch(live.base_url, live.key, "--since", "0", "--max-events", "1")
    try:
        out, _ = process.communicate(timeout=60)
    finally:
        _finish(process)
    line = out.decode().splitlines()[0]
    assert line.startswith("#1 ")
    assert "event_created" in line and "Front door" in line and "high" in line


def test_watch_with_a_bad_key_exits_with_the_reason(live):
    process = _watch(live.base_url, "egk_wrong", "--json")
    try:
        _, err = process.communicate(timeout=60)
    finally:
        _finish(process)
    assert process.returncode == 2
    assert "401" in err.decode()


def test_watch_reads_the_key_from_eventgate_key(live):
    env = dict(os.environ, EVENTGATE_KEY=live.key)
    live.create()
    result = subprocess.run([EVENTGATE, "watch", "--url", live.base_url, "--since", "0", "--json",
                             "--max-events", "1"], capture_output=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.decode().splitlines()[0])["seq"] == 1


def test_watch_resumes_after_a_server_restart_without_loss_or_duplicates(tmp_path):
    database_url = f"sqlite:///{tmp_path}/watch.db"
    channel, key = prepare_database(database_url)
    server = ServeProcess(database_url, log_path=tmp_path / "serve.log").start()
    process = _watch(server.base_url, key, "--json", "--max-events", "6")
    try:
        reader = LineReader(process.stdout)
        reader.start()
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            while len(reader.lines) < 2:  # the watcher is connected once it shows something
                create(client, channel)
        server.kill()
        server.start()  # same port, same database: the watcher reconnects with since
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(6):
                create(client, channel)
        assert process.wait(120) == 0
        reader.join(10)
    finally:
        _finish(process)
        server.stop()
    seqs = [json.loads(line)["seq"] for line in reader.lines]
    assert seqs == list(range(seqs[0], seqs[0] + 6))


def test_watch_keeps_retrying_while_the_server_is_unreachable():
    process = _watch("http://127.0.0.1:1", "egk_any")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(3)
    finally:
        _finish(process)
    assert "retrying" in process.stderr.read().decode()


def test_watch_stops_when_its_key_expires_and_says_why(live):
    import time

    key = live.new_key(("subscribe",), expires_at=int(time.time() * 1000) + 2_000)
    process = _watch(live.base_url, key, "--json")
    try:
        _, err = process.communicate(timeout=60)
    finally:
        _finish(process)
    assert process.returncode == 2, err
    assert "api key expired" in err.decode()
