"""Issue 14, section 3: no input breaks the server.

The bad-input corpus (every reproducer of the issue, plus hostile values put into every parameter
of every route the app declares, raw bodies and headers) goes to a real `promptver serve` on SQLite
and on PostgreSQL: every answer is below 500 and every refusal carries a JSON error body. Also: the
depth limit at every write path, rows stored before it read without a 500, chunked bodies over the
limit, failed authentication logged / counted / limited, no SQL parameters in logs, and the
`/v1/resolve` body cache bounded by bytes and per token.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from server_fixture import Server, free_port, seed


def deep(levels: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


# -- the corpus ------------------------------------------------------------------------------------
PROMPT_BODY = {"name": "fuzzed", "messages": [{"role": "user", "content": "hi {{ x }}"}]}
MODEL_BODY = {"name": "fuzzm", "model": "openai/gpt-4o-2024-08-06"}

# (method, path, JSON body or raw bytes, expected status, expected error type): the reproducers
REPRODUCERS: list[tuple[str, str, Any, int, str]] = [
    ("GET", "/v1/prompts/support-reply/versions/99999999999999999999", None, 422, "invalid_ref"),
    ("GET", "/v1/models/support-llm/versions/99999999999999999999", None, 422, "invalid_ref"),
    ("GET", "/v1/prompts/support-reply/diff?old=1&new=99999999999999999999", None, 422, "invalid_ref"),
    ("GET", f"/v1/prompts/support-reply/versions?limit={10**30}", None, 200, ""),
    ("GET", f"/v1/audit?limit={10**30}", None, 200, ""),
    ("GET", "/v1/prompts/support-reply/versions?limit=-1", None, 422, "invalid_request"),
    ("GET", "/v1/audit?limit=-5", None, 422, "invalid_request"),
    ("GET", "/v1/resolve?ref=" + quote("support-reply/²"), None, 422, "invalid_ref"),
    ("GET", "/v1/resolve?ref=" + quote("support-reply/①"), None, 422, "invalid_ref"),
    ("GET", "/v1/resolve?ref=support-reply@production&at=0000-01-01T00:00:00Z", None, 422, "invalid_value"),
    ("GET", "/v1/resolve?ref=support-reply@production&at=99999-01-01T00:00:00Z", None, 422, "invalid_value"),
    ("GET", "/v1/resolve?ref=support-reply@production&at=" + quote("0001-01-01T00:00:00+01:00"), None, 422,
     "invalid_value"),
    ("GET", "/v1/resolve?ref=support-reply@production&at=9999-12-31T23:59:59-01:00", None, 422, "invalid_value"),
    ("GET", "/v1/resolve?ref=support-reply@production&at=2026-01-01T00:00:00", None, 422, "invalid_value"),
    ("POST", "/v1/tokens", {"name": "t", "expires_at": "0000-01-01T00:00:00Z"}, 422, "invalid_request"),
    ("POST", "/v1/tokens", {"name": "t", "expires_at": "99999-01-01T00:00:00Z"}, 422, "invalid_request"),
    ("POST", "/v1/tokens", {"name": "t", "expires_at": "0001-01-01T00:00:00+01:00"}, 422, "invalid_request"),
    ("POST", "/v1/tokens", {"name": "t", "expires_at": "2030-01-01T00:00:00"}, 422, "invalid_request"),
    ("POST", "/v1/tokens", {"name": "x" * 201}, 422, "invalid_request"),
    ("POST", "/v1/tokens", {"name": "a\x00b"}, 422, "invalid_request"),
    ("POST", "/v1/prompts", {**PROMPT_BODY, "messages": [{"role": "user", "content": "\ud800"}]}, 422,
     "invalid_request"),
    ("POST", "/v1/prompts", {**PROMPT_BODY, "messages": [{"role": "user", "content": "a\x00b"}]}, 422,
     "invalid_request"),
    ("POST", "/v1/prompts", {**PROMPT_BODY, "message": "a\x00b"}, 422, "invalid_request"),
    ("POST", "/v1/prompts", {**PROMPT_BODY, "response_format": deep(950)}, 422, "invalid_request"),
    ("POST", "/v1/models", {**MODEL_BODY, "params": {"x": deep(950)}}, 422, "invalid_request"),
    ("POST", "/v1/models", {**MODEL_BODY, "model": "openai/" + "g" * 400}, 422, "invalid_value"),
    ("POST", "/v1/models", {**MODEL_BODY, "lineage": {"weights_sha256": "f" * 65}}, 422, "invalid_value"),
    ("POST", "/v1/users", {"name": "u" * 300, "role": "viewer"}, 422, "invalid_name"),
    ("PUT", "/v1/prompts/support-reply/labels/staging", {"pairing": "{p1}", "expected_seq": 10**30}, 422,
     "invalid_request"),
    ("POST", "/v1/prompts/support-reply/labels/staging/rollback", {"to": 10**30}, 422, "invalid_request"),
    ("GET", "/v1/pairings/%00abc", None, 404, ""),  # 404 on SQLite; 422 on PostgreSQL (the status is checked < 500)
]

HOSTILE_TEXT = [
    "", " ", "\x00", "a\x00b", "\x1b[2J", "\n", "²", "①", "٣", "𝟙", "-1", "0", "99999999999999999999",
    "-99999999999999999999", "9" * 5000, "1e999", "NaN", "1.5", "0x1f", "null", "true", "../../etc/passwd", "a/b",
    "a@b", "@", "x@y@z", "'; DROP TABLE prompts;--", "{{ 7*7 }}", "😀" * 50, "x" * 3000, "\u202e", "\ufeff",
    "2026-13-45T99:99:99Z", "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00", "now", "support-reply/²", "support-reply/①",
    "support-reply@", "support-reply/99999999999999999999", "support-reply/0", "support-reply@production",
]
RAW_ENCODED = ["%ff%fe", "%00", "%ED%A0%80", "%", "%2F", "%C0%AF"]  # already percent-encoded
HOSTILE_JSON: list[Any] = [
    None, True, False, 0, -1, 2**31, 10**30, -(10**30), 1.5, 1e308, "", "\x00", "\ud800", "x" * 300,
    "x" * 100_000, [], {}, [None], {"a": None}, deep(70), deep(400), "²", "2030-01-01T00:00:00",
    "0001-01-01T00:00:00+01:00", [deep(70)], {"\x00": 1}, {"\ud800": 1},
]
RAW_BODIES = [
    b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"name": 1e999}', b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xef\xbb\xbf{}", b'{"name": "x", "name": "y"}', b'{"messages": NaN}',
    b'{"expected_seq": ' + b"9" * 5000 + b"}", b'{"name": "\\ud800\\udfff\\udc00"}',
]
AUTH_HEADERS = ["Bearer", "Bearer x y", "Basic YWRtaW46YWRtaW4=", "Bearer " + "x" * 8000, "bearer pv_~`!",
                "Bearer pv_é"]

PATH_DEFAULTS = {"name": "support-reply", "number": "1", "pairing_id": "{p1}", "label": "staging",
                 "prompt": "support-reply", "token_id": "1"}
QUERY_DEFAULTS = {"ref": "support-reply@production", "old": "1", "new": "2", "limit": "1"}


def _routes(db_url: str) -> list[tuple[str, str, list[str], list[str], Any]]:
    """(method, path template, path params, query params, body model) of every route of the app."""
    from promptver.server.app import create_app
    from promptver.server.policy import api_routes

    app = create_app(db_url)
    found = []
    for route in api_routes(app):
        dep = route.dependant
        body = dep.body_params[0].field_info.annotation if dep.body_params else None
        for method in sorted(route.methods):
            found.append((method, route.path, [p.name for p in dep.path_params], [q.name for q in dep.query_params],
                          body))
    return found


def _sample_body(path: str, model: Any) -> dict[str, Any]:
    from test_server import SAMPLES

    for (_, template), (_, body) in SAMPLES.items():
        if template == path and body is not None:
            return dict(body)
    return {name: None for name, f in model.model_fields.items() if f.is_required()}


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


@contextmanager
def _roomy() -> Iterator[None]:
    """Room on the stack to encode the 950-deep reproducers in the test itself (under xdist the test
    already runs deep in pytest's stack)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _dumps(body: Any) -> bytes:
    with _roomy():
        return json.dumps(body).encode()  # ASCII escapes: lone surrogates and NUL travel as \\ud800, \\u0000


def _with_pairing(body: Any, p1: str) -> Any:
    with _roomy():
        return json.loads(json.dumps(body).replace("{p1}", p1))


def hostile_requests(p1: str, db_url: str) -> Iterator[tuple[str, str, dict[str, str], bytes | None]]:
    """Every reproducer, then each hostile value in each parameter of each route: (method, url, headers, body)."""
    def url(method_path: str, query: dict[str, str]) -> str:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return method_path + ("?" + qs if qs else "")

    for method, path, body, _, _ in REPRODUCERS:
        raw = None if body is None else _dumps(_with_pairing(body, p1))
        yield method, path.replace("{p1}", p1), {}, raw
    for method, template, path_params, query_params, model in _routes(db_url):
        base_path = {k: PATH_DEFAULTS.get(k, "x").replace("{p1}", p1) for k in path_params}
        if "/models/" in template:
            base_path["name"] = "support-llm"
        base_query = {k: quote(QUERY_DEFAULTS[k]) for k in query_params if k in QUERY_DEFAULTS}
        base_body = None if model is None else _sample_body(template, model)
        if base_body is not None:
            base_body = _with_pairing(base_body, p1)
        raw_base = None if base_body is None else _dumps(base_body)
        encoded = [quote(v, safe="") for v in HOSTILE_TEXT] + RAW_ENCODED
        for key in path_params:
            for value in encoded:
                yield method, url(_fill(template, {**base_path, key: value}), base_query), {}, raw_base
        for key in query_params:
            for value in encoded:
                yield method, url(_fill(template, base_path), {**base_query, key: value}), {}, raw_base
            yield method, url(_fill(template, base_path), {**base_query, key: "1"}) + f"&{key}=2", {}, raw_base
        if model is not None:
            for field in model.model_fields:
                for value in HOSTILE_JSON:
                    yield method, url(_fill(template, base_path), base_query), {}, _dumps({**base_body, field: value})
            for raw in RAW_BODIES:
                yield method, url(_fill(template, base_path), base_query), {}, raw
            yield method, url(_fill(template, base_path), base_query), {"content-type": "text/plain"}, raw_base
    # (header bytes HTTP forbids never reach the app: uvicorn answers them with a plain-text 400)
    yield "GET", "/v1/resolve?ref=support-reply@production", {"if-none-match": '"x",' * 2000 + '"y"'}, None
    for header in AUTH_HEADERS:  # last: these count as failed authentications
        yield "GET", "/v1/me", {"authorization": header}, None


# -- a server whose log we can read ----------------------------------------------------------------
@contextmanager
def logged_server(db_url: str, log: Path, **env: str) -> Iterator[Server]:
    tokens, pairings = seed(db_url)
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}", db_url, tokens, pairings)
    with open(log, "w") as out:
        server.process = subprocess.Popen(
            [sys.executable, "-m", "promptver.cli.main", "serve", "--port", str(port), "--log-level", "warning"],
            env={**os.environ, "PROMPTVER_DB": db_url, **env}, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert server.process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{server.url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        try:
            yield server
        finally:
            server.stop()


def _send(client: httpx.Client, method: str, path: str, headers: dict[str, str], body: bytes | None) -> httpx.Response:
    headers = {"content-type": "application/json", **headers}
    if "authorization" in headers:  # header values outside ASCII go as raw bytes
        raw = [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
        return client.request(method, path, content=body, headers=raw)
    return client.request(method, path, content=body, headers=headers)


def _refusal_is_json(response: httpx.Response) -> bool:
    if response.status_code < 400:
        return True
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(error.get("type")) and bool(error.get("message"))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def test_the_bad_input_corpus_never_gets_a_500(any_db, tmp_path):
    log = tmp_path / "server.log"
    failures: list[str] = []
    sent = 0
    with logged_server(any_db, log) as server, server.client("admin") as client:
        p1 = server.pairings["p1"]
        for method, path, headers, body in hostile_requests(p1, any_db):
            sent += 1
            response = _send(client, method, path, headers, body)
            if response.status_code >= 500 or not _refusal_is_json(response):
                failures.append(f"{response.status_code} {method} {path[:120]} {(body or b'')[:80]!r}: "
                                f"{response.text[:200]}")
        health = client.get("/v1/health")
    text = log.read_text()
    print(f"500s on the bad-input corpus: {len(failures)} / {sent}")
    assert failures == [], "\n".join(failures[:30])
    assert sent > 2000 and health.status_code == 200
    assert "internal error" not in text and "Traceback" not in text, text[-3000:]
    assert "DROP TABLE" not in text and "[parameters:" not in text and "parameter $" not in text


@pytest.mark.parametrize("method, path, body, status, kind", REPRODUCERS)
def test_each_reproducer_gets_its_4xx(server_sqlite, method, path, body, status, kind):
    body = None if body is None else _with_pairing(body, server_sqlite.pairings["p1"])
    with server_sqlite.client("admin") as client:
        response = _send(client, method, path, {}, None if body is None else _dumps(body))
    assert response.status_code == status, response.text
    if kind:
        error = response.json()["error"]
        assert error["type"] == kind and error["message"], response.text
        assert "\x00" not in error["message"] and len(error["message"]) < 600


@pytest.fixture(scope="module")
def server_sqlite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("security")
    with logged_server(f"sqlite:///{folder / 'registry.db'}", folder / "server.log") as server:
        yield server


def test_postgresql_refusals_are_422_not_503(pg_url, tmp_path):
    """NUL, over-long names, negative and huge limits: PostgreSQL refused them and the server said 503."""
    with logged_server(pg_url, tmp_path / "log") as server, server.client("admin") as client:
        cases = [("GET", "/v1/pairings/%00abc"), ("GET", "/v1/prompts/support-reply/versions?limit=-1"),
                 ("GET", "/v1/audit?limit=-1"), ("GET", "/v1/prompts/support-reply/labels/history?label=a%00b")]
        for method, path in cases:
            response = client.request(method, path)
            assert response.status_code == 422, (path, response.text)
        assert client.get(f"/v1/audit?limit={10**30}").status_code == 200
        made = client.post("/v1/tokens", json={"name": "n" * 200})
        assert made.status_code == 201 and made.json()["name"] == "n" * 200


# -- depth and size at every write path ------------------------------------------------------------
def test_depth_size_and_text_refused_at_every_write_path(reg, cli, tmp_path):
    from promptver.core.limits import MAX_DEPTH
    from promptver.errors import InvalidValue
    from promptver.templates.specs import ModelSpec, PromptSpec

    msgs = [{"role": "user", "content": "hi"}]
    ok = PromptSpec("flat", msgs, response_format=deep(MAX_DEPTH))  # 64 mappings deep: at the limit
    assert reg.push_prompt(ok).created
    for spec, fragment in [
        (PromptSpec("p", msgs, response_format=deep(MAX_DEPTH + 1)), f"nests more than {MAX_DEPTH} levels"),
        (PromptSpec("p", msgs, tools=[deep(5000)]), "nests more than"),
        (PromptSpec("p", [{"role": "user", "content": "x" * 1_000_001}]), "too large"),
        (PromptSpec("p", [{"role": "user", "content": "a\x00b"}]), "NUL"),
        (PromptSpec("p", msgs, description="\ud800"), "lone surrogate"),
        (ModelSpec("m", "openai/gpt-4o-2024-08-06", params={"x": deep(100)}), "params.x.a"),
        (ModelSpec("m", "openai/" + "g" * 300), "at most 300"),
    ]:
        with pytest.raises(InvalidValue) as info:
            (reg.push_prompt if isinstance(spec, PromptSpec) else reg.push_model)(spec)
        assert fragment in str(info.value)
    assert [s for s in reg.series("prompt")] and reg.reader.series_id("prompt", "p") is None  # nothing written

    cli("init", "--no-examples")
    deep_yaml = "name: deepfile\nmessages:\n  - role: user\n    content: hi\nresponse_format: " + \
        json.dumps(deep(MAX_DEPTH + 5)) + "\n"
    path = cli.project / "deep.yaml"
    path.write_text(deep_yaml)
    result = cli("prompt", "push", str(path))
    assert result.code == 2 and "nests more than" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rows_stored_before_the_depth_limit_read_without_a_500(backend, request, tmp_path, monkeypatch):
    """A 950-deep version stored by an older promptver: every read answers (2xx or a JSON 4xx), for good."""
    from promptver.services.registry import Registry
    from promptver.templates.specs import PromptSpec

    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    with logged_server(url, tmp_path / "log") as server:
        limit = sys.getrecursionlimit()
        with monkeypatch.context() as m:  # what an older promptver let through
            m.setattr("promptver.templates.specs.check_stored", lambda *a, **k: None)
            m.setattr(sys, "setrecursionlimit", sys.setrecursionlimit)
            sys.setrecursionlimit(10_000)  # pytest's stack is deep: room to write what the attack wrote
            with Registry.open(url, actor="old") as reg:
                for text in ("a", "b"):
                    reg.push_prompt(PromptSpec("deep", [{"role": "user", "content": text}], response_format=deep(950)))
                reg.add_model("deepm", "openai/gpt-4o-2024-08-06", params={"x": deep(950)})
                pid = reg.pair("deep/1", "deepm/1").pairing.id
                reg.move_label("deep", "staging", pid)
            sys.setrecursionlimit(limit)
        paths = ["/v1/prompts/deep/versions", "/v1/prompts/deep/versions/1", "/v1/prompts/deep/diff?old=1&new=2",
                 f"/v1/pairings/{pid}", "/v1/resolve?ref=deep@staging", "/v1/resolve?ref=deep/1",
                 "/v1/models/deepm/versions", "/v1/models/deepm/versions/1", "/v1/prompts/deep/pairings",
                 "/v1/prompts", "/v1/models", "/v1/prompts/deep/labels"]
        with server.client("admin") as client:
            for _ in range(2):  # and again: nothing is left broken
                for path in paths:
                    response = client.get(path)
                    assert response.status_code < 500 and _refusal_is_json(response), (path, response.text[:300])
                    if response.status_code >= 400:
                        assert response.json()["error"]["type"] == "too_deep"
            assert client.get("/v1/resolve", params={"ref": "support-reply@production"}).status_code == 200
        assert "internal error" not in (tmp_path / "log").read_text()


# -- body size ---------------------------------------------------------------------------------------
def test_a_chunked_body_over_the_limit_gets_413(server_sqlite):
    def chunks(total: int) -> Iterator[bytes]:
        head = b'{"name": "chunky", "messages": [{"role": "user", "content": "'
        yield head
        left = total - len(head) - 4
        while left > 0:
            yield b"x" * min(65536, left)
            left -= 65536
        yield b'"}]}'

    with server_sqlite.client("editor") as client:
        big = client.post("/v1/prompts", content=chunks(1_200_000), headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["type"] == "too_large"
        assert big.request.headers["transfer-encoding"] == "chunked" and "content-length" not in big.request.headers
        small = client.post("/v1/prompts", content=chunks(10_000), headers={"content-type": "application/json"})
        assert small.status_code == 201, small.text


# -- failed authentication ------------------------------------------------------------------------
def test_failed_authentication_is_logged_counted_and_limited(sqlite_url, tmp_path):
    log = tmp_path / "server.log"
    guesses = [f"pv_guess{i:02d}secretvalue" for i in range(5)]
    with logged_server(sqlite_url, log, PROMPTVER_AUTH_FAILURES_PER_MINUTE="5") as server:
        with httpx.Client(base_url=server.url) as anonymous:
            for _ in range(6):  # no token: logged, not held against the address
                assert anonymous.get("/v1/me").status_code == 401
        for guess in guesses:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {guess}"}) as client:
                response = client.get("/v1/me")
                assert response.status_code == 401 and response.json()["error"]["type"] == "unauthorized"
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer pv_one-more"}) as client:
            limited = client.get("/v1/me")
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["type"] == "too_many_requests" and 0 < int(limited.headers["retry-after"]) <= 60
        with server.client("admin") as admin:  # the address is limited, whatever its token
            assert admin.get("/v1/me").status_code == 429
            assert admin.get("/v1/health").status_code == 200  # public routes stay open
        server.stop()
    lines = [line for line in log.read_text().splitlines() if "authentication failed" in line]
    assert len([line for line in lines if "unknown token from 127.0.0.1 on GET /v1/me" in line]) == 5
    assert any("no token from 127.0.0.1" in line for line in lines)
    assert "(5 from this address in the last minute, 11 in all)" in lines[-1]
    assert "too many failed authentications from 127.0.0.1" in log.read_text()
    text = log.read_text()
    assert not any(guess in text or guess[:10] in text for guess in guesses) and "pv_one-more" not in text


def test_auth_failure_counts_stay_bounded():
    from promptver.server.auth_failures import AuthFailures

    failures = AuthFailures(limit=3, max_addresses=100)
    for i in range(1000):
        failures.failed(f"10.0.{i // 250}.{i % 250}", "GET", "/v1/me", "unknown token")
    assert len(failures._recent) == 100 and failures.total == 1000
    for _ in range(3):
        failures.failed("10.9.9.9", "GET", "/v1/me\n forged line", "unknown token")
    assert failures.retry_after("10.9.9.9") is not None and failures.retry_after("10.9.9.8") is None
    assert AuthFailures(limit=0).retry_after("x") is None


def test_log_lines_escape_control_characters(caplog):
    from promptver.server.auth_failures import AuthFailures

    with caplog.at_level(logging.WARNING, logger="promptver.server.auth"):
        AuthFailures(limit=10).failed("1.2.3.4", "GET", "/v1/x\nERROR forged", "unknown token")
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()


# -- SQL parameters never reach the logs ------------------------------------------------------------
def test_database_errors_never_carry_sql_parameters(pg_url):
    import psycopg

    from promptver.services.database import Database
    from promptver.storage.reader import data_error

    marker = "SECRET-MARKER-1234"
    plain = "postgresql://" + pg_url.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT %s::timestamptz", (marker,))
    assert marker in str(info.value)  # the driver's own message holds the value...
    mapped = data_error(info.value)
    assert mapped is not None and marker not in mapped.message  # ...ours does not
    db = Database(pg_url)
    try:
        from sqlalchemy import text

        with pytest.raises(Exception) as wrapped, db.engine.connect() as conn:
            conn.execute(text("SELECT CAST(:v AS integer)"), {"v": marker})
        assert marker not in str(wrapped.value).split("\n", 1)[1]  # no [parameters: ...] (hide_parameters)
        assert "parameters hidden" in str(wrapped.value)
    finally:
        db.close()


def test_an_unexpected_error_is_a_json_500_logged_without_its_message(caplog):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from promptver.server.errors import LastResort

    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("[parameters: ('SECRET-MARKER',)]")

    app.add_middleware(LastResort)
    with caplog.at_level(logging.ERROR, logger="promptver.server"):
        response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500 and response.json()["error"]["type"] == "internal_error"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "SECRET-MARKER" not in logged and "test_security_server.py" in logged


# -- memory: the resolve body cache -------------------------------------------------------------------
def test_many_at_values_share_one_cached_body(sqlite_url):
    from fastapi.testclient import TestClient

    from promptver.server.app import create_app

    tokens, pairings = seed(sqlite_url)
    app = create_app(sqlite_url)
    client = TestClient(app)
    cache = app.state.promptver.bodies
    bodies = set()
    for i in range(300):
        at = f"2030-01-01T00:00:{i % 60:02d}.{i:06d}Z"
        response = client.get("/v1/resolve", params={"ref": "support-reply@production", "at": at},
                              headers={"Authorization": f"Bearer {tokens['fetch']}"})
        assert response.status_code == 200 and response.json()["at"] == at
        assert response.json()["ref"] == "support-reply@production"
        bodies.add(json.dumps({k: v for k, v in response.json().items() if k != "at"}, sort_keys=True))
    assert len(bodies) == 1 and len(cache) == 1
    staging = client.get("/v1/resolve", params={"ref": "support-reply@staging"},
                         headers={"Authorization": f"Bearer {tokens['fetch']}"}).json()
    assert staging["pairing"]["id"] == pairings["p2"] and staging["label"]["name"] == "staging" and len(cache) == 2


def test_the_body_cache_is_bounded_by_bytes_and_per_owner():
    from promptver.server.bodies import BodyCache

    cache = BodyCache(max_bytes=10_000, share=0.25)
    for i in range(200):
        cache.put(("k", i), b"x" * 100, owner="flooder")
    assert cache.owner_bytes("flooder") <= 2_500 and cache.bytes <= 10_000
    cache.put("other", b"y" * 2_000, owner="app")
    assert cache.get("other") == b"y" * 2_000  # the flooder did not push the app out
    for i in range(200):
        cache.put(("k", i), b"x" * 100, owner=f"owner{i}")
    assert cache.bytes <= 10_000 and len(cache) <= 100
    assert cache.put("huge", b"z" * 5_000, owner="app") == b"z" * 5_000 and cache.get("huge") is None
    assert cache.get(("k", 199)) == b"x" * 100  # the most recent stays


def test_the_readers_version_cache_is_bounded_by_bytes(reg, monkeypatch):
    from promptver.storage import reader as reader_module
    from promptver.templates.specs import PromptSpec

    monkeypatch.setattr(reader_module, "IMMUTABLE_CACHE_BYTES", 200_000)
    reg.add_model("m", "openai/gpt-4o-2024-08-06")
    for i in range(12):
        reg.push_prompt(PromptSpec("big", [{"role": "user", "content": f"{i} " + "x" * 40_000}]))
        reg.pair(f"big/{i + 1}", "m/1")
    fresh = reader_module.Reader(*reader_module.connect(reg.db.url))
    try:
        for pairing in fresh.pairings_for("big"):
            assert pairing.prompt.messages[0]["content"].endswith("x")
        assert 0 < fresh._immutable_bytes <= 200_000
        assert sum(1 for key in fresh._immutable if key[0] == "prompt") <= 5  # not all 12 (entries of ~40 KB)
    finally:
        fresh.close()
