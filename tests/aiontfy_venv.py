"""A virtual environment with the aiontfy client (Home Assistant's ntfy library), pinned, for
tests that drive eventgate with a real ntfy client. aiontfy needs Python 3.12 or later, which
the suite itself does not: the environment is made with a Python 3.12 found on the machine.

    python -m tests.aiontfy_venv      make it (the Makefile's `aiontfy-venv` and CI do this)

Without Python 3.12 the tests that need it are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-aiontfy"
# aiontfy and everything it installs, pinned.
PINS = (
    "aiontfy==0.8.6", "aiohappyeyeballs==2.7.1", "aiohttp==3.14.5", "aiosignal==1.4.0", "attrs==26.1.0",
    "frozenlist==1.8.0", "idna==3.20", "mashumaro==3.23", "multidict==7.2.1", "orjson==3.13.0",
    "propcache==0.5.4", "typing_extensions==4.16.0", "yarl==1.25.1",
)
STAMP = VENV / ".pins"


class NoPython312(Exception):
    pass


def python312() -> str:
    """A Python ≥ 3.12: $EVENTGATE_PYTHON312, python3.12/3.13 on PATH, or one under ~/.pyenv."""
    candidates = [os.environ.get("EVENTGATE_PYTHON312", "")]
    candidates += [shutil.which(name) or "" for name in ("python3.12", "python3.13")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python")))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and _is_312(candidate):
            return candidate
    raise NoPython312("aiontfy needs Python 3.12 or later; none was found (set EVENTGATE_PYTHON312)")


def _is_312(python: str) -> bool:
    """It runs (a pyenv shim may not) and is 3.12 or later."""
    try:
        return subprocess.run([python, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def aiontfy_python() -> Path:
    """The environment's python, made (or remade when the pins changed) on first use."""
    python = VENV / "bin" / "python"
    wanted = "\n".join(PINS)
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([python312(), "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
                   check=True)
    STAMP.write_text(wanted)
    return python


if __name__ == "__main__":
    try:
        print(aiontfy_python())
    except NoPython312 as error:
        sys.exit(str(error))
