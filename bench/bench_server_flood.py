"""`promptver serve` under an `at` flood: the worker's memory when one fetch-only token resolves a
~900 KB prompt at thousands of distinct times (issue 14: one worker grew to 3.7 GB).

Starts a server (one worker, so the server process is the worker) on 127.0.0.1 over a fresh
SQLite registry holding two ~900 KB prompt versions, each paired and released to `production`
in turn; then, with a fetch-only token, resolves `NAME@production` at 4,096 distinct `at` times
(spread over both label events, each written differently: fractions of seconds, offsets) from
4 threads, and reads the worker's RSS (/proc) before and after. Target: growth under 50 MB.

    python bench/bench_server_flood.py [--requests 4096] [--threads 4] [--kb 900]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
sys.path.insert(0, str(HERE / "bench"))
TARGET_MB = 50


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seed(db_url: str, kb: int) -> tuple[str, datetime, datetime]:
    """Two big prompt versions released in turn; a fetch-only token. Returns the token and the two release times."""
    from promptver.services import access
    from promptver.services.registry import Registry
    from promptver.templates.specs import PromptSpec

    filler = ("lorem ipsum dolor sit amet " * (kb * 1024 // 27 + 1))[: kb * 1024]
    with Registry.open(db_url, actor="bench") as reg:
        reg.add_model("llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0})
        times = []
        for n in (1, 2):
            reg.push_prompt(PromptSpec("big", [{"role": "system", "content": f"v{n} " + filler},
                                               {"role": "user", "content": "{{ question }}"}]))
            pairing = reg.pair(f"big/{n}", "llm/1").pairing.id
            times.append(reg.move_label("big", "production", pairing)[0].created_at)
            time.sleep(0.05)
        access.add_user(reg, "app", "viewer")
        token = access.create_token(reg, "app", fetch_only=True)[0]
    return token, times[0], times[1]


def distinct_times(first: datetime, second: datetime, count: int) -> list[str]:
    """``count`` distinct ISO times: half between the two releases, half after; offsets vary."""
    out = []
    for i in range(count):
        base = first + (second - first) / 2 if i % 2 else second + timedelta(hours=1)
        moment = base + timedelta(microseconds=i)
        zone = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))][i % 3]
        out.append(moment.astimezone(zone).isoformat())
    return out


def main() -> int:
    from figures import table
    from server_fixture import free_port

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--kb", type=int, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite:///{folder}/registry.db"
        token, first, second = seed(db_url, args.kb)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PROMPTVER_DB"}
        env["PROMPTVER_DB"] = db_url
        server = subprocess.Popen([sys.executable, "-m", "promptver.cli.main", "serve", "--port", str(port),
                                   "--workers", "1", "--log-level", "warning"], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:  # warm-up: both bodies once
                for at in distinct_times(first, second, 20):
                    assert client.get("/v1/resolve", params={"ref": "big@production", "at": at}).status_code == 200
            before = rss_mb(server.pid)
            times = distinct_times(first, second, args.requests + 20)[20:]
            statuses: dict[int, int] = {}
            peak = [before]
            lock = threading.Lock()

            def flood(part: list[str]) -> None:
                with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                    for i, at in enumerate(part):
                        status = client.get("/v1/resolve", params={"ref": "big@production", "at": at}).status_code
                        with lock:
                            statuses[status] = statuses.get(status, 0) + 1
                            if i % 64 == 0:
                                peak[0] = max(peak[0], rss_mb(server.pid))

            started = time.perf_counter()
            threads = [threading.Thread(target=flood, args=(times[k::args.threads],)) for k in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    growth = after - before
    print(f"{args.requests} resolves of a {args.kb} KB prompt at distinct `at` times in {elapsed:.1f} s "
          f"(statuses: {statuses}), one fetch-only token, one worker")
    table([["figure", "value", "target", "met"],
           ["worker RSS before", f"{before:.0f} MB", "", ""],
           ["worker RSS after", f"{after:.0f} MB", "", ""],
           ["worker RSS peak during", f"{peak[0]:.0f} MB", "", ""],
           ["growth", f"{growth:+.0f} MB", f"< {TARGET_MB} MB", "yes" if growth < TARGET_MB else "NO"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
