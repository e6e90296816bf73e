"""The server on PostgreSQL with several workers: concurrent writes stay contiguous; a database that
goes away answers 503 with a JSON body, not 500."""

import threading

from server_fixture import running_server


def test_two_workers_concurrent_pushes_and_database_loss(pg_url):
    import psycopg

    with running_server(pg_url, workers=2) as server:
        errors: list[str] = []

        def pusher(worker: int) -> None:
            with server.client("editor") as client:
                for i in range(6):
                    body = {"name": "busy", "messages": [{"role": "user", "content": f"w{worker} e{i} {{{{ q }}}}"}]}
                    response = client.post("/v1/prompts", json=body)
                    if response.status_code != 201:
                        errors.append(response.text)

        threads = [threading.Thread(target=pusher, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with server.client("viewer") as client:
            versions = client.get("/v1/prompts/busy/versions").json()
        assert sorted(v["version"] for v in versions) == list(range(1, 25))

        schema = pg_url.rsplit("%3D", 1)[1]
        plain = "postgresql://" + pg_url.split("://", 1)[1].split("?", 1)[0]
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"ALTER SCHEMA {schema} RENAME TO {schema}_away")
        try:
            with server.client("fetch") as client:
                down = client.get("/v1/resolve", params={"ref": "support-reply@production"})
            assert down.status_code == 503 and down.json()["error"]["type"] == "registry_unavailable"
        finally:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f"ALTER SCHEMA {schema}_away RENAME TO {schema}")
        with server.client("fetch") as client:
            assert client.get("/v1/resolve", params={"ref": "support-reply@production"}).status_code == 200
