"""Client(url=...): the /v1/resolve contract against a stub server (latency, errors, label moves),
then against a real `promptver serve`."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import prompt_spec

from promptver import Client
from promptver.errors import Forbidden, InvalidRef, InvalidValue, NotFound, RegistryUnavailable, Unauthorized
from promptver.services import labels
from promptver.services.registry import Registry

TOKEN = "pv_test-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RegistryStub:
    """GET /v1/resolve as the server contract says; switches: ``latency``, ``status`` (force an error),
    ``answers`` (ref -> Resolved, or None for removed), ``body`` (force a 200 body)."""

    def __init__(self, answers: dict) -> None:
        self.answers, self.latency, self.status, self.body = answers, 0.0, None, None
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                ref = parse_qs(parts.query).get("ref", [""])[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                stub.requests.append({"path": parts.path, "ref": ref, "headers": headers})
                if stub.latency:
                    time.sleep(stub.latency)
                if stub.status is not None:
                    return self.reply(stub.status, {"error": {"type": stub.error_type, "message": "stub error"}})
                if headers.get("authorization") != f"Bearer {TOKEN}":
                    return self.reply(401, {"error": {"type": "unauthorized", "message": "a valid token is required"}})
                if stub.body is not None:
                    return self.reply(200, stub.body)
                resolved = stub.answers.get(ref)
                if resolved is None:
                    return self.reply(404, {"error": {"type": "not_found", "message": f"{ref}: no such label"}})
                tag = f'"{resolved.etag}"'
                if headers.get("if-none-match") == tag:
                    return self.reply(304, None, tag)
                return self.reply(200, {"ref": ref, "at": None, **resolved.to_json()}, tag)

            def reply(self, status: int, payload, etag: str | None = None) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.error_type = "internal"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTVER_SNAPSHOT_DIR", str(tmp_path / "snapshots"))
    monkeypatch.delenv("PROMPTVER_URL", raising=False)
    monkeypatch.delenv("PROMPTVER_TOKEN", raising=False)


@pytest.fixture
def resolved(sqlite_url):
    """Resolutions from a real registry: production on pairing 1, then (moved) on pairing 2."""
    with Registry.open(sqlite_url, actor="tester") as reg:
        reg.push_prompt(prompt_spec())
        reg.push_prompt(prompt_spec(system="Version 2 for {{ company }}."))
        reg.add_model("support-llm", "openai/gpt-4o-2024-08-06")
        first = reg.pair("support-reply/1", "support-llm/1").pairing.id
        second = reg.pair("support-reply/2", "support-llm/1").pairing.id
        labels.move(reg, "support-reply", "production", first)
        before = reg.resolve("support-reply@production")
        labels.move(reg, "support-reply", "production", second)
        after = reg.resolve("support-reply@production")
        exact = reg.resolve("support-reply/2")
    return before, after, exact


@pytest.fixture
def stub(resolved):
    before, _, exact = resolved
    server = RegistryStub({"support-reply@production": before, "support-reply/2": exact})
    yield server
    server.stop()


def test_fetch_revalidate_move_and_remove(stub, resolved):
    before, after, _ = resolved
    clock = Clock()
    with Client(url=stub.url, token=TOKEN, clock=clock, ttl=30) as pv:
        pair = pv.get("support-reply@production")
        assert (pair.source, pair.pairing_id, pair.etag) == ("fresh", before.pairing.id, before.etag)
        first = stub.requests[0]
        assert first["path"] == "/v1/resolve" and first["ref"] == "support-reply@production"
        assert first["headers"]["authorization"] == f"Bearer {TOKEN}" and "if-none-match" not in first["headers"]
        assert pv.get("support-reply@production").source == "cached" and len(stub.requests) == 1
        clock.now += 31
        assert pv.get("support-reply@production").source == "cached"
        assert pv.flush()
        assert stub.requests[1]["headers"]["if-none-match"] == f'"{before.etag}"'  # answered 304
        clock.now += 29
        assert pv.get("support-reply@production").pairing_id == before.pairing.id
        assert len(stub.requests) == 2  # the 304 started a new TTL
        stub.answers["support-reply@production"] = after
        clock.now += 2
        pv.get("support-reply@production")
        assert pv.flush()
        moved = pv.get("support-reply@production")
        assert (moved.source, moved.pairing_id, moved.label_seq) == ("cached", after.pairing.id, 2)
        stub.answers["support-reply@production"] = None
        clock.now += 31
        pv.get("support-reply@production")
        assert pv.flush()
        with pytest.raises(NotFound, match="support-reply@production: no such label"):
            pv.get("support-reply@production")


@pytest.mark.parametrize("trouble", ["5xx", "latency", "stopped"])
def test_an_unavailable_server_means_stale_then_snapshot(stub, resolved, trouble, caplog):
    before, _, _ = resolved
    clock = Clock()
    with Client(url=stub.url, token=TOKEN, clock=clock, timeout=0.3) as pv:
        pv.get("support-reply@production")
        pv.get("support-reply/2")
        if trouble == "5xx":
            stub.status = 503
        elif trouble == "latency":
            stub.latency = 1.0
        else:
            stub.stop()
        clock.now += 61
        pv.get("support-reply@production")
        assert pv.flush()
        stale = pv.get("support-reply@production")
        assert (stale.source, stale.pairing_id) == ("stale", before.pairing.id)
    assert "refreshing failed" in caplog.text
    with Client(url=stub.url, token=TOKEN, timeout=0.3) as cold:  # a new process while the server is down
        pair = cold.get("support-reply@production")
        assert (pair.source, pair.pairing_id) == ("snapshot", before.pairing.id)
        asked = len(stub.requests)
        assert cold.get("support-reply/2").source == "snapshot"
        assert len(stub.requests) == asked  # it just failed: the snapshot answers without asking again
        with pytest.raises(RegistryUnavailable, match="cannot get support-reply@staging: the registry http://"):
            cold.get("support-reply@staging")


def test_the_token_stays_out_of_the_snapshot(stub, tmp_path):
    with Client(url=stub.url + "/", token=TOKEN) as pv:
        pv.get("support-reply@production")
    [path] = (tmp_path / "snapshots").glob("*.json")
    assert TOKEN not in path.name and TOKEN not in path.read_text()
    assert json.loads(path.read_text())["registry"] == stub.url


def test_credentials_and_bad_refs(stub, monkeypatch, caplog):
    with Client(url=stub.url) as pv, pytest.raises(Unauthorized, match="a valid token is required"):
        pv.get("support-reply@production")
    monkeypatch.setenv("PROMPTVER_URL", stub.url)
    monkeypatch.setenv("PROMPTVER_TOKEN", TOKEN)
    clock = Clock()
    with Client(clock=clock) as pv:  # both from the environment
        assert pv.get("support-reply@production").source == "fresh"
        stub.status, stub.error_type = 403, "forbidden"
        with pytest.raises(Forbidden, match="stub error"):
            pv.get("support-reply/2")
        clock.now += 61  # a refused refresh keeps serving what it had, and says so
        pv.get("support-reply@production")
        assert pv.flush()
        assert pv.get("support-reply@production").source == "stale"
        assert "refreshing failed" in caplog.text
        stub.status, stub.error_type = 422, "invalid_ref"
        with pytest.raises(InvalidRef, match="stub error"):
            pv.get("support-reply@x")


def test_a_bad_answer_is_never_served(stub, resolved):
    before, _, _ = resolved
    body = before.to_json()
    body["prompt"]["messages"][0]["content"] = "Altered on the way."
    stub.body = body
    with Client(url=stub.url, token=TOKEN, snapshot=False) as pv, pytest.raises(RegistryUnavailable) as info:
        pv.get("support-reply@production")
    assert "sent a bad answer for support-reply@production" in str(info.value)
    assert "does not match its content hash" in str(info.value)


def test_bad_urls():
    with pytest.raises(InvalidValue, match="must start with http"):
        Client(url="registry.example.com")
    with pytest.raises(InvalidValue, match="timeout"):
        Client(url="http://127.0.0.1:1", timeout=0)


# -- a real `promptver serve` ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from server_fixture import running_server

    folder = tmp_path_factory.mktemp("runtime-remote")
    with running_server(f"sqlite:///{folder / 'registry.db'}") as srv:
        yield srv


def test_against_promptver_serve(server, caplog):
    clock = Clock()
    caplog.set_level(logging.INFO, logger="promptver.runtime")
    with Client(url=server.url, token=server.tokens["fetch"], clock=clock) as pv:
        pair = pv.get("support-reply@production")
        assert (pair.source, pair.pairing_id, pair.label) == ("fresh", server.pairings["p1"], "production")
        assert pv.get(server.pairings["p2"]).prompt.ref == "support-reply/2"
        with Registry.open(server.db_url, actor="tester") as reg:
            labels.move(reg, "support-reply", "production", server.pairings["p2"])
        try:
            clock.now += 61
            pv.get("support-reply@production")
            assert pv.flush()
            assert pv.get("support-reply@production").pairing_id == server.pairings["p2"]
            clock.now += 61  # unchanged: revalidated (304)
            pv.get("support-reply@production")
            assert pv.flush()
            assert pv.get("support-reply@production").pairing_id == server.pairings["p2"]
        finally:
            with Registry.open(server.db_url, actor="tester") as reg:
                labels.move(reg, "support-reply", "production", server.pairings["p1"])
        with pytest.raises(NotFound):
            pv.get("support-reply@nope")
    moved = (f"support-reply@production now resolves to pairing {server.pairings['p2']} "
             f"(was {server.pairings['p1']})")
    assert moved in caplog.text  # the old pairing, not the new one twice
    for token in (None, "pv_not-a-token"):
        with Client(url=server.url, token=token, snapshot=False) as pv, pytest.raises(Unauthorized):
            pv.get("support-reply@production")


def test_lock_through_promptver_serve(server, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTVER_URL", server.url)
    monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens["fetch"])  # may resolve refs, not list prompts
    named = cli("lock", "support-reply@staging", "-o", "-")
    assert named.code == 0 and list(json.loads(named.stdout)["entries"]) == ["support-reply@staging"]
    listing = cli("lock")
    assert listing.code == 1 and "fetch-only token" in listing.stderr and listing.stderr.count("\n") == 1
    monkeypatch.setenv("PROMPTVER_TOKEN", server.tokens["viewer"])
    result = cli("lock", "-o", str(tmp_path / "app.lock"))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"support-reply@production  {server.pairings['p1']}  support-reply/1 + support-llm/1",
        f"support-reply@staging  {server.pairings['p2']}  support-reply/2 + support-llm/1"]
    monkeypatch.delenv("PROMPTVER_URL")
    with Client(lockfile=tmp_path / "app.lock") as pv:
        assert pv.get("support-reply@staging").pairing_id == server.pairings["p2"]


def test_server_stopped_stale_then_snapshot_then_fallback(tmp_path):
    """With a real server: fresh, then the server stops; the running client serves stale, a cold
    client serves the on-disk snapshot, and a client without a snapshot serves its fallback."""
    from server_fixture import running_server

    snapshots = tmp_path / "snapshots"
    with running_server(f"sqlite:///{tmp_path / 'registry.db'}") as srv:
        clock = Clock()
        pv = Client(url=srv.url, token=srv.tokens["fetch"], snapshot_dir=snapshots, clock=clock)
        fresh = pv.get("support-reply@production")
        assert fresh.source == "fresh"
        pv.flush()
        entry = {"support-reply@production": fresh}
        srv.stop()
        clock.now += 61
        pv.get("support-reply@production")  # serves the held pair and tries a refresh, which fails
        pv.flush()
        stale = pv.get("support-reply@production")
        assert (stale.source, stale.pairing_id) == ("stale", fresh.pairing_id)
        pv.close()
        with Client(url=srv.url, token=srv.tokens["fetch"], snapshot_dir=snapshots) as cold:
            from_disk = cold.get("support-reply@production")
            assert (from_disk.source, from_disk.pairing_id) == ("snapshot", fresh.pairing_id)
        with Client(url=srv.url, token=srv.tokens["fetch"], snapshot=False, fallback=entry) as bare:
            pinned = bare.get("support-reply@production")
            assert (pinned.source, pinned.pairing_id) == ("fallback", fresh.pairing_id)
            assert pinned.render(company="Acme", question="Hi")[0]["content"] == "You are a support agent for Acme."
