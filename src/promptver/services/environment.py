"""Capture the environment a model was trained or run in: Python, platform, installed packages,
CUDA and GPUs when present. Never environment variables (they hold secrets)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from importlib import metadata
from typing import Any


def _run(*args: str) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def capture_environment() -> dict[str, Any]:
    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name.lower()] = dist.version
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable_prefix": sys.prefix,
        "packages": dict(sorted(packages.items())),
    }
    if shutil.which("nvidia-smi"):
        gpus = _run("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader")
        if gpus:
            env["gpus"] = [line.strip() for line in gpus.splitlines()]
    if shutil.which("nvcc"):
        out = _run("nvcc", "--version")
        if out:
            env["cuda"] = out.splitlines()[-1].strip()
    return env
