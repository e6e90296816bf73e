"""`promptver serve` under load: label resolves per second and latency percentiles, from wrk.

Starts a server on 127.0.0.1 over a fresh SQLite registry with one released pairing and a
fetch-only token, then runs wrk (Debian package `wrk`) against /v1/resolve for a fixed time.
Target: at least 2,000 resolves/s with p99 under 20 ms on a 2-core machine.

    python bench/bench_server.py [--workers 2] [--connections 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk): nothing measured")
        return 0
    from server_fixture import free_port, seed

    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite:///{folder}/registry.db"
        tokens, _ = seed(db_url)
        port = free_port()
        env = {**os.environ, "PROMPTVER_DB": db_url}
        server = subprocess.Popen([sys.executable, "-m", "promptver.cli.main", "serve", "--port", str(port),
                                   "--workers", str(args.workers), "--log-level", "warning"], env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            script = Path(folder) / "auth.lua"
            script.write_text(f'wrk.headers["Authorization"] = "Bearer {tokens["fetch"]}"\n')
            target = f"{url}/v1/resolve?ref=support-reply@production"
            subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-s", str(script), target], capture_output=True)  # warm-up
            out = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
                                  "-s", str(script), target], capture_output=True, text=True).stdout
        finally:
            server.terminate()
            server.wait(timeout=10)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(f"promptver serve: {args.workers} workers, wrk 1 thread x {args.connections} connections, "
          f"{args.seconds} s, {os.cpu_count()} CPUs")
    print(f"  resolves/s   {rps:8.0f}   target >= 2000   {'met' if rps >= 2000 else 'NOT met'}")
    for p in ("50", "90", "99"):
        print(f"  p{p:<10} {percentiles.get(p, '?'):>8}" + ("   target < 20ms" if p == "99" else ""))
    print(f"  non-2xx      {errors.group(1) if errors else 0}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
