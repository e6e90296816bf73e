"""Prompt templates: vetting and bounded, sandboxed rendering."""

from promptver.templates.sandbox import (
                                         MAX_OUTPUT_CHARS,
                                         MAX_RENDER_SECONDS,
                                         check_template,
                                         render_messages,
                                         render_template,
                                         template_variables,
)

__all__ = ["MAX_OUTPUT_CHARS", "MAX_RENDER_SECONDS", "check_template", "render_messages", "render_template",
           "template_variables"]
