"""Prompt templates: vetting and bounded, sandboxed rendering (sandbox.py, bounds.py), what users
ask to store (specs.py) and the file formats (files.py).

The rendering names are loaded on first use, so importing a sibling module (``templates.files``)
does not import Jinja2.
"""

from typing import Any

__all__ = ["MAX_OUTPUT_CHARS", "MAX_RENDER_SECONDS", "check_template", "render_messages", "render_template",
           "template_variables"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'promptver.templates' has no attribute {name!r}")
    from promptver.templates import sandbox

    return getattr(sandbox, name)
