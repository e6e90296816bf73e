"""`promptver verify`: re-hash everything stored and check the guards and the links between rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptver.core.identity import content_hash, pairing_id
from promptver.services.database import Database


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: Database) -> Report:
    report = Report()
    reader = db.reader
    for name in db.missing_guards:
        report.problems.append(f"guard missing: trigger {name}")
    for kind in ("prompt", "model"):
        count = 0
        for name in reader.series_names(kind):
            for version in reader.versions(kind, name):
                count += 1
                actual = content_hash(version.identity())
                if actual != version.content_hash:
                    report.problems.append(
                        f"{kind} {version.ref}: stored content_hash {version.content_hash[:12]}… but the "
                        f"content hashes to {actual[:12]}… (the row was changed after it was written)")
        report.checked[f"{kind}_versions"] = count
    rows = reader.rows("SELECT p.id, p.prompt_id, p.prompt_version_id, p.model_version_id, "
                       "pv.prompt_id AS pv_prompt FROM pairings p "
                       "JOIN prompt_versions pv ON pv.id = p.prompt_version_id")
    for row in rows:
        prompt = reader.version_by_id("prompt", row["prompt_version_id"])
        model = reader.version_by_id("model", row["model_version_id"])
        expected = pairing_id(prompt.content_hash, model.content_hash, prompt.name, prompt.version,
                              model.name, model.version)
        if expected != row["id"] or row["prompt_id"] != row["pv_prompt"]:
            report.problems.append(f"pairing {row['id']}: does not match the versions it links "
                                   f"({prompt.ref} + {model.ref})")
    report.checked["pairings"] = len(rows)
    events = reader.rows("SELECT e.prompt_id, e.label, e.seq, e.pairing_id, p.prompt_id AS target_prompt "
                         "FROM label_events e LEFT JOIN pairings p ON p.id = e.pairing_id ORDER BY e.prompt_id, e.label, e.seq")
    last: dict[tuple[int, str], int] = {}
    for e in events:
        key = (e["prompt_id"], e["label"])
        if e["seq"] != last.get(key, 0) + 1:
            report.problems.append(f"label {e['label']!r}: event sequence jumps to {e['seq']} after {last.get(key, 0)}")
        last[key] = e["seq"]
        if e["pairing_id"] is not None and e["target_prompt"] != e["prompt_id"]:
            report.problems.append(f"label {e['label']!r} event {e['seq']}: points at a pairing of another prompt")
    report.checked["label_events"] = len(events)
    for kind in ("prompt", "model"):
        table = f"{kind}_versions"
        gaps = reader.rows(f"SELECT {kind}_id AS sid, COUNT(*) AS n, MAX(version) AS top FROM {table} GROUP BY {kind}_id")
        for g in gaps:
            if g["n"] != g["top"]:
                report.problems.append(f"{table}: series {g['sid']} has {g['n']} versions numbered up to {g['top']} (a gap)")
    return report
