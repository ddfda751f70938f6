"""Extract the curl examples of a seed document and run them verbatim with the real curl.

Seed documents show shell commands as they were published: some flattened onto one line
(`\\ -H` where the original had a line continuation). We restore the continuations, replace
the host (and placeholder ids the reader is meant to substitute), and run them in bash.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
if not SEEDS.is_dir():  # CI clones the repo with shared/ beside it
    SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


def seed_text(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text()


def curl_commands(text: str) -> list[str]:
    """Every `curl …` command in a seed, one string each, as a shell would read them."""
    commands: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        start = line.find("curl ")
        if start == -1:
            i += 1
            continue
        command = line[start:]
        # A flattened example ends where the documentation text resumes after the closing quote.
        flat = re.match(r"(curl .*?\}\s*')", command)
        if flat:
            commands.append(flat.group(1).replace(" \\ ", " \\\n"))
            i += 1
            continue
        collected = [command]
        quote_open = command.count("'") % 2 == 1
        while (collected[-1].rstrip().endswith("\\") or quote_open) and i + 1 < len(lines):
            i += 1
            collected.append(lines[i])
            quote_open ^= lines[i].count("'") % 2 == 1
        commands.append("\n".join(collected))
        i += 1
    return commands


def run_curl(command: str) -> tuple[int, str]:
    """Run one command in bash; returns (HTTP status, body). curl writes the status last."""
    assert shutil.which("curl"), "curl is needed for the seed conformance tests"
    script = command + " -s -w '\\n%{http_code}'"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body
