"""A private, throw-away PostgreSQL server for tests that must stop and start the database.

The shared PostgreSQL of EVENTGATE_TEST_DATABASE_URL (port 5432) is never touched: this module
runs its own cluster with `initdb` and `pg_ctl` in a fresh temporary directory, on a free port
of 127.0.0.1 only, with trust authentication, so a test can kill it (`stop("immediate")`, a
crash) or shut it down (`stop("fast")`) and `start()` it again on the same port and data.

    with ScratchPostgres.create() as pg:      # initdb + start
        url = pg.create_database()            # or pg.url (the `postgres` database)
        pg.stop("immediate")
        pg.start()

Binaries: $EVENTGATE_TEST_PG_BIN if set, else the newest /usr/lib/postgresql/*/bin, else
`initdb` on PATH. PostgreSQL refuses to run as root, so when the tests run as root the cluster
runs as the `postgres` OS user (through `runuser`, else `su`), and its directory is created
outside pytest's tmp directory (which is private to root) and given to that user.

Without the binaries the test is skipped with the reason, except under CI=true, where it fails:
CI must run these tests.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED_POSTGRES_PORT = 5432
START_TIMEOUT_SECONDS = 60
RUN_AS_WHEN_ROOT = "postgres"

_running: list["ScratchPostgres"] = []


def _unavailable(reason: str) -> None:
    """Skip, or fail under CI=true: CI must be able to run the fault tests."""
    if IN_CI:
        pytest.fail(f"CI=true and the scratch PostgreSQL cannot run: {reason}", pytrace=False)
    pytest.skip(f"scratch PostgreSQL unavailable: {reason}")


def find_postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    candidates: list[Path] = []
    if os.environ.get("EVENTGATE_TEST_PG_BIN"):
        candidates.append(Path(os.environ["EVENTGATE_TEST_PG_BIN"]))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
        return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    candidates.extend(Path(p).parent for p in found)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _run_as_prefix() -> tuple[list[str], str | None]:
    """How to run a command as a user PostgreSQL accepts, and that user (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError:
        _unavailable(f"running as root and there is no {RUN_AS_WHEN_ROOT!r} OS user to run PostgreSQL as")
    if shutil.which("runuser"):
        return ["runuser", "-u", RUN_AS_WHEN_ROOT, "--"], RUN_AS_WHEN_ROOT
    if shutil.which("su"):
        return ["su"], RUN_AS_WHEN_ROOT  # su -s /bin/sh -c '<command>' postgres, built in _command
    _unavailable("running as root and neither runuser nor su is available")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert port != SHARED_POSTGRES_PORT
    return port


class ScratchPostgres:
    """One private cluster. Use `create()`; always `close()` (or use it as a context manager)."""

    def __init__(self, bin_dir: Path, root: Path, port: int, prefix: list[str], user: str | None) -> None:
        self.bin_dir = bin_dir
        self.root = root  # owned by the cluster's OS user
        self.data_dir = root / "data"
        self.log_file = root / "postgres.log"
        self.port = port
        self._prefix = prefix
        self._user = user
        self.running = False

    # -- building -------------------------------------------------------------------------

    @classmethod
    def create(cls, *, start: bool = True) -> "ScratchPostgres":
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            _unavailable("no initdb/pg_ctl found (looked at $EVENTGATE_TEST_PG_BIN, "
                         "/usr/lib/postgresql/*/bin and PATH); install the PostgreSQL server package")
        assert bin_dir is not None
        prefix, user = _run_as_prefix()
        root = Path(tempfile.mkdtemp(prefix="eventgate-scratch-pg-"))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chmod(root, 0o700)
        pg = cls(bin_dir, root, _free_port(), prefix, user)
        _running.append(pg)
        try:
            pg._initdb()
            if start:
                pg.start()
        except BaseException:
            pg.close()
            raise
        return pg

    def _command(self, args: Sequence[str], *, timeout: float = START_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        if self._prefix == ["su"]:
            argv = ["su", "-s", "/bin/sh", "-c", " ".join(shlex.quote(a) for a in argv), str(self._user)]
        else:
            argv = [*self._prefix, *argv]
        # cwd: the cluster's user may not be allowed into the tests' working directory.
        return subprocess.run(argv, cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C", "LANG": "C"})

    def _check(self, what: str, result: subprocess.CompletedProcess) -> None:
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                               f"--- {self.log_file} ---\n{self.log_tail()}")

    def _initdb(self) -> None:
        result = self._command([self.bin_dir / "initdb", "-D", self.data_dir, "-U", "postgres",
                                "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"])
        self._check("initdb", result)
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# eventgate scratch cluster\n"
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 60\n"
                "shared_buffers = 16MB\n"
                "fsync = on\n"
                "logging_collector = off\n"
            )

    # -- running --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self.running:
            return
        result = self._command([self.bin_dir / "pg_ctl", "-D", self.data_dir, "-l", self.log_file,
                                "-w", "-t", str(START_TIMEOUT_SECONDS), "start"],
                               timeout=START_TIMEOUT_SECONDS + 10)
        self._check("pg_ctl start", result)
        self.running = True
        self._wait_accepting()

    def stop(self, mode: str = "immediate") -> None:
        """immediate: a crash (no checkpoint, connections cut); fast: a clean shutdown."""
        assert mode in ("immediate", "fast", "smart"), mode
        if not self.running:
            return
        result = self._command([self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", mode, "-w",
                                "-t", str(START_TIMEOUT_SECONDS), "stop"], timeout=START_TIMEOUT_SECONDS + 10)
        self._check(f"pg_ctl stop -m {mode}", result)
        self.running = False
        # The port must refuse connections now, or the test would not be testing an outage.
        deadline = time.monotonic() + 10
        while self._accepts_tcp():
            assert time.monotonic() < deadline, f"port {self.port} still accepts connections after stop"
            time.sleep(0.05)

    def _accepts_tcp(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _wait_accepting(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"scratch PostgreSQL did not accept connections:\n{self.log_tail()}")
                time.sleep(0.05)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"eventgate_fault_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- cleaning up ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the server (as a crash: nothing to keep) and delete its directory. Idempotent."""
        try:
            if self.running or (self.data_dir / "postmaster.pid").exists():
                self.running = True
                try:
                    self.stop("immediate")
                except Exception:  # noqa: BLE001 — last resort below
                    self._kill_postmaster()
        finally:
            self.running = False
            shutil.rmtree(self.root, ignore_errors=True)
            if self in _running:
                _running.remove(self)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 9)
        except (OSError, ValueError, IndexError):
            pass

    def __enter__(self) -> "ScratchPostgres":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    for pg in list(_running):
        pg.close()
