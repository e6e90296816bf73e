"""`promptver tui` on a big registry: 1,000 prompts with 100 versions each (100,000 versions).

Run: ``python bench/bench_tui.py [--prompts 1000] [--versions 100] [--switches 30] [--runs 5]``.

The registry is built once in a temp folder: the first version of each prompt through the API
(so every stored value is real), the other 99 by copying it with raw SQL in one transaction (the
guards refuse UPDATE and DELETE, not INSERT), and every tenth prompt released to production.

- ``first paint, in-process``: ``PromptverApp(registry).run_test(size=(80, 24))`` from creating
  the app until the prompt list and the first prompt's 100 versions are on the screen (target:
  under 1 s). The registry is opened anew each run (no warm row cache).
- ``first paint, process``: ``promptver tui`` started in a real terminal (tmux, 80x24) until the
  first prompt's history title is on the screen, polled every 10 ms with ``tmux capture-pane``:
  what a user waits for, interpreter start and imports included.
- ``switch prompts, Down key in tmux``: in that terminal, the Down key sent with ``tmux send-keys``
  until the next prompt's history title is on the screen (target: under 100 ms; polling adds about
  3-8 ms); median, 90th percentile and max over ``--switches`` keys x ``--runs``.
- ``switch prompts, Pilot``: the same in-process, a key press through Pilot until the next
  prompt's versions are shown and the screen has settled. Pilot's own ``press`` waits about 43 ms
  and ``pause`` 21 ms even for a key that does nothing, so this overstates the switch; it is
  printed to compare changes, not against the target.

Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from promptver.services.registry import Registry  # noqa: E402
from promptver.templates.specs import PromptSpec  # noqa: E402

from figures import table  # bench/figures.py


def build(folder: Path, prompts: int, versions: int) -> str:
    path = folder / ".promptver" / "registry.db"
    path.parent.mkdir(parents=True)
    url = f"sqlite:///{path}"
    reg = Registry.open(url, actor="bench")
    try:
        reg.add_model("bench-llm", "promptver/echo")
        for i in range(prompts):
            name = f"prompt-{i:04d}"
            reg.push_prompt(PromptSpec(name, [{"role": "system", "content": f"You help with topic {i}. {{{{ q }}}}"}],
                                       tags=[f"team-{i % 7}"]), message="first")
            if i % 10 == 0:
                reg.move_label(name, "production", reg.pair(f"{name}/1", "bench-llm/1").pairing.id)
    finally:
        reg.close()
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        firsts = conn.execute("SELECT * FROM prompt_versions ORDER BY id").fetchall()
        cols = firsts[0].keys()
        next_id = conn.execute("SELECT max(id) FROM prompt_versions").fetchone()[0] + 1
        rows = []
        for first in firsts:
            parent = first["id"]
            for number in range(2, versions + 1):
                row = dict(first, id=next_id, version=number, parent_id=parent, message=f"bulk {number}",
                           content_hash=hashlib.sha256(f"{first['prompt_id']}-{number}".encode()).hexdigest())
                rows.append(tuple(row[c] for c in cols))
                parent, next_id = next_id, next_id + 1
        with conn:
            conn.executemany(f"INSERT INTO prompt_versions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                             rows)
    finally:
        conn.close()
    return url


async def _in_process(url: str, switches: int) -> tuple[float, list[float]]:
    from promptver.tui.app import PromptverApp
    from promptver.tui.browse import BrowseScreen

    reg = Registry.open(url, actor="bench")
    try:
        started = time.perf_counter()
        app = PromptverApp(reg)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = None
            while True:
                screen = app.screen
                if isinstance(screen, BrowseScreen) and screen.name_shown and screen.versions:
                    break
                await asyncio.sleep(0.002)
            first_paint = time.perf_counter() - started
            times = []
            names = [e["name"] for e in screen.entries]
            for k in range(switches):
                want = names[k + 1]
                t0 = time.perf_counter()
                await pilot.press("down")
                while screen.name_shown != want:
                    await asyncio.sleep(0.001)
                await pilot.pause()  # the table has been redrawn
                times.append(time.perf_counter() - t0)
            return first_paint, times
    finally:
        reg.close()


def in_terminal(folder: Path, switches: int, timeout: float = 20.0) -> tuple[float | None, list[float]]:
    """`promptver tui` in tmux (80x24): seconds until the first history title shows, then per
    Down key the seconds until the next prompt's history title shows."""
    if not shutil.which("tmux"):
        return None, []
    cli = Path(sys.executable).parent / "promptver"
    session = f"pvbench{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("PROMPTVER_DB", "PROMPTVER_URL", "TMUX")}

    def shows(text: str, since: float) -> float | None:
        while time.perf_counter() - since < timeout:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
            if text in screen:
                return time.perf_counter() - since
            time.sleep(0.005)  # each poll spawns tmux: polling harder would compete with the app
        return None

    started = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(folder),
                    f"{cli} tui"], env=env, check=True)
    try:
        first = shows("prompt prompt-0000: ", started)
        times: list[float] = []
        if first is None:
            return None, []
        time.sleep(0.3)
        for k in range(1, switches + 1):
            t0 = time.perf_counter()
            subprocess.run(["tmux", "send-keys", "-t", session, "Down"], check=True)
            took = shows(f"prompt prompt-{k:04d}: ", t0)
            if took is None:
                break
            times.append(took)
            time.sleep(0.05)  # a person's key repeat is slower than this
        return first, times
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pv-bench-tui-") as tmp:
        t0 = time.perf_counter()
        url = build(Path(tmp), args.prompts, args.versions)
        print(f"promptver tui benchmark: {args.prompts} prompts x {args.versions} versions "
              f"(built in {time.perf_counter() - t0:.1f} s); python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
              f"median of {args.runs} runs\n")
        paints, switch_times, terminal, key_times = [], [], [], []
        for _ in range(args.runs):
            paint, switches = asyncio.run(_in_process(url, args.switches))
            paints.append(paint)
            switch_times += switches
            first, keys = in_terminal(Path(tmp), args.switches)
            if first is not None:
                terminal.append(first)
            key_times += keys
        def p90(values: list[float]) -> float:
            return sorted(values)[int(0.9 * (len(values) - 1))]

        rows = [("measure", "median", "p90", "max", "target"),
                ("first paint, in-process (s)", f"{statistics.median(paints):.3f}", f"{p90(paints):.3f}",
                 f"{max(paints):.3f}", "< 1"),
                ("first paint, `promptver tui` in tmux (s)",
                 f"{statistics.median(terminal):.3f}" if terminal else "n/a",
                 f"{p90(terminal):.3f}" if terminal else "n/a", f"{max(terminal):.3f}" if terminal else "n/a", "< 1"),
                ("switch prompts, Down key in tmux (ms)",
                 f"{statistics.median(key_times) * 1000:.1f}" if key_times else "n/a",
                 f"{p90(key_times) * 1000:.1f}" if key_times else "n/a",
                 f"{max(key_times) * 1000:.1f}" if key_times else "n/a", "< 100"),
                ("switch prompts, Pilot press + pause (ms)", f"{statistics.median(switch_times) * 1000:.1f}",
                 f"{p90(switch_times) * 1000:.1f}", f"{max(switch_times) * 1000:.1f}", "")]
        table(rows)


if __name__ == "__main__":
    main()
