"""The worked example in prompts/, models/, evals/ is what `promptver init` ships, and it is valid."""

import filecmp

from conftest import REPO

from promptver.services.init import EXAMPLES
from promptver.services.sync import load_specs


def test_packaged_examples_equal_the_repository_example():
    for folder in ("prompts", "models", "evals"):
        cmp = filecmp.dircmp(REPO / folder, EXAMPLES / folder)
        assert not (cmp.left_only or cmp.right_only or cmp.diff_files), folder


def test_example_files_are_valid():
    kinds = sorted((kind, spec.name) for kind, _, spec in load_specs(REPO))
    assert kinds == [("model", "support-llm"), ("prompt", "support-reply"), ("prompt", "ticket-triage")]
