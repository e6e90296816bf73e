"""A cached 1,000-call `promptver eval` through a local server, against the same run on a local SQLite
registry (issue 11: target, within 2x).

Run: ``python bench/bench_eval_remote.py [--cases 250] [--jobs 50] [--runs 5]``.

The workload is bench_eval.py's (250 cases x 2 prompt versions x 2 model versions = 1,000 calls, the
OpenAI stub in its own process). Two projects are set up through the CLI: one on its own SQLite
registry, one whose registry (another SQLite file) is served by `promptver serve` on 127.0.0.1 (one
worker), with an editor's token. Each project runs the suite once uncached (every answer then in
its registry's response cache, every result stored), then ``--runs`` cached runs are timed, from
spawn to exit, of ``promptver eval SUITE --json``: locally, and with PROMPTVER_URL/PROMPTVER_TOKEN
(calls made by the client, results sent to the server in batches). Prints both medians and their
ratio next to the target; always exits 0.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_eval import check_report, child_env, console_script, run, set_up, timed  # bench/bench_eval.py
from figures import table  # bench/figures.py

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`promptver serve` over the project's registry; (the process, its URL)."""
    port = free_port()
    env = {**child_env(), "PROMPTVER_DB": f"sqlite:///{folder / '.promptver' / 'registry.db'}"}
    server = subprocess.Popen([console_script(), "serve", "--port", str(port), "--log-level", "warning"], cwd=folder,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the server did not start in 30 s")


def timed_runs(cli: str, folder: Path, suite: str, jobs: int, runs: int, calls: int,
               remote: dict[str, str] | None) -> list[float]:
    """The walls of ``runs`` cached runs (after one uncached run that fills the cache)."""
    args = [cli, "eval", suite, "-j", str(jobs), "--json"]
    walls = []
    for i in range(runs + 1):
        wall, _, code, out, err = timed(args, folder) if not remote else _timed_remote(args, folder, remote)
        problem = check_report(out, calls, cached=i > 0)
        if code != 0 or problem:
            raise RuntimeError(f"run {i} exited {code}: {problem or err.strip()[-300:]}")
        if i:
            walls.append(wall)
    return walls


def _timed_remote(args: list[str], folder: Path, remote: dict[str, str]) -> tuple[float, float, int, str, str]:
    """``timed`` with PROMPTVER_URL and PROMPTVER_TOKEN in the child's environment."""
    import bench_eval

    original = bench_eval.child_env
    bench_eval.child_env = lambda: {**original(), **remote}  # type: ignore[assignment]
    try:
        return timed(args, folder)
    finally:
        bench_eval.child_env = original  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=250)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    calls = args.cases * 4
    cli = console_script()
    stub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_stub.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    server = None
    try:
        url = (stub.stdout.readline() if stub.stdout else "").strip()
        with tempfile.TemporaryDirectory(prefix="pv-bench-remote-") as tmp:
            local, served = Path(tmp) / "local", Path(tmp) / "served"
            for folder in (local, served):
                folder.mkdir()
                suite = set_up(cli, folder, url, args.cases, args.jobs)
            run([cli, "user", "add", "ci", "--role", "editor"], served)
            token = json.loads(run([cli, "token", "create", "--user", "ci", "--role", "editor", "--name", "bench",
                                    "--json"], served))["token"]
            server, server_url = serve(served)
            print(f"cached eval of {calls:,} calls ({args.cases} cases x 2 prompt versions x 2 model versions), "
                  f"-j {args.jobs}, median of {args.runs} runs after an uncached one\n")
            on_sqlite = timed_runs(cli, local, suite, args.jobs, args.runs, calls, None)
            through = timed_runs(cli, served, suite, args.jobs, args.runs, calls,
                                 {"PROMPTVER_URL": server_url, "PROMPTVER_TOKEN": token})
        local_s, remote_s = statistics.median(on_sqlite), statistics.median(through)
        ratio = remote_s / local_s
        table([["figure", "median", "target", "met"],
               ["cached run, local SQLite registry", f"{local_s:.2f} s", "-", "-"],
               ["cached run, through a local server", f"{remote_s:.2f} s", "-", "-"],
               ["server / local", f"{ratio:.2f}x", f"<= {TARGET_RATIO:.1f}x",
                "yes" if ratio <= TARGET_RATIO else "NO"]])
    except RuntimeError as exc:
        print(f"not measured: {exc}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if stub.stdin:
            stub.stdin.close()
        stub.wait(10)


if __name__ == "__main__":
    main()
