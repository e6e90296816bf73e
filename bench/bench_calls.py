"""Eval call layer speed: 1,000 calls at concurrency 50 to a local OpenAI-compatible stub answering
after 50 ms, through the fast path (aiohttp, evals/calls_openai.py) and through litellm.

Run: ``python bench/bench_calls.py [--calls 1000] [--jobs 50] [--latency 0.05] [--runs 3]``.
The stub (tests/openai_stub.py) runs in its own process, so it does not compete with the client
for the GIL (it does share the machine's cores). Each measured path runs in a fresh interpreter:

- ``whole process``: from spawning ``python`` to its exit, less the second batch: interpreter
  start, imports, 1,000 calls, exit;
  the context target is under 2.5 s for 1,000 calls at -j 50 (the floor is calls / jobs x latency = 1 s);
- ``first 1,000``: the calls alone, in that fresh process (connections are opened here);
- ``next 1,000``: a second batch in the same process, warm: wall time, and CPU per call;
- ``import``: the time to import what the path needs (aiohttp; the openai package; litellm) before
  the first call.

Two reference rows: aiohttp alone (no promptver: the transport's own cost) and the openai package's
``AsyncOpenAI`` posting the same body (the fast path's previous transport), to show what the call
layer adds and what it saved. Also: ``python -c "import promptver.evals.calls"`` (it must load
neither aiohttp, openai nor litellm) and the in-process echo path. Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import table  # bench/figures.py

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-0123456789abcdefghij"
MESSAGES = [{"role": "system", "content": "You are a friendly support agent for Acme. Answer briefly."},
            {"role": "user", "content": "Where is my order A-1001? It has been a week."}]
PARAMS = {"temperature": 0, "max_tokens": 300, "seed": 7}


# -- workers (each in a fresh interpreter) ---------------------------------------------------------
def worker(path: str, url: str, calls: int, jobs: int) -> None:
    started = time.perf_counter()
    if path == "aiohttp":
        import aiohttp  # noqa: F401
    elif path == "openai-sdk":
        import openai  # noqa: F401
    else:
        from promptver.evals import calls as layer

        if path == "openai":
            from promptver.evals import calls_openai  # noqa: F401  (aiohttp)
        else:
            from promptver.runtime.calls import litellm_module

            litellm_module()
    imported = time.perf_counter() - started

    async def batches() -> list[dict[str, float]]:
        if path in ("aiohttp", "openai-sdk"):
            one = _aiohttp_caller(url) if path == "aiohttp" else _sdk_caller(url)
        else:
            one = _layer_caller(layer, path, url)
        semaphore = asyncio.Semaphore(jobs)
        figures = []
        for _ in range(2):
            async def bounded() -> bool:
                async with semaphore:
                    return await one()

            cpu, wall = time.process_time(), time.perf_counter()
            ok = await asyncio.gather(*(bounded() for _ in range(calls)))
            figures.append({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                            "errors": ok.count(False)})
        if path in ("aiohttp", "openai-sdk"):
            await one.close()  # type: ignore[attr-defined]
        else:
            await layer.aclose()
        return figures

    first, second = asyncio.run(batches())
    print(json.dumps({"import": imported, "first": first, "second": second}))


def _layer_caller(layer, path: str, url: str):  # type: ignore[no-untyped-def]
    request = layer.CallRequest("openai/gpt-4o-2024-08-06", MESSAGES, {**PARAMS, "api_base": url}, timeout=30)

    async def one() -> bool:
        result = await layer.call(request, via=path)
        return result.error is None and bool(result.output)

    return one


def _aiohttp_caller(url: str):  # type: ignore[no-untyped-def]
    import aiohttp

    session: list[aiohttp.ClientSession] = []
    body = {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, **PARAMS}

    async def one() -> bool:
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)))
        async with session[0].post(url + "/chat/completions", json=body,
                                   headers={"Authorization": "Bearer " + KEY}) as response:
            data = await response.json()
        return bool(data["choices"][0]["message"]["content"])

    async def close() -> None:
        if session:
            await session[0].close()

    one.close = close  # type: ignore[attr-defined]
    return one


def _sdk_caller(url: str):  # type: ignore[no-untyped-def]
    import openai

    clients: list[openai.AsyncOpenAI] = []
    body = {"model": "gpt-4o-2024-08-06", "messages": MESSAGES, **PARAMS}

    async def one() -> bool:
        if not clients:
            http = openai.DefaultAioHttpClient() if hasattr(openai, "DefaultAioHttpClient") else None
            clients.append(openai.AsyncOpenAI(api_key=KEY, base_url=url, max_retries=0, http_client=http))
        response = await clients[0].post("/chat/completions", cast_to=object, body=body)
        return bool(response["choices"][0]["message"]["content"])  # type: ignore[index]

    async def close() -> None:
        if clients:
            await clients[0].close()

    one.close = close  # type: ignore[attr-defined]
    return one


# -- the orchestration ----------------------------------------------------------------------------
def spawn(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return elapsed, done.stdout


def measure_path(path: str, url: str, calls: int, jobs: int, runs: int, env: dict[str, str]) -> dict[str, object]:
    totals, imports, firsts, seconds, cpus, errors = [], [], [], [], [], 0
    for _ in range(runs):
        total, out = spawn([__file__, "--worker", path, url, str(calls), str(jobs)], env)
        got = json.loads(out.strip().splitlines()[-1])
        totals.append(total - got["second"]["wall"])  # the process as if it had made one batch
        imports.append(got["import"])
        firsts.append(got["first"]["wall"])
        seconds.append(got["second"]["wall"])
        cpus.append(got["second"]["cpu"] / calls * 1e6)
        errors += got["first"]["errors"] + got["second"]["errors"]
    return {"total": statistics.median(totals), "import": statistics.median(imports),
            "first": statistics.median(firsts), "second": statistics.median(seconds),
            "cpu_us": statistics.median(cpus), "errors": errors}


def import_cost(env: dict[str, str], runs: int) -> dict[str, float]:
    figures = {}
    for label, code in [("pass", "pass"), ("import promptver", "import promptver"),
                        ("import promptver.evals.calls", "import promptver.evals.calls")]:
        samples = [spawn(["-c", code], env)[0] for _ in range(runs)]
        figures[label] = statistics.median(samples)
    listing = ("import promptver.evals.calls, sys, json; "
               "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    _, out = spawn(["-c", listing], env)
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    figures["heavy"] = sorted(loaded & {"openai", "litellm", "httpx", "httpx2", "aiohttp", "pydantic"})  # type: ignore[assignment]
    return figures


def echo_cost(calls: int) -> float:
    from promptver.evals.calls import CallRequest, call

    request = CallRequest("promptver/echo", MESSAGES, dict(PARAMS))

    async def run() -> float:
        cpu = time.process_time()
        await asyncio.gather(*(call(request) for _ in range(calls)))
        return (time.process_time() - cpu) / calls * 1e6

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per path (median)")
    parser.add_argument("--skip-litellm", action="store_true", help="litellm imports in ~6 s here")
    parser.add_argument("--worker", nargs=4, metavar=("PATH", "URL", "CALLS", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, url, calls, jobs = args.worker
        worker(path, url, int(calls), int(jobs))
        return

    with tempfile.TemporaryDirectory(prefix="pv-bench-calls-") as pycache:
        # bytecode cached (here) even where PYTHONDONTWRITEBYTECODE is set, as in a normal install
        env = {**os.environ, "OPENAI_API_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "PYTHONPYCACHEPREFIX": pycache}
        for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "PROMPTVER_DB", "PROMPTVER_URL", "PROMPTVER_TOKEN",
                     "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        warm = "import promptver.evals.calls_openai, openai"
        if not args.skip_litellm:
            warm += "; from promptver.runtime.calls import litellm_module; litellm_module()"
        spawn(["-c", warm], env)  # untimed: compiles the bytecode, warms the OS's file cache
        measure(args, env)


def measure(args: argparse.Namespace, env: dict[str, str]) -> None:
    stub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_stub.py"), "--latency", str(args.latency)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = (stub.stdout.readline() if stub.stdout else "").strip()
        if not url.startswith("http"):
            print("the OpenAI stub did not start; nothing measured")
            return
        floor = args.calls / args.jobs * args.latency
        print(f"eval call benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.calls} calls, "
              f"-j {args.jobs}, stub latency {args.latency * 1000:.0f} ms (floor {floor:.2f} s); "
              f"median of {args.runs} fresh processes\n")
        rows = [("path", "whole process s", "import s", f"first {args.calls} s", f"next {args.calls} s",
                 "CPU/call us", "errors", "target met")]
        paths = [("fast path (aiohttp)", "openai"), ("reference: aiohttp alone", "aiohttp"),
                 ("reference: openai package (AsyncOpenAI)", "openai-sdk")]
        if not args.skip_litellm:
            paths.append(("litellm.acompletion", "litellm"))
        for label, path in paths:
            try:
                got = measure_path(path, url, args.calls, args.jobs, args.runs, env)
            except RuntimeError as exc:
                rows.append((label, f"failed: {exc}", "", "", "", "", "", ""))
                continue
            met = "-" if path in ("aiohttp", "openai-sdk") else ("yes" if got["total"] < 2.5 else "**no**")
            rows.append((label, f"{got['total']:.2f}", f"{got['import']:.2f}", f"{got['first']:.2f}",
                         f"{got['second']:.2f}", f"{got['cpu_us']:.0f}", str(got["errors"]), met))
        table(rows)
        print(f"\n(target: whole process under 2.5 s; floor {floor:.2f} s of waiting on the stub)")
        imports = import_cost(env, max(5, args.runs))
        print(f"\npython -c pass                             {imports['pass']:.3f} s")
        print(f"python -c 'import promptver'               {imports['import promptver']:.3f} s")
        print(f"python -c 'import promptver.evals.calls'   {imports['import promptver.evals.calls']:.3f} s"
              f"   heavy modules loaded: {', '.join(imports['heavy']) or 'none'}")  # type: ignore[arg-type]
        print(f"echo path, in-process                      {echo_cost(args.calls):.0f} us CPU per call")
    finally:
        if stub.stdin:
            stub.stdin.close()
        stub.wait(10)


if __name__ == "__main__":
    main()
