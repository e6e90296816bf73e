"""Runtime client speed: a cached ``Client.get``, an uncached local get, a remote get.

Run: ``python bench/bench_client.py [--quick]``. The registry is a fresh one in a temp folder (the
embedded SQLite registry), snapshots go to a temp folder too; ``PROMPTVER_DB``, ``PROMPTVER_URL`` and
``PROMPTVER_TOKEN`` are ignored. The remote figures use a real ``promptver serve`` subprocess when it
starts, and an in-process stub of the same contract otherwise. Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

for name in ("PROMPTVER_DB", "PROMPTVER_URL", "PROMPTVER_TOKEN"):
    os.environ.pop(name, None)

from promptver import Client
from promptver.services import labels
from promptver.services.registry import Registry
from promptver.templates.specs import PromptSpec

from figures import table  # bench/figures.py

REF = "support-reply@production"


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def measure(fn: Callable[[], object], n: int, batch: int = 1, before: Callable[[], object] | None = None,
            warmup: int = 20) -> tuple[float, float]:
    """Median and p99 in microseconds per call: ``n`` samples, each timing ``batch`` calls of ``fn``
    (``before`` runs untimed ahead of each sample)."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    samples = []
    for _ in range(n):
        if before:
            before()
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return statistics.median(samples), p99(samples)


def seed(url: str) -> None:
    with Registry.open(url, actor="bench") as reg:
        reg.push_prompt(PromptSpec("support-reply", [
            {"role": "system", "content": "You are a support agent for {{ company }}."},
            {"role": "user", "content": "{{ question }}"}]))
        reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0.2})
        labels.move(reg, "support-reply", "production", reg.pair("support-reply/1", "support-llm/1").pairing.id)


def start_serve(db_url: str) -> tuple[subprocess.Popen[str], str, str]:
    """A `promptver serve` subprocess with a fetch-only token; raises if it does not come up."""
    import httpx

    from promptver.services import access

    with Registry.open(db_url, actor="bench") as reg:
        access.add_user(reg, "app", "viewer")
        token = access.create_token(reg, "app", fetch_only=True)[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "promptver.cli.main", "serve", "--port", str(port),
                             "--log-level", "warning"], env={**os.environ, "PROMPTVER_DB": db_url},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("promptver serve exited")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, url, token
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("promptver serve did not start in 30 s")


def start_stub(db_url: str) -> tuple[ThreadingHTTPServer, str]:
    """The /v1/resolve contract in this process (shares the GIL with the client: a pessimistic figure)."""
    with Registry.open(db_url, actor="bench") as reg:
        body = json.dumps(reg.resolve(REF).to_json()).encode()
        etag = '"' + reg.resolve(REF).etag + '"'

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body go out in two packets: +40 ms per request

        def do_GET(self) -> None:
            if parse_qs(urlsplit(self.path).query).get("ref") != [REF]:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    scale = 5 if args.quick else 1
    rows: list[tuple[str, int, float, float, str]] = []

    def row(what: str, n: int, figures: tuple[float, float], target_us: float | None) -> None:
        rows.append((what, n, *figures, "-" if target_us is None else f"< {target_us:g} us"))

    with tempfile.TemporaryDirectory(prefix="pv-bench-client-") as tmp:
        os.environ["PROMPTVER_SNAPSHOT_DIR"] = str(Path(tmp) / "snapshots")
        (Path(tmp) / ".promptver").mkdir()
        db_url = f"sqlite:///{Path(tmp) / '.promptver' / 'registry.db'}"
        seed(db_url)
        with Client(db=db_url) as pv:
            pv.get(REF)
            row("cached Client.get (local)", 20000 // scale, measure(lambda: pv.get(REF), 20000 // scale, batch=100), 5)
            pair = pv.get(REF)
            row("pair.completion_kwargs(...)", 5000 // scale,
                measure(lambda: pair.completion_kwargs(company="Acme", question="Where is my order?"), 5000 // scale),
                None)
            n = 5000 // scale
            row("uncached Client.get (local)", n, measure(lambda: pv.get(REF), n, before=pv.clear), 300)
            reader = pv.source._db.reader  # type: ignore[union-attr]

            def forget_all() -> None:  # the client's memory and the reader's row cache
                pv.clear()
                reader._immutable.clear()

            row("uncached Client.get (local, no row cache)", n, measure(lambda: pv.get(REF), n, before=forget_all), 300)
        with Client(db=db_url, snapshot=False) as pv:
            row("uncached Client.get (local, no snapshot)", n, measure(lambda: pv.get(REF), n, before=pv.clear), 300)

        def first_get() -> None:
            with Client(db=db_url, snapshot=False) as fresh:
                fresh.get(REF)

        row("new Client(...) + first get (opens the database)", 200 // scale, measure(first_get, 200 // scale, warmup=5),
            None)

        n = 1000 // scale
        try:
            proc, url, token = start_serve(db_url)
        except Exception as exc:  # the server is optional here: report and carry on with the stub
            print(f"promptver serve not measured: {type(exc).__name__}: {exc}")
        else:
            try:
                with Client(url=url, token=token) as pv:
                    row("uncached Client.get (promptver serve)", n, measure(lambda: pv.get(REF), n, before=pv.clear), None)
                    row("cached Client.get (promptver serve)", 20000 // scale,
                        measure(lambda: pv.get(REF), 20000 // scale, batch=100), 5)
            finally:
                proc.terminate()
                proc.wait(10)
        server, url = start_stub(db_url)
        try:
            with Client(url=url) as pv:
                row("uncached Client.get (in-process stub)", n, measure(lambda: pv.get(REF), n, before=pv.clear), None)
        finally:
            server.shutdown()
            server.server_close()

    print(f"promptver client benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    headers = ("figure", "n", "median us", "p99 us", "target", "met")
    table([headers, *[(w, str(n), f"{med:.2f}", f"{p:.2f}", t,
                       "-" if t == "-" else ("yes" if med < float(t.split()[1]) else "NO")) for w, n, med, p, t in rows]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
