"""The processes of a running `eventgate serve`, read from /proc: the supervisor's workers,
whether a process is still alive, which worker a connection reached."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx

NODE_INFO = re.compile(r"^eventgate_node_info\{(.*)\}", re.MULTILINE)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def worker_pids(supervisor_pid: int) -> list[int]:
    """uvicorn's worker processes (spawned interpreters), not multiprocessing's helpers."""
    workers = []
    for pid in children(supervisor_pid):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"multiprocessing.spawn" in command and b"resource_tracker" not in command:
                workers.append(pid)
    return sorted(workers)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that is gone counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for_workers(supervisor_pid: int, count: int, *, other_than: set[int] = frozenset(),  # type: ignore[assignment]
                     timeout: float = 60) -> list[int]:
    """The supervisor's workers once there are `count` of them, none of them in `other_than`."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [pid for pid in worker_pids(supervisor_pid) if alive(pid)]
        if len(workers) == count and not set(workers) & set(other_than):
            return workers
        assert time.monotonic() < deadline, f"workers of {supervisor_pid}: {workers}, wanted {count}"
        time.sleep(0.05)


def wait_until_dead(pids: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[pid for pid in pids if alive(pid)]}"
        time.sleep(0.05)


def node_info(client: httpx.Client) -> dict[str, str]:
    """The node id and pid of the worker that answers on this client's (kept-alive) connection."""
    reply = client.get("/metrics")
    reply.raise_for_status()
    match = NODE_INFO.search(reply.text)
    assert match, "no eventgate_node_info in /metrics"
    return dict(LABEL.findall(match.group(1)))


def node_of(client: httpx.Client) -> str:
    return node_info(client)["node_id"]


def pid_of_node(base_url: str, node: str) -> int:
    with client_on(base_url, node) as client:
        return int(node_info(client)["pid"])


def node_ids(base_url: str, count: int, attempts: int = 200) -> list[str]:
    """The node ids of `count` workers, found through fresh connections (the kernel picks)."""
    seen: set[str] = set()
    for _ in range(attempts):
        with httpx.Client(base_url=base_url, timeout=30) as client:
            seen.add(node_of(client))
        if len(seen) == count:
            return sorted(seen)
    raise AssertionError(f"only reached {sorted(seen)} in {attempts} connections")


@contextlib.contextmanager
def client_on(base_url: str, node: str, attempts: int = 200) -> Iterator[httpx.Client]:
    """An HTTP client whose kept-alive connection is held by the worker `node` (uvicorn keeps an
    idle connection 5 s: use it at once)."""
    for _ in range(attempts):
        client = httpx.Client(base_url=base_url, timeout=30)
        try:
            if node_of(client) == node:
                yield client
                return
        finally:
            client.close()
    raise AssertionError(f"no connection reached worker {node} in {attempts} attempts")


def wait_until_serving(process: subprocess.Popen, base_url: str, log_path: Path, timeout: float = 60) -> None:
    """Until `eventgate serve` answers /healthz; fails with its log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log_path.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, f"eventgate serve did not become ready:\n{log_path.read_text()}"
        time.sleep(0.05)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, as a service manager stops `eventgate serve`; SIGKILL if it has not exited in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
