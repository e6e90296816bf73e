"""The bounds of one render: time and size, enforced while a sandboxed template runs.

``Budget`` holds one call's deadline, size limit and work allowance; ``current.budget`` is the active
one (per thread). The sandbox environment (sandbox.py) consults it on every loop iteration, call,
binary operator, filter and printed value; ``wrap_filter`` wraps Jinja's filters so that a filter
whose result would be too large is refused before it allocates, and filters that loop in Python run
under a line tracer that checks the deadline.
"""

from __future__ import annotations

import re
import sys
import threading
import types
from collections.abc import Iterator
from itertools import accumulate
from time import perf_counter
from typing import Any

from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, Undefined
from jinja2.utils import Namespace, _PassArg, pass_context

MAX_RENDER_SECONDS: float = 1.0
MAX_OUTPUT_CHARS: int = 200_000
WORK_FACTOR = 20  # all strings made during one call may total WORK_FACTOR * max_chars characters
MIN_WORK = 1_000_000
MAX_INT_BITS = 65_536
# Filters that loop in Python over their whole input: the deadline tracer runs while they do.
TRACED = frozenset({"dictsort", "groupby", "max", "min", "pprint", "sort", "sum", "tojson", "unique",
                     "urlencode", "urlize", "wordwrap", "xmlattr"})
# Filters that turn their input into text (a container's text is checked before it is made).
STRINGIFY = frozenset({"capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower",
                        "pprint", "replace", "safe", "string", "striptags", "title", "trim", "truncate",
                        "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"})
SIZED = (str, bytes, list, tuple, dict, set, frozenset)


class Abort(BaseException):
    """A bound was hit. A BaseException, so no ``except Exception`` inside a render swallows it."""


class Refused(Exception):
    """The template asked for something promptver does not render."""


class Budget:
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
            raise Abort(f"rendering took longer than {self.max_seconds:g} s")

    def trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        self.tick()
        return self.trace

    def need(self, size: int) -> None:
        if size > self.max_chars:
            raise Abort(f"a value would be longer than {self.max_chars} characters")

    def charge(self, size: int) -> None:
        self.work_left -= size
        if self.work_left < 0:
            raise Abort(f"rendering made too much text (more than {WORK_FACTOR} times {self.max_chars})")
        self.tick()


current = threading.local()


def budget() -> Budget:
    return getattr(current, "budget", None) or Budget(MAX_RENDER_SECONDS, MAX_OUTPUT_CHARS)


def ticking(items: Iterator[Any], b: Budget) -> Iterator[Any]:
    for item in items:
        b.tick()
        yield item


def weight(value: Any, limit: int, indent: int = 0) -> int:
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
                raise Refused("cannot render a callable or an object without a text form")
            total += 16
    return total


def num(value: Any) -> int:
    return abs(value) if isinstance(value, int) else len(value) if isinstance(value, str) else 0


def argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def replace_size(s: Any, old: Any = None, new: Any = None, count: Any = None) -> int:
    if not (isinstance(s, (str, bytes)) and type(old) is type(new) is type(s)):
        return 0
    hits = len(s) + 1 if not old else s.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


def check_percent(b: Budget, fmt: Any, args: Any) -> None:
    if isinstance(fmt, str):
        for part in (part for spec in PERCENT.finditer(fmt) for part in spec.groups() if part):
            for width in (args if isinstance(args, tuple) else (args,)) if part == "*" else (int(part),):
                b.need(abs(width) if isinstance(width, int) else 0)
        b.need(weight(args, b.max_chars))


def join_items(b: Budget, sep: Any, items: Any) -> list[Any]:
    """Collect what a join will join, refusing as soon as the joined text would be too long."""
    result, size = [], 0
    for item in items:
        size += num(sep) + (len(item) if isinstance(item, (str, bytes)) else weight(item, b.max_chars))
        b.need(size)
        result.append(item)
    return result


def precheck(name: str, b: Budget, ctx: Context, value: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Refuse a filter call whose result would be too large; may return materialized arguments."""
    if name in STRINGIFY and not isinstance(value, str):
        b.need(weight(value, b.max_chars, indent=1))
    if name == "join":
        sep, attribute = argument(args, kwargs, 0, "d", ""), argument(args, kwargs, 1, "attribute")
        items = map(make_attrgetter(ctx.environment, attribute), value) if attribute is not None else value
        return join_items(b, sep, items), (sep,), {}
    if name == "sum" and not isinstance(argument(args, kwargs, 1, "start", 0), (int, float)):
        attribute, start = argument(args, kwargs, 0, "attribute"), argument(args, kwargs, 1, "start")
        items = list(map(make_attrgetter(ctx.environment, attribute), value) if attribute is not None else value)
        sizes = accumulate(len(x) if isinstance(x, SIZED) else 1 for x in [start, *items])
        b.need(sum(sizes))  # sum() concatenates one item at a time: quadratic
        return items, (), {"start": start}
    if name in ("batch", "slice"):
        b.need(num(args[0] if args else kwargs.get("linecount", kwargs.get("slices", 0))))
    elif name == "center":
        b.need(num(argument(args, kwargs, 0, "width", 80)))
    elif name == "indent" and isinstance(value, str):
        b.need(len(value) + (value.count("\n") + 1) * num(argument(args, kwargs, 0, "width", 4)))
    elif name == "wordwrap" and isinstance(value, str) and len(argument(args, kwargs, 2, "wrapstring") or "") > 2:
        b.need(len(value) + (len(value) + 1) * len(argument(args, kwargs, 2, "wrapstring")))
    elif name == "replace":
        b.need(replace_size(value, *args[:3], **kwargs))
    elif name == "format":
        check_percent(b, value, kwargs or args)
    elif name == "tojson":
        b.need(weight(value, b.max_chars, num(argument(args, kwargs, 0, "indent", 0))))
    return value, args, kwargs


def wrap_filter(name: str, func: Any) -> Any:
    pass_arg = _PassArg.from_obj(func)
    first = {_PassArg.context: lambda c: (c,), _PassArg.eval_context: lambda c: (c.eval_ctx,),
             _PassArg.environment: lambda c: (c.environment,)}.get(pass_arg, lambda c: ())  # type: ignore

    @pass_context  # also keeps Jinja from running the filter at compile time on constants
    def checked(ctx: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        b = budget()
        b.tick()
        value, args, kwargs = precheck(name, b, ctx, value, args, kwargs)
        if name in TRACED:
            previous = sys.gettrace()
            sys.settrace(b.trace)
            try:
                result = func(*first(ctx), value, *args, **kwargs)
                result = list(result) if isinstance(result, Iterator) else result  # unique: do the work now
            finally:
                sys.settrace(previous)
        else:
            result = func(*first(ctx), value, *args, **kwargs)
        if result is not value and isinstance(result, SIZED):
            b.charge(len(result))
        return ticking(result, b) if isinstance(result, Iterator) else result

    checked.__name__ = checked.__qualname__ = f"checked_{name}"
    return checked
