"""`promptver verify` re-hashes what is stored and reports tampering (guards removed first)."""

import json

import pytest
from conftest import prompt_spec


def _tamper(url, dialect_sql):
    from promptver.storage.reader import connect

    conn, dialect = connect(url)
    cur = conn.cursor()
    for sql in dialect_sql[dialect]:
        cur.execute(sql)
    conn.close()


@pytest.fixture
def stored(reg):
    reg.push_prompt(prompt_spec())
    reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0})
    reg.pair("support-reply/1", "support-llm/1")
    return reg


def test_verify_passes_on_a_clean_registry(stored, registry_url):
    from promptver.services.database import Database
    from promptver.services.verify import verify

    db = Database.open(registry_url)
    report = verify(db)
    db.close()
    assert report.ok
    # 1 prompt + 1 model (series), 1 version each, 1 pairing, and 5 audit events (2 creates, 2 pushes, 1 pair)
    guards = 66 if db.dialect == "sqlite" else 45
    assert report.checked == {"guards": guards, "chains": 20, "chained_rows": 10, "prompt_versions": 1,
                              "model_versions": 1, "dataset_versions": 0, "pairings": 1, "label_events": 0}
    assert report.chains["audit_events"][0] == 5 and report.chains["label_events"] == (0, None)


def test_verify_reports_a_tampered_row(stored, registry_url):
    from promptver.services.database import Database
    from promptver.services.verify import verify

    _tamper(registry_url, {
        "sqlite": ["DROP TRIGGER model_versions_no_update",
                   "UPDATE model_versions SET params = '{\"temperature\": 1.5}'"],
        "postgresql": ["DROP TRIGGER model_versions_no_update_delete ON model_versions",
                       "UPDATE model_versions SET params = '{\"temperature\": 1.5}'"],
    })
    db = Database.open(registry_url, check_guards=False)
    report = verify(db)
    db.close()
    assert not report.ok
    assert any("guard missing" in p for p in report.problems)
    assert any(p.startswith("model support-llm/1: stored content_hash") for p in report.problems)
    assert any(p.startswith("model_versions row 1 (chain position 1)") for p in report.problems)


def test_verify_cli_exit_codes(cli):
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text("name: p\nmessages:\n  - role: user\n    content: hi {{ x }}\n")
    cli("prompt", "push", "p.yaml")
    ok = cli("verify")
    assert ok.code == 0
    assert ok.stdout.splitlines()[-1] == "ok: every chain, stored hash and guard checked above is as written"
    assert "  1 prompt versions re-hashed (content_hash)" in ok.stdout.splitlines()
    url = f"sqlite:///{cli.project / '.promptver' / 'registry.db'}"
    _tamper(url, {"sqlite": ["DROP TRIGGER prompt_versions_no_update",
                             "UPDATE prompt_versions SET messages = '[{\"role\": \"user\", \"content\": \"evil\"}]'"]})
    refused = cli("get", "p/1")
    assert refused.code == 1 and "immutability guards are missing" in refused.stderr
    bad = cli("verify", "--json")
    assert bad.code == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    guard, chained, content = report["problems"]  # each check says what it found
    assert guard == "guard missing: trigger prompt_versions_no_update"
    assert chained == ("prompt_versions row 1 (chain position 1): its content or its predecessor changed after it "
                       "was written (the chain hash does not match)")
    assert content.startswith("prompt p/1: stored content_hash ")


def test_verify_head_exports_and_expect_head_detects_a_shortened_chain(cli, tmp_path):
    cli("init", "--no-examples")
    (cli.project / "p.yaml").write_text("name: p\nmessages:\n  - role: user\n    content: hi {{ x }}\n")
    cli("prompt", "push", "p.yaml")
    exported = cli("verify", "--head")
    assert exported.code == 0
    token, *chains = exported.stdout.splitlines()
    assert token.startswith("ph1:") and len(chains) == 20 and "audit_events 2 " in exported.stdout
    (tmp_path / "head.txt").write_text(exported.stdout)
    head_json = json.loads(cli("verify", "--head", "--json").stdout)
    assert head_json["token"] == token and head_json["chains"]["prompt_versions"]["count"] == 1
    (tmp_path / "head.json").write_text(json.dumps(head_json))
    (cli.project / "p.yaml").write_text("name: p\nmessages:\n  - role: user\n    content: hello {{ x }}\n")
    cli("prompt", "push", "p.yaml")  # history grows: the old head still holds
    for expected in (token, str(tmp_path / "head.txt"), str(tmp_path / "head.json")):
        grown = cli("verify", "--expect-head", expected)
        assert grown.code == 0, grown.stdout
        assert "  1 exported chain head compared" in grown.stdout.splitlines()
    url = f"sqlite:///{cli.project / '.promptver' / 'registry.db'}"
    _tamper(url, {"sqlite": ["DROP TRIGGER audit_events_no_delete", "DELETE FROM audit_events",
                             "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                             "BEGIN SELECT RAISE(ABORT, 'promptver: audit_events is append-only: DELETE refused'); "
                             "END"]})
    gone = cli("verify", "--expect-head", str(tmp_path / "head.json"))
    assert gone.code == 1
    assert ("PROBLEM audit_events: the exported head counted 2 rows, the database has 0 (rows were deleted from the "
            "end of its chain)") in gone.stdout
    assert cli("verify").code == 0  # deleting a chain's last rows shows only against an exported head
    refused = cli("verify", "--head", "--expect-head", token)
    assert refused.code == 1 and refused.stdout == "" and "rows were deleted" in refused.stderr  # no head to export


def test_expect_head_refuses_what_is_not_a_head(cli, tmp_path):
    cli("init", "--no-examples")
    for value, message in (("nonsense", "is neither a head token (ph1:...) nor a file"),
                           ("ph1:abc:1", "not a chain head token"),
                           (str(tmp_path), "is neither a head token")):
        bad = cli("verify", "--expect-head", value)
        assert bad.code == 2 and message in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "x.json").write_text("{\"chains\": 3}")
    bad = cli("verify", "--expect-head", str(tmp_path / "x.json"))
    assert bad.code == 2 and "is not the JSON of `promptver verify --head --json`" in bad.stderr


def test_the_dataset_kind_verify_hashes_is_the_one_datasets_use():
    from promptver.evals.datasets import DATASET_KIND
    from promptver.services import verify

    assert verify.DATASET_KIND == DATASET_KIND


def test_a_chain_hash_is_the_documented_form(sqlite_url):
    """An independent re-verification, as docs/content-hash.md tells a user to write it: read the rows,
    build the documented object with core/identity's canonical JSON, compare with chain_hash."""
    import hashlib
    import sqlite3
    from datetime import UTC, datetime
    from pathlib import Path

    from promptver.core.identity import canonical_json
    from promptver.services import labels
    from promptver.services.registry import Registry

    with Registry.open(sqlite_url, actor="tester") as reg:
        reg.push_prompt(prompt_spec())
        reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 1.0, "top_p": 0.5})
        pid = reg.pair("support-reply/1", "support-llm/1").pairing.id
        labels.move(reg, "support-reply", "production", pid, reason="launch ✓")
        labels.move(reg, "support-reply", "production", None, reason="pulled")
    documented = {}  # the column order, as the docs' table gives it: "| `table` | `col`, `col` (kind), ... |"
    for line in (Path(__file__).resolve().parent.parent / "docs" / "content-hash.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = line.strip("|").split("|")
            documented[cells[0].strip(" `")] = [(c.split("`")[1], c.split("(")[1].strip().rstrip(")") if "(" in c
                                                 else "str") for c in cells[1].split(",")]
    conn = sqlite3.connect(sqlite_url.split("///", 1)[1])
    conn.row_factory = sqlite3.Row
    checked = 0
    for table in ("label_events", "model_versions", "audit_events"):
        prev = None
        for stored in conn.execute(f"SELECT * FROM {table} ORDER BY chain_seq").fetchall():
            row = []
            for name, kind in documented[table]:
                value = stored[name]
                if kind == "json" and value is not None:
                    value = json.loads(value)
                elif kind == "time" and value is not None:
                    value = datetime.fromisoformat(value).replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                row.append(value)
            text = canonical_json({"chain": "promptver.chain/1", "prev": prev, "row": row,
                                   "seq": stored["chain_seq"], "table": table})
            assert hashlib.sha256(text.encode()).hexdigest() == stored["chain_hash"], (table, dict(stored))
            prev = stored["chain_hash"]
            checked += 1
    conn.close()
    assert checked == 2 + 1 + 7


def test_the_row_form_agrees_with_identity_canonical_json():
    from datetime import UTC, datetime, timedelta, timezone

    from promptver.core.chain import RowForm, canonical_text
    from promptver.core.identity import canonical_json

    form = RowForm((("a", "int"), ("b", "float"), ("c", "bool"), ("d", "str"), ("e", "time"), ("f", "json")))
    local = datetime(2026, 11, 29, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    rows = [
        ({"a": 1, "b": 2.0, "c": True, "d": "é\n\"", "e": local, "f": {"z": [1.0, 2.5], "a": None}},
         [1, 2, True, "é\n\"", "2026-11-29T10:00:00.000005Z", {"a": None, "z": [1, 2.5]}]),
        ({"a": True, "b": float("nan"), "c": 0, "d": 5, "e": "2026-11-29 10:00:00", "f": "text"},
         [1, None, False, "5", "2026-11-29T10:00:00.000000Z", "text"]),
        ({"a": None, "b": float("-inf"), "c": None, "d": None, "e": datetime(2026, 1, 1, tzinfo=UTC), "f": None},
         [None, "-Infinity", None, None, "2026-01-01T00:00:00.000000Z", None]),
    ]
    for values, expected in rows:
        assert form.row(values) == expected
        assert canonical_text(form.row(values)) == canonical_json(expected)


def test_the_documented_columns_are_the_chained_ones():
    from pathlib import Path

    from promptver.storage.schema import CHAINED_TABLES, COLUMNS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "content-hash.md").read_text()
    for table in CHAINED_TABLES:
        line = "| `" + table + "` | " + ", ".join(f"`{n}`" + ("" if k == "str" else f" ({k})")
                                                 for n, k in COLUMNS[table]) + " |"
        assert line in doc, line


def test_the_chain_columns_match_the_tables():
    from sqlmodel import SQLModel

    import promptver.storage.tables  # noqa: F401
    from promptver.storage.schema import APPEND_ONLY_TABLES, CHAINED_TABLES, COLUMNS

    kinds = {"Integer": "int", "AutoString": "str", "Text": "str", "String": "str", "Float": "float",
             "Boolean": "bool", "DateTime": "time", "UTCDateTime": "time", "JSON": "json"}
    for table in APPEND_ONLY_TABLES:
        columns = SQLModel.metadata.tables[table].columns
        stored = {c.name: kinds[type(c.type).__name__] for c in columns if not c.name.startswith("chain_")}
        assert dict(COLUMNS[table]) == stored, table
        assert COLUMNS[table][0][0] == next(iter(SQLModel.metadata.tables[table].primary_key)).name
        assert ("chain_seq" in columns) == (table in CHAINED_TABLES)
