"""The HTTP API, through a real `promptver serve` process on 127.0.0.1."""

import threading

import pytest
from server_fixture import running_server

ROLES = ("viewer", "editor", "releaser", "admin", "fetch")
MIN_ROLE = {"public": None, "fetch": "fetch", "read": "viewer", "write": "editor", "release": "editor", "admin": "admin"}
RANK = {"fetch": -1, "viewer": 0, "editor": 1, "releaser": 2, "admin": 3}

PROMPT = {"name": "matrix", "messages": [{"role": "user", "content": "hi {{ x }}"}]}
SAMPLES = {  # (method, route path) -> (concrete path, JSON body)
    ("GET", "/v1/health"): ("/v1/health", None),
    ("GET", "/v1/resolve"): ("/v1/resolve?ref=support-reply@production", None),
    ("GET", "/v1/me"): ("/v1/me", None),
    ("GET", "/v1/prompts"): ("/v1/prompts", None),
    ("GET", "/v1/prompts/{name}/versions"): ("/v1/prompts/support-reply/versions", None),
    ("GET", "/v1/prompts/{name}/versions/{number}"): ("/v1/prompts/support-reply/versions/1", None),
    ("GET", "/v1/prompts/{name}/diff"): ("/v1/prompts/support-reply/diff?old=1&new=2", None),
    ("GET", "/v1/models"): ("/v1/models", None),
    ("GET", "/v1/models/{name}/versions"): ("/v1/models/support-llm/versions", None),
    ("GET", "/v1/models/{name}/versions/{number}"): ("/v1/models/support-llm/versions/1", None),
    ("GET", "/v1/models/{name}/diff"): ("/v1/models/support-llm/diff?old=1&new=1", None),
    ("GET", "/v1/pairings/{pairing_id}"): ("/v1/pairings/{p1}", None),
    ("GET", "/v1/prompts/{name}/pairings"): ("/v1/prompts/support-reply/pairings", None),
    ("GET", "/v1/prompts/{name}/labels"): ("/v1/prompts/support-reply/labels", None),
    ("GET", "/v1/prompts/{name}/labels/history"): ("/v1/prompts/support-reply/labels/history", None),
    ("POST", "/v1/prompts"): ("/v1/prompts", PROMPT),
    ("POST", "/v1/models"): ("/v1/models", {"name": "m2", "model": "openai/gpt-4o-2024-08-06"}),
    ("POST", "/v1/pairings"): ("/v1/pairings", {"prompt": "support-reply/2", "model": "support-llm/1"}),
    ("POST", "/v1/annotations"): ("/v1/annotations", {"kind": "prompt", "ref": "support-reply/1", "tag": "seen"}),
    ("PUT", "/v1/prompts/{name}/labels/{label}"): ("/v1/prompts/support-reply/labels/staging", {"pairing": "{p1}"}),
    ("POST", "/v1/prompts/{name}/labels/{label}/remove"): ("/v1/prompts/support-reply/labels/canary/remove", {}),
    ("POST", "/v1/prompts/{name}/labels/{label}/rollback"): ("/v1/prompts/support-reply/labels/canary/rollback", {}),
    ("GET", "/v1/users"): ("/v1/users", None),
    ("POST", "/v1/users"): ("/v1/users", {"name": "newcomer", "role": "viewer"}),
    ("PUT", "/v1/users/{name}/role"): ("/v1/users/newcomer/role", {"role": "viewer"}),
    ("GET", "/v1/tokens"): ("/v1/tokens", None),
    ("POST", "/v1/tokens"): ("/v1/tokens", {"name": "mine"}),
    ("POST", "/v1/tokens/{token_id}/revoke"): ("/v1/tokens/999/revoke", {}),
    ("PUT", "/v1/label-policies/{prompt}/{label}"): ("/v1/label-policies/support-reply/canary", {"protected": False}),
    ("GET", "/v1/audit"): ("/v1/audit", None),
    ("GET", "/v1/datasets"): ("/v1/datasets", None),
    ("GET", "/v1/datasets/{name}/versions"): ("/v1/datasets/cases/versions", None),
    ("GET", "/v1/datasets/{name}/versions/{number}"): ("/v1/datasets/cases/versions/1", None),
    ("POST", "/v1/datasets"): ("/v1/datasets", {"name": "sampled", "cases": [], "content_hash": "0" * 64}),
    ("POST", "/v1/evals/runs"): ("/v1/evals/runs", {"id": "0" * 16, "suite": "s", "suite_hash": "h",
                                                    "dataset_version_id": 999, "plan": {}}),
    ("POST", "/v1/evals/runs/{run_id}/events"): ("/v1/evals/runs/0000000000000000/events", {"state": "running"}),
    ("POST", "/v1/evals/runs/{run_id}/results"): ("/v1/evals/runs/0000000000000000/results", {"results": []}),
    ("GET", "/v1/evals/runs/{run_id}/results"): ("/v1/evals/runs/0000000000000000/results", None),
    ("POST", "/v1/evals/cache/responses"): ("/v1/evals/cache/responses", {"keys": ["k"]}),
    ("POST", "/v1/evals/query"): ("/v1/evals/query", {"query": "runs", "args": {"limit": 5}}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    with running_server(f"sqlite:///{folder / 'registry.db'}") as srv:
        yield srv


def _call(srv, who, method, path, body):
    path = path.replace("{p1}", srv.pairings["p1"])
    if body:
        body = {k: (v.replace("{p1}", srv.pairings["p1"]) if isinstance(v, str) else v) for k, v in body.items()}
    with srv.client(who) as client:
        return client.request(method, path, json=body)


def test_every_route_declares_a_policy_and_has_a_sample(server):
    from promptver.server.app import create_app
    from promptver.server.policy import api_routes, route_policy

    routes = api_routes(create_app(server.db_url))
    undeclared = [r.path for r in routes if route_policy(r) is None]
    assert undeclared == [], f"routes without an access policy (deny by default): {undeclared}"
    assert {(m, r.path) for r in routes for m in r.methods} == set(SAMPLES)


def test_route_by_role_matrix(server):
    from promptver.server.app import create_app
    from promptver.server.policy import api_routes, route_policy

    policies = {(m, r.path): route_policy(r) for r in api_routes(create_app(server.db_url)) for m in r.methods}
    failures = []
    for (method, route), (path, body) in SAMPLES.items():
        needed = MIN_ROLE[policies[(method, route)]]
        anonymous = _call(server, None, method, path, body)
        if needed is not None and anonymous.status_code != 401:
            failures.append(f"{method} {route} without a token: {anonymous.status_code}")
        for who in ROLES:
            allowed = needed is None or (needed == "fetch" or who != "fetch") and RANK[who] >= RANK[needed]
            status = _call(server, who, method, path, body).status_code
            if allowed and status in (401, 403) or not allowed and status != 403:
                failures.append(f"{method} {route} as {who}: {status} (allowed={allowed})")
    assert failures == []


def test_resolve_etag_and_304(server):
    with server.client("fetch") as client:
        first = client.get("/v1/resolve", params={"ref": "support-reply@production"})
        assert first.status_code == 200
        body = first.json()
        assert (body["prompt"]["version"], body["pairing"]["id"]) == (1, server.pairings["p1"])
        assert first.headers["etag"] == f'"{body["etag"]}"'
        again = client.get("/v1/resolve", params={"ref": "support-reply@production"},
                           headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    with server.client("editor") as client:
        version = client.get("/v1/prompts/support-reply/versions/1")
        assert version.headers["etag"] == f'"{version.json()["content_hash"]}"'
        assert client.get("/v1/prompts/support-reply/versions/1",
                          headers={"If-None-Match": version.headers["etag"]}).status_code == 304


@pytest.mark.parametrize("method, path, body, status, kind", [
    ("GET", "/v1/resolve?ref=nope@production", None, 404, "not_found"),
    ("GET", "/v1/resolve?ref=../x", None, 422, "invalid_ref"),
    ("GET", "/v1/resolve", None, 422, "invalid_request"),
    ("GET", "/v1/resolve?ref=support-reply@production&at=yesterday", None, 422, "invalid_value"),
    ("POST", "/v1/prompts", {"name": "x", "messages": "nope"}, 422, "invalid_request"),
    ("POST", "/v1/prompts", {"name": "x", "messages": [{"role": "user", "content": "{% include 'a' %}"}]}, 422,
     "forbidden_template"),
    ("POST", "/v1/prompts", {"name": "x", "messages": [], "surprise": 1}, 422, "invalid_request"),
    ("POST", "/v1/models", {"name": "m", "model": "openai/gpt-4o-2024-08-06", "params": {"api_key": "k"}}, 422,
     "secret_refused"),
    ("PUT", "/v1/prompts/support-reply/labels/production", {"pairing": "abcdef"}, 404, "not_found"),
    ("GET", "/v1/nowhere", None, 404, "not_found"),
])
def test_bad_requests_get_json_errors(server, method, path, body, status, kind):
    response = _call(server, "admin", method, path, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind and error["message"]


def test_malformed_json_and_oversized_bodies(server):
    with server.client("editor") as client:
        bad = client.post("/v1/prompts", content=b"{bad json", headers={"content-type": "application/json"})
        assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("body: malformed JSON")
        big = client.post("/v1/prompts", content=b"x" * 1_100_000, headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["type"] == "too_large"


def test_protected_labels_need_a_releaser_and_refusals_are_audited(server):
    path = "/v1/prompts/support-reply/labels/production"
    refused = _call(server, "editor", "PUT", path, {"pairing": server.pairings["p2"], "reason": "sneaky"})
    assert refused.status_code == 403 and "protected" in refused.json()["error"]["message"]
    with server.client("admin") as admin:
        denied = [e for e in admin.get("/v1/audit", params={"action": "denied"}).json()
                  if e["target"] == "support-reply@production"]
    assert denied and denied[0]["actor"] == "editor"
    moved = _call(server, "releaser", "PUT", path, {"pairing": server.pairings["p2"], "reason": "release 2"})
    assert moved.status_code == 201 and moved.json()["pairing"] == server.pairings["p2"]
    back = _call(server, "releaser", "POST", path + "/rollback", {"reason": "undo"})
    assert back.status_code == 201 and back.json()["pairing"] == server.pairings["p1"]


def test_concurrent_label_moves_through_the_api(server):
    """Two releasers saw the same head and move at once: one 201, one 409, one event."""
    path = "/v1/prompts/support-reply/labels/race"
    with server.client("releaser") as client:
        head = client.get("/v1/prompts/support-reply/labels/history", params={"label": "race"}).json()
    seen = head[-1]["seq"] if head else 0
    barrier, results = threading.Barrier(2), []

    def move(pairing):
        with server.client("releaser") as client:
            barrier.wait()
            results.append(client.put(path, json={"pairing": pairing, "expected_seq": seen}).status_code)

    threads = [threading.Thread(target=move, args=(server.pairings[p],)) for p in ("p1", "p2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409]
    with server.client("viewer") as client:
        assert len(client.get("/v1/prompts/support-reply/labels/history", params={"label": "race"}).json()) == seen + 1


def test_tokens_hashed_capped_and_revocable(server):
    with server.client("editor") as editor:
        too_much = editor.post("/v1/tokens", json={"role": "admin"})
        assert too_much.status_code == 403 and "more rights than its creator" in too_much.json()["error"]["message"]
        made = editor.post("/v1/tokens", json={"name": "ci", "role": "viewer"})
        assert made.status_code == 201
        token, token_id = made.json()["token"], made.json()["id"]
        assert editor.get("/v1/tokens").json()[-1]["prefix"] == token[:10]
        assert "token" not in editor.get("/v1/tokens").json()[-1]
    from promptver.storage.reader import connect

    conn, _ = connect(server.db_url)
    stored = [str(v) for row in conn.execute("SELECT * FROM api_tokens").fetchall() for v in row]
    conn.close()
    assert token not in stored and any(len(v) == 64 for v in stored)
    import httpx

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as fresh:
        assert fresh.get("/v1/me").json() == {"name": "editor", "role": "viewer", "fetch_only": False}
        assert fresh.post("/v1/prompts", json=PROMPT).status_code == 403
        with server.client("editor") as editor:
            assert editor.post(f"/v1/tokens/{token_id}/revoke", json={"reason": "leaked"}).json()["revoked"] is True
        refused = fresh.get("/v1/me")
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer pv_not-a-token"}) as bogus:
        assert bogus.get("/v1/me").status_code == 401


def test_a_disabled_user_loses_every_token(server):
    with server.client("admin") as admin:
        assert admin.post("/v1/users", json={"name": "temp", "role": "editor"}).status_code == 201
    from promptver.services import access
    from promptver.services.registry import Registry

    with Registry.open(server.db_url, actor="root") as reg:
        token = access.create_token(reg, "temp")[0]
    import httpx

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as temp:
        assert temp.get("/v1/me").json()["role"] == "editor"
        with server.client("admin") as admin:
            admin.put("/v1/users/temp/role", json={"role": None})
        assert temp.get("/v1/me").status_code == 401


def test_openapi_and_docs(server):
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        assert "/v1/resolve" in spec["paths"] and client.get("/docs").status_code == 200


def test_every_error_type_maps_back_to_its_class():
    """The server names errors by class (http_type); clients map them back (error_class)."""
    from promptver import errors

    stack, seen = [errors.PromptverError], 0
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        assert errors.error_class(errors._snake(cls.__name__), 400) is cls
        seen += 1
    assert seen > 20
    assert errors.error_class("something_new", 404) is errors.NotFound
    assert errors.error_class("something_new", 502) is errors.RegistryUnavailable


def test_a_release_gate_holds_through_the_api(server):
    with server.client("admin") as admin:
        assert admin.put("/v1/label-policies/support-reply/gated",
                         json={"protected": False, "require_suite": "nightly"}).status_code == 200
    refused = _call(server, "releaser", "PUT", "/v1/prompts/support-reply/labels/gated", {"pairing": "{p1}"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "release_gate_failed" and "eval suite 'nightly'" in error["message"]
