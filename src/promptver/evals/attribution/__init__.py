"""Change attribution and bisect: was it the prompt, the model, or both, and what would reverting
fix? The one entry of this package: faces and other modules import from here, never a submodule.

Inside, imports go one way (each module may import only those listed before it):

``significance`` (when two cells differ) -> ``effects`` (prompt/model/interaction effects) ->
``classes`` (a case's class and revert flags) -> ``grid`` (replaying a suite on chosen versions) ->
``analyse`` (a grid's findings) -> ``run`` (``attribute``: pairings, diffs, replay, the stored
report) -> ``bisect`` -> ``outputs`` (reports as terminal lines and Markdown).
"""

from promptver.evals.attribution.analyse import PASS_METRIC, metric_names
from promptver.evals.attribution.bisect import bisect
from promptver.evals.attribution.classes import CHANGED, CLASSES, CaseClass, classify
from promptver.evals.attribution.effects import Effects, effects
from promptver.evals.attribution.outputs import markdown, summary_lines
from promptver.evals.attribution.run import (Sides, attribute, check_metric, sides_from_label, sides_from_pairings,
                                             store_report)
from promptver.evals.attribution.significance import ALPHA, differ, p_value

__all__ = ["ALPHA", "CHANGED", "CLASSES", "PASS_METRIC", "CaseClass", "Effects", "Sides", "attribute", "bisect",
           "check_metric", "classify", "differ", "effects", "markdown", "metric_names", "p_value",
           "sides_from_label", "sides_from_pairings", "store_report", "summary_lines"]
