"""A suite's content: what a release gate pins and every suite run records.

The suite content hash is the sha256 of the canonical JSON (core/identity.py) of
``{"kind": "promptver.suite-content/1", "dataset": DATASET VERSION HASH, "scorers": {NAME: VERSION},
"repeats": N, "min_pass_rate": RATE}``: the test set itself (not its file name), each scorer with its
configuration and thresholds (a scorer's version hashes them; an llm-judge by its judge ref), how often
each case is repeated and the pass rate a cell needs. It leaves out what does not decide whether a
pairing passes: the prompts and models the file lists (a gate applies to whichever pairing is
released), concurrency, timeout, description, the suite's name and path. A look-alike file with the
same name but other cases or scorers has another hash; an edit of the file must be pinned again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptver.core.identity import content_hash
from promptver.evals.suites import Suite

FORMAT = "promptver.suite-content/1"


@dataclass(frozen=True)
class SuiteContent:
    hash: str
    dataset_hash: str
    scorers: dict[str, str]  # name -> version
    repeats: int
    min_pass_rate: float  # 1.0 when the file sets none

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "dataset": self.dataset_hash, "scorers": dict(self.scorers),
                "repeats": self.repeats, "min_pass_rate": self.min_pass_rate}


def content_of(dataset_hash: str, scorers: list[Any], repeats: int, min_pass_rate: float | None) -> SuiteContent:
    """``scorers``: parsed scorers (before an llm-judge is pinned to a pairing)."""
    versions = {s.name: s.version for s in scorers}
    need = 1.0 if min_pass_rate is None else float(min_pass_rate)
    digest = content_hash({"kind": FORMAT, "dataset": dataset_hash, "scorers": versions, "repeats": repeats,
                           "min_pass_rate": need})
    return SuiteContent(digest, dataset_hash, versions, repeats, need)


def suite_content(suite: Suite) -> SuiteContent:
    """Read the suite's dataset and scorers (no registry, no model call)."""
    from promptver.evals.datasets import dataset_hash, load_cases
    from promptver.evals.scorers import parse_scorers

    cases = load_cases(suite.dataset)
    scorers = parse_scorers(suite.scorers, str(suite.path), base_dir=suite.path.parent)
    return content_of(dataset_hash(cases), scorers, suite.repeats, suite.min_pass_rate)
