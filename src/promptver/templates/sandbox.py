"""Check and render prompt templates in a bounded Jinja2 sandbox (pure, no I/O).

Templates are parsed and vetted before they run (no include/import/extends, no names starting
with ``_``) and rendered in an immutable sandbox with StrictUndefined. Rendering is bounded in
time and size; see bounds.py for how.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import pass_context

from promptver.errors import (
    ForbiddenTemplate,
    InvalidValue,
    MissingVariables,
    RenderLimitExceeded,
    TemplateRenderError,
    TemplateSyntaxError,
)
from promptver.templates.bounds import (
    MAX_INT_BITS,
    MAX_OUTPUT_CHARS,
    MAX_RENDER_SECONDS,
    SIZED,
    Abort,
    Budget,
    Refused,
    argument,
    budget,
    check_percent,
    current,
    join_items,
    num,
    replace_size,
    weight,
    wrap_filter,
)


class _Formatter(SandboxedFormatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion:
            budget().need(weight(value, budget().max_chars))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        b = budget()
        for digits in re.findall(r"\d+", format_spec):
            b.need(int(digits))
        if not isinstance(value, (str, int, float)):
            b.need(weight(value, b.max_chars))
        result = super().format_field(value, format_spec)
        b.charge(len(result))
        return result


class _CodeGenerator(CodeGenerator):
    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == "tick":
            self.writeline("environment.tick()", node)  # put at the top of every loop body by _prepare
        else:
            super().visit_ExprStmt(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.checked_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def tick(self) -> None:
        budget().tick()

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        b = budget()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 0 and abs(left) > 1:
            if right > MAX_INT_BITS or right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
                raise Abort(f"{left} ** {right} is too large a number")
        elif operator == "*" and ints:
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise Abort("a product is too large a number")
        elif operator == "*":
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and times > 1:
                b.need(len(seq) * times)
        elif operator == "+" and isinstance(left, SIZED) and isinstance(right, SIZED):
            b.need(len(left) + len(right))
        elif operator == "%":
            check_percent(b, left, right)
        result = self.binop_table[operator](left, right)
        if isinstance(result, SIZED):
            b.charge(len(result))
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        b = budget()
        b.tick()
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(obj, types.BuiltinMethodType) and isinstance(owner, (str, bytes)):
            if name in ("translate", "maketrans", "encode"):
                raise Refused(f"str.{name}() is not allowed in a prompt template")
            if name in ("center", "ljust", "rjust", "zfill") and args:
                b.need(num(args[0]))
            elif name == "expandtabs":
                tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
                b.need(len(owner) + tabs * num(argument(args, kwargs, 0, "tabsize", 8)))
            elif name == "replace":
                b.need(replace_size(owner, *args[:3]))
            elif name == "join" and args:
                args = (join_items(b, owner, args[0]),)
        elif isinstance(obj, types.BuiltinMethodType) and name == "fromkeys":
            raise Refused("dict.fromkeys() is not allowed in a prompt template")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, SIZED):
            b.charge(len(result))
        return result

    def wrap_str_format(self, value: Any) -> Any:
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or value.__name__ not in (
                "format", "format_map") or not isinstance(value.__self__, str):
            return None
        owner, is_map = value.__self__, value.__name__ == "format_map"
        formatter = _Formatter(self)

        def checked_format(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            return type(owner)(formatter.vformat(owner, args, kwargs))

        return checked_format

    def checked_concat(self, join: Any, items: tuple[Any, ...]) -> str:
        b = budget()
        size = sum(len(x) if isinstance(x, str) else weight(x, b.max_chars) for x in items)
        b.need(size)
        b.charge(size)
        return join(items)  # type: ignore[no-any-return]


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    cls = type(value)
    if cls is str:
        budget().charge(len(value))
    elif not (cls is int or cls is float or cls is bool or value is None):
        b = budget()
        size = len(value) if isinstance(value, str) else weight(value, b.max_chars)
        b.need(size)
        b.charge(size)
    return value


# optimized=False: no constant folding, so nothing of a template is evaluated at compile time
# (folding would turn e.g. "{{ 'a'.upper ~ '' }}" into the method's repr).
_ENV = _PromptEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                          finalize=_finalize, optimized=False)
del _ENV.globals["lipsum"]
_ENV.filters = {name: wrap_filter(name, func) for name, func in _ENV.filters.items() if name != "random"}
_GLOBALS = dict(_ENV.globals)
_DUNDER = re.compile(r"__\w+__")
_TAGS = {nodes.Include: "{% include %}", nodes.Import: "{% import %}",
         nodes.FromImport: "{% from ... import %}", nodes.Extends: "{% extends %}"}
_ATTRIBUTE_ARG = {"attr": 0, "selectattr": 0, "rejectattr": 0, "groupby": 0, "sum": 0, "join": 1,
                  "sort": 2, "unique": 1, "min": 1, "max": 1}


def _private_name(node: nodes.Node) -> str | None:
    """The private name node uses: an attribute or item starting with "_", a variable or keyword
    starting with "__", or a dunder (``__x__``) inside a string constant."""
    if isinstance(node, nodes.Const):
        match = _DUNDER.search(node.value) if isinstance(node.value, str) else None
        return match.group() if match else None
    if isinstance(node, (nodes.Name, nodes.Macro, nodes.Block, nodes.Keyword)):
        name = node.key if isinstance(node, nodes.Keyword) else node.name
        return name if name.startswith("__") else None
    names: list[Any] = []
    if isinstance(node, (nodes.Getattr, nodes.NSRef)):
        names = [node.attr]
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        names = [node.arg.value]
    elif isinstance(node, nodes.Filter):
        index = _ATTRIBUTE_ARG.get(node.name)
        args = [kw.value for kw in node.kwargs if kw.key == "attribute"]
        args += node.args[index:index + 1] if index is not None else []
        names = [part for arg in args if isinstance(arg, nodes.Const) and isinstance(arg.value, str)
                 for part in arg.value.split(".")]
    return next((n for n in names if isinstance(n, str) and n.startswith("_")), None)


class _Prepared(NamedTuple):
    template: jinja2.Template
    variables: frozenset[str]


@lru_cache(maxsize=512)
def _prepare(source: str) -> _Prepared:
    ast = _ENV.parse(source)
    stack: list[nodes.Node] = [ast]
    while stack:
        node = stack.pop()
        feature = _TAGS.get(type(node))
        name = None if feature else _private_name(node)
        if feature or name:
            raise Refused((feature or f"access to {name!r} (a name starting with '_')", node.lineno))
        stack.extend(node.iter_child_nodes())
    variables = frozenset(meta.find_undeclared_variables(ast))  # this may fold constants in ast: parse again
    ast = _ENV.parse(source)
    for loop in ast.find_all(nodes.For):
        loop.body.insert(0, nodes.ExprStmt(nodes.EnvironmentAttribute("tick"), lineno=loop.lineno))
    return _Prepared(_ENV.from_string(ast), variables)


def _prepared(source: str, where: str) -> _Prepared:
    if not isinstance(source, str):
        raise InvalidValue(f"{where}: a template must be a string, not {type(source).__name__}")
    try:
        return _prepare(source)
    except Refused as exc:
        feature, line = exc.args[0]
        raise ForbiddenTemplate(f"{where}: {feature} is not allowed in a prompt template (line {line})") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxError(f"{where}: syntax error on line {exc.lineno}: {exc.message}") from exc
    except Exception as exc:  # RecursionError, or Python's SyntaxError for code nested too deeply
        raise TemplateSyntaxError(f"{where}: the template is nested too deeply to compile") from exc


def check_template(source: str, *, where: str = "template") -> frozenset[str]:
    """Parse and vet a template without running it; return the variable names it uses."""
    return _prepared(source, where).variables


def _render_error(where: str, exc: BaseException, template: jinja2.Template) -> str:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    text = str(exc) if isinstance(exc, (jinja2.TemplateError, Refused)) else f"{type(exc).__name__}: {exc}"
    text = text if len(text) <= 200 else text[:200] + "..."
    return f"{where}: {text}" + (f" (line {line})" if line else "")


def _render_one(prepared: _Prepared, where: str, variables: dict[str, Any], b: Budget) -> str:
    template, parts, size = prepared.template, [], 0
    try:
        context = new_context(_ENV, None, template.blocks, variables, False, _GLOBALS)
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > b.out_left:
                raise Abort(f"the output is longer than {b.max_chars} characters")
            parts.append(chunk)
    except Abort as exc:
        raise RenderLimitExceeded(f"{where}: {exc}") from None
    except MemoryError as exc:
        raise RenderLimitExceeded(f"{where}: out of memory while rendering") from exc
    except Exception as exc:
        raise TemplateRenderError(_render_error(where, exc, template)) from exc
    b.out_left -= size
    return "".join(parts)


def _check_arguments(variables: Mapping[str, Any], max_seconds: float, max_chars: int) -> None:
    if not isinstance(variables, Mapping) or any(not isinstance(key, str) for key in variables):
        raise InvalidValue("variables must be a mapping with string keys")
    if not (isinstance(max_seconds, (int, float)) and max_seconds > 0 and isinstance(max_chars, int)
            and max_chars >= 0):
        raise InvalidValue("max_seconds must be a positive number and max_chars a non-negative integer")


def _render_all(jobs: list[tuple[_Prepared, str]], variables: Mapping[str, Any],
                max_seconds: float, max_chars: int) -> list[str]:
    b, previous, values = Budget(max_seconds, max_chars), getattr(current, "budget", None), dict(variables)
    current.budget = b
    try:
        return [_render_one(prepared, where, values, b) for prepared, where in jobs]
    finally:
        current.budget = previous


def _missing(needed: frozenset[str], variables: Mapping[str, Any]) -> list[str]:
    return sorted(name for name in needed if name not in variables)


def render_template(source: str, variables: Mapping[str, Any], *, where: str = "template",
                    max_seconds: float = MAX_RENDER_SECONDS, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """Render one template with variables, in the sandbox and within the time and size bounds."""
    _check_arguments(variables, max_seconds, max_chars)
    prepared = _prepared(source, where)
    missing = _missing(prepared.variables, variables)
    if missing:
        raise MissingVariables(missing, f"{where}: missing variables: {', '.join(missing)}")
    return _render_all([(prepared, where)], variables, max_seconds, max_chars)[0]


def _message_jobs(messages: Sequence[Mapping[str, Any]]) -> list[tuple[int, _Prepared, str]]:
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        raise InvalidValue("messages must be a list of mappings with 'role' and 'content'")
    roles = [m.get("role") if isinstance(m, Mapping) else None for m in messages]
    jobs = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidValue(f"message {index + 1} must be a mapping with 'role' and 'content'")
        role, content = roles[index], message.get("content")
        where = f"{role} message" if role else f"message {index + 1}"
        if role and roles.count(role) > 1:
            where += f" {roles[:index + 1].count(role)}"
        if content is not None:
            if not isinstance(content, str):
                raise InvalidValue(f"{where}: content must be a string or null")
            jobs.append((index, _prepared(content, where), where))
    return jobs


def render_messages(messages: Sequence[Mapping[str, Any]], variables: Mapping[str, Any], *,
                    max_seconds: float = MAX_RENDER_SECONDS,
                    max_chars: int = MAX_OUTPUT_CHARS) -> list[dict[str, Any]]:
    """Render every message's content; the bounds apply to the whole call."""
    _check_arguments(variables, max_seconds, max_chars)
    jobs = _message_jobs(messages)
    missing = _missing(frozenset().union(*(prepared.variables for _, prepared, _ in jobs)), variables)
    if missing:
        raise MissingVariables(missing)
    texts = _render_all([(prepared, where) for _, prepared, where in jobs], variables, max_seconds, max_chars)
    result = [dict(message) for message in messages]
    for (index, _, _), text in zip(jobs, texts):
        result[index]["content"] = text
    return result


def template_variables(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sorted union of the variables used by all message contents."""
    return sorted(frozenset().union(*(prepared.variables for _, prepared, _ in _message_jobs(messages))))
