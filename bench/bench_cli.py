"""Whole-process speed: `promptver get NAME@production` and `import promptver`.

Run: ``python bench/bench_cli.py [--runs N]``. Sets up a registry with one released pairing in a temp
folder through the CLI itself, then times fresh processes (wall time, 20 runs by default) and checks
that `get` imports neither SQLAlchemy, litellm nor Textual. Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import table  # bench/figures.py

PROMPT = "support-reply"
REF = f"{PROMPT}@production"
HEAVY = ("sqlalchemy", "litellm", "textual")
PROMPT_YAML = """\
name: support-reply
messages:
  - role: system
    content: You are a support agent for {{ company }}.
  - role: user
    content: "{{ question }}"
"""
SYS_MODULES_PROBE = """\
import json, sys
sys.argv = ["promptver", "get", %r]
from promptver.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print("\\n@@probe@@" + json.dumps({"code": code, "heavy": heavy, "modules": len(sys.modules)}))
"""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PROMPTVER_DB", "PYTHONPROFILEIMPORTTIME")}
    env["PROMPTVER_ACTOR"] = "bench"
    return env


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def console_script() -> str:
    here = Path(sys.executable).parent / "promptver"
    found = str(here) if here.exists() else shutil.which("promptver")
    if not found:
        raise SystemExit("the promptver console script is not installed (pip install -e .)")
    return found


def set_up(cli: str, folder: Path) -> str:
    """An initialised registry with prompt/1 + model/1 paired and labelled production."""
    run([cli, "init", "--no-examples"], folder)
    (folder / "prompts").mkdir(exist_ok=True)
    (folder / "prompts" / f"{PROMPT}.yaml").write_text(PROMPT_YAML)
    run([cli, "prompt", "push", f"prompts/{PROMPT}.yaml", "-m", "bench"], folder)
    run([cli, "model", "add", "support-llm", "--model", "openai/gpt-4o-2024-08-06"], folder)
    pairing = run([cli, "pair", f"{PROMPT}/1", "support-llm/1"], folder).strip().splitlines()[-1]
    run([cli, "label", "set", PROMPT, "production", pairing, "--reason", "bench"], folder)
    return pairing


def wall_times(args: list[str], cwd: Path, runs: int, warmup: int = 2) -> list[int]:
    for _ in range(warmup):
        run(args, cwd)
    samples: list[int] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run(args, cwd)
        samples.append(time.perf_counter_ns() - start)
    return samples


def probe_modules(folder: Path) -> dict[str, object]:
    out = run([sys.executable, "-c", SYS_MODULES_PROBE % (REF, HEAVY)], folder)
    return json.loads(out.rsplit("@@probe@@", 1)[1])


def top_imports(folder: Path, count: int = 6) -> list[tuple[int, str]]:
    """The slowest top-level imports of `get` by cumulative time (python -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptver.cli.main", "get", REF],
                          cwd=folder, env=child_env(), capture_output=True, text=True,
                          check=False)
    found: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if not name.startswith("  "):  # a top-level import (cumulative includes its children)
                found.append((int(parts[1]), name.strip()))
    return sorted(found, reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command (default 20)")
    args = parser.parse_args()
    cli = console_script()
    print(f"promptver CLI benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.runs} runs each (after 2 warm-up runs)", flush=True)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="pv-bench-cli-") as tmp:
        folder = Path(tmp)
        pairing = set_up(cli, folder)
        assert pairing in run([cli, "get", REF], folder)
        cases = [
            (f"promptver get {REF}", [cli, "get", REF], 0.3),
            ('python -c "import promptver"', [sys.executable, "-c", "import promptver"], 0.15),
            ('python -c "pass" (interpreter alone)', [sys.executable, "-c", "pass"], None),
        ]
        for what, argv, target in cases:
            samples = wall_times(argv, folder, args.runs)
            median, low = statistics.median(samples) / 1e9, min(samples) / 1e9
            met = "-" if target is None else ("yes" if median < target else "NO")
            rows.append([what, f"{median:.3f}", f"{low:.3f}", "-" if target is None else f"< {target:g}", met])
        probe = probe_modules(folder)
        imports = top_imports(folder)
    header = ["command", "median s", "min s", "target s", "met"]
    print()
    table([header, *rows])
    heavy = probe["heavy"]
    print(f"\n`get` exit code {probe['code']}, {probe['modules']} modules loaded; "
          f"heavy modules imported: {', '.join(heavy) if heavy else 'none'} "
          f"(target: none of {', '.join(HEAVY)}) -> {'met' if not heavy else 'NOT met'}")
    print("slowest top-level imports of `get` (cumulative, python -X importtime):")
    for micros, name in imports:
        print(f"  {micros / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
