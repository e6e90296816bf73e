"""A real `promptver serve` process on 127.0.0.1 over a seeded registry, with a token per role."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from conftest import prompt_spec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    db_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    pairings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    workers: int = 1

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def start(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        env = {**os.environ, "PROMPTVER_DB": self.db_url}
        self.process = subprocess.Popen([sys.executable, "-m", "promptver.cli.main", "serve", "--port", str(port),
                                         "--workers", str(self.workers), "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stdout.read() if self.process.stdout else ''}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 30 s")


def seed(db_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Two prompt versions, a model, two pairings, production and staging set; a user and token per role."""
    from promptver.services import access
    from promptver.services.registry import Registry

    with Registry.open(db_url, actor="seeder") as reg:
        reg.push_prompt(prompt_spec())
        reg.push_prompt(prompt_spec(system="v2 for {{ company }}"))
        reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0})
        p1 = reg.pair("support-reply/1", "support-llm/1").pairing.id
        p2 = reg.pair("support-reply/2", "support-llm/1").pairing.id
        reg.move_label("support-reply", "production", p1, reason="launch")
        reg.move_label("support-reply", "staging", p2)
        tokens = {}
        for role in access.ROLES:
            access.add_user(reg, role, role)
            tokens[role] = access.create_token(reg, role)[0]
        access.add_user(reg, "app", "viewer")
        tokens["fetch"] = access.create_token(reg, "app", fetch_only=True)[0]
    return tokens, {"p1": p1, "p2": p2}


@contextmanager
def running_server(db_url: str, workers: int = 1) -> Iterator[Server]:
    tokens, pairings = seed(db_url)
    server = Server(f"http://127.0.0.1:{free_port()}", db_url, tokens, pairings, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()
