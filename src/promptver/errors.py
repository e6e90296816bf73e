"""The one exception tree of promptver.

Every error a user can cause is a :class:`PromptverError`. Faces (CLI, TUI, server) render it at
their edge: the CLI prints ``str(error)`` on stderr and exits with ``error.exit_code``; nothing
below the faces prints. Lower-level exceptions (SQLAlchemy, Jinja2, YAML, OS errors) are translated
into this tree in one place each, with ``raise ... from exc``.

    PromptverError                      exit 1 unless a subclass says otherwise
    ├── UsageError                      exit 2: bad input from the user
    │   ├── InvalidName                 names with path separators, control characters, ...
    │   ├── InvalidRef                  a ref that does not parse ("name/x", "@prod")
    │   ├── NotFound                    a ref, label, pairing or version that does not exist
    │   ├── InvalidFile                 malformed YAML, a prompt/model file with a bad field
    │   ├── InvalidValue                a bad parameter, time, variable or option value
    │   ├── SecretRefused               an api key (or the like) in model params or lineage
    │   └── TemplateError               anything wrong with a template
    │       ├── TemplateSyntaxError     Jinja2 cannot parse it
    │       ├── ForbiddenTemplate       include/import/extends, attributes starting with "_"
    │       ├── MissingVariables        render without some variables (all are named)
    │       ├── TemplateRenderError     the template failed while rendering
    │       └── RenderLimitExceeded     render time or output size over the bound
    ├── Unauthorized                    no, an invalid or a revoked token (HTTP 401)
    ├── Forbidden                       the role does not allow this (HTTP 403; audited)
    ├── ReleaseGateFailed               the label needs a passing eval run of a suite first (HTTP 409)
    ├── LabelConflict                   someone else moved the label while you were moving it
    ├── RegistryUnavailable             the database cannot be opened or reached
    ├── RegistryBusy                    the database stayed locked through every retry
    ├── RegistryNotInitialized          no .promptver/registry.db found (exit 2: run init)
    ├── SchemaMismatch                  the database schema is not the one this promptver knows
    ├── GuardMissing                    an immutability trigger is missing from the database
    ├── RunIncomplete                   an eval run stopped on a database failure (exit 3; resumable)
    └── ModelCallError                  a model call through litellm failed (mapped in runtime/calls.py)
        ├── ModelAuthError              the provider refused the API key or its permissions
        ├── ModelRequestError           the provider refused the request: parameters, model, context, policy
        ├── ModelRateLimited            a rate limit, quota or budget was hit
        ├── ModelTimeout                the call timed out
        └── ModelUnavailable            the provider could not be reached, or failed on its side
"""

from __future__ import annotations


class PromptverError(Exception):
    """Base of every promptver error."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(PromptverError):
    """Bad input."""

    exit_code = 2


class InvalidName(UsageError):
    """Invalid name."""


class InvalidRef(UsageError):
    """Invalid ref."""


class NotFound(UsageError):
    """Not found."""


class InvalidFile(UsageError):
    """Invalid file."""


class InvalidValue(UsageError):
    """Invalid value."""


class SecretRefused(UsageError):
    """Secrets are never stored: API keys come from the environment."""


class TemplateError(UsageError):
    """Template error."""


class TemplateSyntaxError(TemplateError):
    """The template does not parse."""


class ForbiddenTemplate(TemplateError):
    """The template uses a feature promptver does not allow."""


class MissingVariables(TemplateError):
    """Variables are missing."""

    def __init__(self, names: list[str] | tuple[str, ...], message: str | None = None) -> None:
        self.names = tuple(sorted(names))
        super().__init__(message or "missing variables: " + ", ".join(self.names))


class TemplateRenderError(TemplateError):
    """The template failed while rendering."""


class RenderLimitExceeded(TemplateError):
    """Rendering exceeded its time or size bound."""


class Unauthorized(PromptverError):
    """A valid API token is required (Authorization: Bearer TOKEN, or PROMPTVER_TOKEN)."""


class Forbidden(PromptverError):
    """Your role does not allow this."""


class ReleaseGateFailed(PromptverError):
    """The label requires a passing eval run of a suite for this pairing first."""


class LabelConflict(PromptverError):
    """The label was moved by someone else while you were moving it; look again and retry."""


class RegistryUnavailable(PromptverError):
    """The registry database cannot be opened or reached."""


class RegistryBusy(PromptverError):
    """The registry database stayed locked by other writers; try again."""


class RegistryNotInitialized(UsageError):
    """No promptver registry here: run `promptver init` (or set PROMPTVER_DB)."""


class SchemaMismatch(PromptverError):
    """The registry database schema does not match this version of promptver."""


class GuardMissing(PromptverError):
    """An immutability guard (database trigger) is missing: the registry may have been tampered with."""


class RunIncomplete(PromptverError):
    """An eval run could not go on: the registry database failed (locked, full or gone). What was
    saved stays saved (whole batches only) and the run can be resumed. Exit 3: infrastructure."""

    exit_code = 3


class ModelCallError(PromptverError):
    """The model call failed."""


class ModelAuthError(ModelCallError):
    """The model provider refused the API key (or it lacks permission): API keys come from the environment."""


class ModelRequestError(ModelCallError):
    """The model provider refused the request (parameters, model id, context window or content policy)."""


class ModelRateLimited(ModelCallError):
    """The model provider's rate limit, quota or budget was hit; retry later."""


class ModelTimeout(ModelCallError):
    """The model call timed out."""


class ModelUnavailable(ModelCallError):
    """The model provider could not be reached, or failed on its side; retry later."""


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def http_type(error: BaseException) -> str:
    """The ``type`` of an HTTP error body: the class name in snake_case (``NotFound`` -> ``not_found``)."""
    return _snake(type(error).__name__)


def error_class(kind: str, status: int) -> type[PromptverError]:
    """The error class for an HTTP error body's ``type`` and status: the inverse of ``http_type``,
    used by every client of the server (the CLI's remote registry, the runtime client)."""
    stack: list[type[PromptverError]] = [PromptverError]
    known: dict[str, type[PromptverError]] = {}
    while stack:
        cls = stack.pop()
        known[_snake(cls.__name__)] = cls
        stack.extend(cls.__subclasses__())
    if kind in known:
        return known[kind]
    by_status: dict[int, type[PromptverError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: LabelConflict}
    if status in by_status:
        return by_status[status]
    return InvalidValue if 400 <= status < 500 else RegistryUnavailable
