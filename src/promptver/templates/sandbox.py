"""Check and render prompt templates in a bounded Jinja2 sandbox (pure, no I/O).

Templates are parsed and vetted before they run (no include/import/extends, no names starting
with ``_``) and rendered in an immutable sandbox with StrictUndefined. Rendering is bounded in
time and size; see ``_Budget`` for how.
"""

from __future__ import annotations

import re
import sys
import threading
import types
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import accumulate
from time import perf_counter
from typing import Any, NamedTuple

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, Undefined, new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, _PassArg, pass_context

from promptver.errors import (ForbiddenTemplate, InvalidValue, MissingVariables, RenderLimitExceeded,
                              TemplateRenderError, TemplateSyntaxError)

MAX_RENDER_SECONDS: float = 1.0
MAX_OUTPUT_CHARS: int = 200_000
WORK_FACTOR = 20  # all strings made during one call may total WORK_FACTOR * max_chars characters
MIN_WORK = 1_000_000
MAX_INT_BITS = 65_536
# Filters that loop in Python over their whole input: the deadline tracer runs while they do.
_TRACED = frozenset({"dictsort", "groupby", "max", "min", "pprint", "sort", "sum", "tojson", "unique",
                     "urlencode", "urlize", "wordwrap", "xmlattr"})
# Filters that turn their input into text (a container's text is checked before it is made).
_STRINGIFY = frozenset({"capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower",
                        "pprint", "replace", "safe", "string", "striptags", "title", "trim", "truncate",
                        "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"})
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


class _Abort(BaseException):
    """A bound was hit. A BaseException, so no ``except Exception`` inside a render swallows it."""


class _Refused(Exception):
    """The template asked for something promptver does not render."""


class _Budget:
    """The bounds of one render call.

    Time: the deadline is checked at every loop iteration (a check compiled into each loop body),
    every call, filter and lazily produced item, and by a line tracer (sys.settrace, this
    thread only) while a filter that loops in Python runs. Size: an operation that grows a value
    (``*``, ``**``, ``%``, padding, replace, join, format widths, ...) is refused before it allocates
    if the value would exceed max_chars; every string made is charged against a work budget; the
    output is counted chunk by chunk.
    """

    def __init__(self, max_seconds: float, max_chars: int) -> None:
        self.max_seconds, self.max_chars, self.out_left = max_seconds, max_chars, max_chars
        self.deadline = perf_counter() + max_seconds
        self.work_left = max(WORK_FACTOR * max_chars, MIN_WORK)

    def tick(self) -> None:
        if perf_counter() > self.deadline:
            raise _Abort(f"rendering took longer than {self.max_seconds:g} s")

    def trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        self.tick()
        return self.trace

    def need(self, size: int) -> None:
        if size > self.max_chars:
            raise _Abort(f"a value would be longer than {self.max_chars} characters")

    def charge(self, size: int) -> None:
        self.work_left -= size
        if self.work_left < 0:
            raise _Abort(f"rendering made too much text (more than {WORK_FACTOR} times {self.max_chars})")
        self.tick()


_local = threading.local()


def _budget() -> _Budget:
    return getattr(_local, "budget", None) or _Budget(MAX_RENDER_SECONDS, MAX_OUTPUT_CHARS)


def _ticking(items: Iterator[Any], b: _Budget) -> Iterator[Any]:
    for item in items:
        b.tick()
        yield item


def _weight(value: Any, limit: int, indent: int = 0) -> int:
    """Estimated length of str(value), counted up to just past limit; refuses values without a text form."""
    total, stack = 0, [(value, 0)]
    while stack and total <= limit:
        item, depth = stack.pop()
        total += depth * indent
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, (bool, float)) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            total += 2 + 2 * len(item)
            if total <= limit:
                children = [x for pair in item.items() for x in pair] if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, Namespace):
            stack.append((object.__getattribute__(item, "_Namespace__attrs"), depth))
        else:
            if isinstance(item, Undefined):
                str(item)  # raises: StrictUndefined, or the sandbox's unsafe-attribute undefined
            cls = type(item)
            if callable(item) or isinstance(item, Iterator) or (
                    cls.__repr__ is object.__repr__ and cls.__str__ is object.__str__):
                raise _Refused("cannot render a callable or an object without a text form")
            total += 16
    return total


def _num(value: Any) -> int:
    return abs(value) if isinstance(value, int) else len(value) if isinstance(value, str) else 0


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _replace_size(s: Any, old: Any = None, new: Any = None, count: Any = None) -> int:
    if not (isinstance(s, (str, bytes)) and type(old) is type(new) is type(s)):
        return 0
    hits = len(s) + 1 if not old else s.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


def _check_percent(b: _Budget, fmt: Any, args: Any) -> None:
    if isinstance(fmt, str):
        for part in (part for spec in _PERCENT.finditer(fmt) for part in spec.groups() if part):
            for width in (args if isinstance(args, tuple) else (args,)) if part == "*" else (int(part),):
                b.need(abs(width) if isinstance(width, int) else 0)
        b.need(_weight(args, b.max_chars))


def _join_items(b: _Budget, sep: Any, items: Any) -> list[Any]:
    """Collect what a join will join, refusing as soon as the joined text would be too long."""
    result, size = [], 0
    for item in items:
        size += _num(sep) + (len(item) if isinstance(item, (str, bytes)) else _weight(item, b.max_chars))
        b.need(size)
        result.append(item)
    return result


def _precheck(name: str, b: _Budget, ctx: Context, value: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Refuse a filter call whose result would be too large; may return materialized arguments."""
    if name in _STRINGIFY and not isinstance(value, str):
        b.need(_weight(value, b.max_chars, indent=1))
    if name == "join":
        sep, attribute = _arg(args, kwargs, 0, "d", ""), _arg(args, kwargs, 1, "attribute")
        items = map(make_attrgetter(ctx.environment, attribute), value) if attribute is not None else value
        return _join_items(b, sep, items), (sep,), {}
    if name == "sum" and not isinstance(_arg(args, kwargs, 1, "start", 0), (int, float)):
        attribute, start = _arg(args, kwargs, 0, "attribute"), _arg(args, kwargs, 1, "start")
        items = list(map(make_attrgetter(ctx.environment, attribute), value) if attribute is not None else value)
        sizes = accumulate(len(x) if isinstance(x, _SIZED) else 1 for x in [start, *items])
        b.need(sum(sizes))  # sum() concatenates one item at a time: quadratic
        return items, (), {"start": start}
    if name in ("batch", "slice"):
        b.need(_num(args[0] if args else kwargs.get("linecount", kwargs.get("slices", 0))))
    elif name == "center":
        b.need(_num(_arg(args, kwargs, 0, "width", 80)))
    elif name == "indent" and isinstance(value, str):
        b.need(len(value) + (value.count("\n") + 1) * _num(_arg(args, kwargs, 0, "width", 4)))
    elif name == "wordwrap" and isinstance(value, str) and len(_arg(args, kwargs, 2, "wrapstring") or "") > 2:
        b.need(len(value) + (len(value) + 1) * len(_arg(args, kwargs, 2, "wrapstring")))
    elif name == "replace":
        b.need(_replace_size(value, *args[:3], **kwargs))
    elif name == "format":
        _check_percent(b, value, kwargs or args)
    elif name == "tojson":
        b.need(_weight(value, b.max_chars, _num(_arg(args, kwargs, 0, "indent", 0))))
    return value, args, kwargs


def _wrap_filter(name: str, func: Any) -> Any:
    pass_arg = _PassArg.from_obj(func)
    first = {_PassArg.context: lambda c: (c,), _PassArg.eval_context: lambda c: (c.eval_ctx,),
             _PassArg.environment: lambda c: (c.environment,)}.get(pass_arg, lambda c: ())  # type: ignore

    @pass_context  # also keeps Jinja from running the filter at compile time on constants
    def checked(ctx: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        b = _budget()
        b.tick()
        value, args, kwargs = _precheck(name, b, ctx, value, args, kwargs)
        if name in _TRACED:
            previous = sys.gettrace()
            sys.settrace(b.trace)
            try:
                result = func(*first(ctx), value, *args, **kwargs)
                result = list(result) if isinstance(result, Iterator) else result  # unique: do the work now
            finally:
                sys.settrace(previous)
        else:
            result = func(*first(ctx), value, *args, **kwargs)
        if result is not value and isinstance(result, _SIZED):
            b.charge(len(result))
        return _ticking(result, b) if isinstance(result, Iterator) else result

    checked.__name__ = checked.__qualname__ = f"checked_{name}"
    return checked


class _Formatter(SandboxedFormatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion:
            _budget().need(_weight(value, _budget().max_chars))
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        b = _budget()
        for digits in re.findall(r"\d+", format_spec):
            b.need(int(digits))
        if not isinstance(value, (str, int, float)):
            b.need(_weight(value, b.max_chars))
        result = super().format_field(value, format_spec)
        b.charge(len(result))
        return result


class _CodeGenerator(CodeGenerator):
    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == "tick":
            self.writeline("environment.tick()", node)  # put at the top of every loop body by _prepare
        else:
            super().visit_ExprStmt(node, frame)

    @optimizeconst
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
        _budget().tick()

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        b = _budget()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 0 and abs(left) > 1:
            if right > MAX_INT_BITS or right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
                raise _Abort(f"{left} ** {right} is too large a number")
        elif operator == "*" and ints:
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise _Abort("a product is too large a number")
        elif operator == "*":
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and times > 1:
                b.need(len(seq) * times)
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            b.need(len(left) + len(right))
        elif operator == "%":
            _check_percent(b, left, right)
        result = self.binop_table[operator](left, right)
        if isinstance(result, _SIZED):
            b.charge(len(result))
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        b = _budget()
        b.tick()
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(obj, types.BuiltinMethodType) and isinstance(owner, (str, bytes)):
            if name in ("translate", "maketrans", "encode"):
                raise _Refused(f"str.{name}() is not allowed in a prompt template")
            if name in ("center", "ljust", "rjust", "zfill") and args:
                b.need(_num(args[0]))
            elif name == "expandtabs":
                tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
                b.need(len(owner) + tabs * _num(_arg(args, kwargs, 0, "tabsize", 8)))
            elif name == "replace":
                b.need(_replace_size(owner, *args[:3]))
            elif name == "join" and args:
                args = (_join_items(b, owner, args[0]),)
        elif isinstance(obj, types.BuiltinMethodType) and name == "fromkeys":
            raise _Refused("dict.fromkeys() is not allowed in a prompt template")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, _SIZED):
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
        b = _budget()
        size = sum(len(x) if isinstance(x, str) else _weight(x, b.max_chars) for x in items)
        b.need(size)
        b.charge(size)
        return join(items)  # type: ignore[no-any-return]


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    cls = type(value)
    if cls is str:
        _budget().charge(len(value))
    elif not (cls is int or cls is float or cls is bool or value is None):
        b = _budget()
        size = len(value) if isinstance(value, str) else _weight(value, b.max_chars)
        b.need(size)
        b.charge(size)
    return value


_ENV = _PromptEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
                          finalize=_finalize)
del _ENV.globals["lipsum"]
_ENV.filters = {name: _wrap_filter(name, func) for name, func in _ENV.filters.items() if name != "random"}
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
            raise _Refused((feature or f"access to {name!r} (a name starting with '_')", node.lineno))
        stack.extend(node.iter_child_nodes())
    variables = frozenset(meta.find_undeclared_variables(ast))
    for loop in ast.find_all(nodes.For):
        loop.body.insert(0, nodes.ExprStmt(nodes.EnvironmentAttribute("tick"), lineno=loop.lineno))
    return _Prepared(_ENV.from_string(ast), variables)


def _prepared(source: str, where: str) -> _Prepared:
    if not isinstance(source, str):
        raise InvalidValue(f"{where}: a template must be a string, not {type(source).__name__}")
    try:
        return _prepare(source)
    except _Refused as exc:
        feature, line = exc.args[0]
        raise ForbiddenTemplate(f"{where}: {feature} is not allowed in a prompt template (line {line})") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxError(f"{where}: syntax error on line {exc.lineno}: {exc.message}") from exc
    except RecursionError as exc:
        raise TemplateSyntaxError(f"{where}: the template is nested too deeply") from exc


def check_template(source: str, *, where: str = "template") -> frozenset[str]:
    """Parse and vet a template without running it; return the variable names it uses."""
    return _prepared(source, where).variables


def _render_error(where: str, exc: BaseException, template: jinja2.Template) -> str:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    text = str(exc) if isinstance(exc, (jinja2.TemplateError, _Refused)) else f"{type(exc).__name__}: {exc}"
    text = text if len(text) <= 200 else text[:200] + "..."
    return f"{where}: {text}" + (f" (line {line})" if line else "")


def _render_one(prepared: _Prepared, where: str, variables: dict[str, Any], b: _Budget) -> str:
    template, parts, size = prepared.template, [], 0
    try:
        context = new_context(_ENV, None, template.blocks, variables, False, _GLOBALS)
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > b.out_left:
                raise _Abort(f"the output is longer than {b.max_chars} characters")
            parts.append(chunk)
    except _Abort as exc:
        raise RenderLimitExceeded(f"{where}: {exc}") from None
    except MemoryError as exc:
        raise RenderLimitExceeded(f"{where}: out of memory while rendering") from exc
    except Exception as exc:
        raise TemplateRenderError(_render_error(where, exc, template)) from exc
    b.out_left -= size
    return "".join(parts)


def _render_all(jobs: list[tuple[_Prepared, str]], variables: Mapping[str, Any],
                max_seconds: float, max_chars: int) -> list[str]:
    if not isinstance(variables, Mapping) or any(not isinstance(key, str) for key in variables):
        raise InvalidValue("variables must be a mapping with string keys")
    b, previous, values = _Budget(max_seconds, max_chars), getattr(_local, "budget", None), dict(variables)
    _local.budget = b
    try:
        return [_render_one(prepared, where, values, b) for prepared, where in jobs]
    finally:
        _local.budget = previous


def _missing(needed: frozenset[str], variables: Mapping[str, Any]) -> list[str]:
    return sorted(name for name in needed if name not in variables)


def render_template(source: str, variables: Mapping[str, Any], *, where: str = "template",
                    max_seconds: float = MAX_RENDER_SECONDS, max_chars: int = MAX_OUTPUT_CHARS) -> str:
    """Render one template with variables, in the sandbox and within the time and size bounds."""
    prepared = _prepared(source, where)
    missing = _missing(prepared.variables, variables)
    if missing:
        raise MissingVariables(missing, f"{where}: missing variables: {', '.join(missing)}")
    return _render_all([(prepared, where)], variables, max_seconds, max_chars)[0]


def _message_jobs(messages: Sequence[Mapping[str, Any]]) -> list[tuple[int, _Prepared, str]]:
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
