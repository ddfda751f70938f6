"""The wheel is what a deployment installs (docs/deploy.md): built from this tree, installed with
pip into a fresh virtualenv with the pinned dependencies, it migrates, serves the producer routes
and the dashboard, with nothing from the source tree on its path.

The build and the install fetch from the package registry (setuptools for the isolated build,
the dependencies pinned by requirements.lock). Away from CI an unreachable registry skips the
test; under CI=true it fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.processes import stop, wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "eventgate"
REGISTRY_UNREACHABLE = ("No matching distribution found", "NewConnectionError", "Network is unreachable",
                        "Temporary failure in name resolution", "Could not fetch URL")


def _environment() -> dict[str, str]:
    """The caller's environment without anything that would point at this tree or its data."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("EVENTGATE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=240)
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    if not IN_CI and any(sign in output for sign in REGISTRY_UNREACHABLE):
        pytest.skip(f"the package registry is unreachable: {output[-400:]}")
    raise AssertionError(f"{' '.join(args)} failed:\n{output[-4000:]}")


def _packaged_sources() -> set[str]:
    """Every file the installed server reads besides its modules: migrations and the dashboard."""
    wanted = set()
    for folder in (PACKAGE / "migrations", PACKAGE / "static"):
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                wanted.add(path.relative_to(PACKAGE.parent).as_posix())
    return wanted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _build_wheel(tmp_path: Path) -> Path:
    # A copy of the tree, so that the build leaves nothing behind here (build/, *.egg-info) and no
    # earlier build's leftovers can slip into the wheel.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    dist = tmp_path / "dist"
    _pip(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source),
         cwd=tmp_path)
    (wheel,) = dist.glob("eventgate-*.whl")
    return wheel


def test_the_wheel_installs_into_a_fresh_virtualenv_and_serves(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = _packaged_sources() - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert any(name.endswith("entry_points.txt") for name in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    _pip(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--constraint",
         str(ROOT / "requirements.lock"), str(wheel), cwd=tmp_path)

    eventgate = str(venv / "bin" / "eventgate")
    work = tmp_path / "work"
    work.mkdir()
    data_dir = str(tmp_path / "state")

    def run(*args: str) -> str:
        done = subprocess.run([eventgate, *args], cwd=work, env=_environment(), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"eventgate {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import eventgate; print(eventgate.__file__)"],
                               cwd=work, env=_environment(), capture_output=True, text=True, timeout=60)
    assert installed.stdout.startswith(str(venv)), installed.stdout + installed.stderr

    run("migrate", "--data-dir", data_dir)
    channel_id = json.loads(run("channel", "create", "--data-dir", data_dir, "--name", "x",
                                "--password", "wheel-password", "--json"))["channel_id"]

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([eventgate, "serve", "--workers", "1", "--port", str(port), "--data-dir", data_dir],
                                   cwd=work, env=_environment(), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, base_url, log_path)
        created = httpx.post(f"{base_url}/v1/channel/{channel_id}/event/create", timeout=10,
                             json={"password": "wheel-password", "event_type": "door_open", "severity": "high"})
        assert created.status_code == 200, created.text
        assert created.json()["event_id"]

        page = httpx.get(f"{base_url}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>eventgate</title>" in page.text
        script = httpx.get(f"{base_url}/static/app.js", timeout=10)
        assert script.status_code == 200 and script.text
    finally:
        stop(process)
    assert not (work / "data").exists(), "a command ignored --data-dir"
