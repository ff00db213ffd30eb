"""Run the `assistant` command line as a user would: a real subprocess, no inherited
OpenAI or Chroma settings from the developer's shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str | bytes,
    cwd: Path,
    env_extra: dict[str, str] | None = None,
    stdin: str | bytes | None = None,
    text: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHROMA_"))}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=text,
        timeout=timeout,
    )
