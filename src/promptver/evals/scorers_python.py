"""The ``python`` scorer: ``function: module:function``, called as ``function(output, case)``.

The module is looked up in the suite's folder first (``base_dir``), then on ``sys.path``. Its file
is read once, hashed (the sha256 goes into the scorer version, so editing the function changes the
version) and those very bytes are executed, so the hash always describes the code that runs. A
module already loaded from the same file is reused (re-executed if this loader loaded it and the
file changed since); a module this loader loaded from another suite's folder under the same name
is replaced; a module of the same name loaded by anyone else (the standard library, an installed
package) is never replaced: the scorer is refused ("rename it"). Only the module's own file is
hashed: helpers it imports are not.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
import threading
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from promptver.evals.scorers_base import Built, Decl, JudgeFn, Kind, Outcome, ScoreInput, short

if TYPE_CHECKING:
    from promptver.evals.scorers import Scorer

_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
_LOCK = threading.RLock()
_OURS: dict[str, tuple[str | None, ModuleType]] = {}  # module name -> (sha256 executed, module) loaded here


class _ModuleTaken(Exception):  # internal: _build turns it into InvalidFile
    """A module of that name, loaded from another file by someone else, is in sys.modules."""


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _is(module: ModuleType, spec: ModuleSpec) -> bool:
    """Whether ``module`` was loaded from where ``spec`` points (a file, or a namespace package's folders)."""
    if spec.origin:
        return _same(getattr(module, "__file__", None), spec.origin)
    here = list(getattr(module, "__path__", None) or [])
    return any(_same(a, b) for a in here for b in spec.submodule_search_locations or [])


def _mine(name: str) -> bool:
    entry = _OURS.get(name)
    return entry is not None and sys.modules.get(name) is entry[1]


def _needs_loading(spec: ModuleSpec) -> bool:
    """Whether ``spec`` must be loaded: it is not in sys.modules, or a module of that name that this
    loader put there came from another folder (it is dropped). Anything else of that name is
    someone else's (the standard library, an installed package): _ModuleTaken, never replaced."""
    existing = sys.modules.get(spec.name)
    if existing is None:
        return True
    if _is(existing, spec):
        return False
    if _mine(spec.name):
        del sys.modules[spec.name]
        return True
    raise _ModuleTaken(f"{spec.origin or spec.name} would replace the module {spec.name!r} already loaded from "
                      f"{getattr(existing, '__file__', None) or 'built-in'}: rename it")


def _find(module: str, search: list[str]) -> list[ModuleSpec]:
    """The spec of each dotted prefix of ``module`` (``a``, ``a.b``, ...), found on ``search``."""
    parts = module.split(".")
    specs: list[ModuleSpec] = []
    path: list[str] | None = search
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), path) if path is not None else None
        if spec is None or (i < len(parts) - 1 and not spec.submodule_search_locations):
            raise LookupError(".".join(parts[: i + 1]))
        specs.append(spec)
        path = list(spec.submodule_search_locations or []) or None
    if not specs[-1].origin or not os.path.isfile(specs[-1].origin):
        raise LookupError(module)
    return specs


def _execute(spec: ModuleSpec, source: bytes) -> ModuleType:
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        if spec.origin and spec.origin.endswith(".py"):
            exec(compile(source, spec.origin, "exec"), module.__dict__)  # noqa: S102 - the suite's own code
        else:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    parent, _, leaf = spec.name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], leaf, module)
    return module


def load_function(target: str, base_dir: Path | None) -> tuple[Any, str]:
    """Import ``module:function`` (``base_dir`` first on sys.path); return it and the module file's sha256.

    Raises LookupError (module not found), _ModuleTaken, AttributeError (no such function) or
    whatever executing the module raised.
    """
    module_name, _, func_name = target.partition(":")
    entry = str(base_dir) if base_dir is not None else None
    with _LOCK:
        importlib.invalidate_caches()  # a file written a moment ago must be seen
        if entry is not None:
            sys.path.insert(0, entry)
        try:
            *packages, spec = _find(module_name, sys.path)
            for package in packages:
                if _needs_loading(package):
                    _OURS[package.name] = (None, importlib.import_module(package.name))
            source = Path(spec.origin).read_bytes()  # type: ignore[arg-type]
            sha = hashlib.sha256(source).hexdigest()
            if _needs_loading(spec) or (_mine(module_name) and _OURS[module_name][0] != sha):
                _OURS[module_name] = (sha, _execute(spec, source))
            module = sys.modules[module_name]
        finally:
            if entry is not None and entry in sys.path:
                sys.path.remove(entry)
    return getattr(module, func_name), sha


def _build(decl: Decl) -> Built:
    target = decl.text("function", required=True)
    if not _SPEC.fullmatch(target):
        raise decl.error("function", f"must be module:function (e.g. my_checks:polite), not {target!r}")
    try:
        function, sha = load_function(target, decl.base_dir)
    except _ModuleTaken as exc:
        raise decl.error("function", str(exc)) from None
    except LookupError:
        where = f"in {decl.base_dir} or on sys.path" if decl.base_dir is not None else "on sys.path"
        raise decl.error("function", f"no module {target.partition(':')[0]!r} {where}") from None
    except AttributeError:
        module, _, name = target.partition(":")
        raise decl.error("function", f"module {module!r} has no function {name!r}") from None
    except Exception as exc:  # noqa: BLE001 - importing the suite's module may raise anything
        raise decl.error("function", f"importing {target.partition(':')[0]!r} failed: "
                                     f"{type(exc).__name__}: {short(exc, 200)}") from None
    if not callable(function):
        raise decl.error("function", f"{target} is not a function")
    return Built({"function": target}, function, sha)


def _outcome(target: str, result: Any) -> Outcome:
    detail = ""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        result, detail = result
    if isinstance(result, bool):
        return Outcome(float(result), detail or ("true" if result else "false"))
    if isinstance(result, (int, float)) and math.isfinite(result) and 0 <= result <= 1:
        return Outcome(float(result), detail or f"{result:g}")
    return Outcome(0.0, f"{target} returned {short(repr(result))}: expected true/false, a number in [0, 1], "
                        "or (number, detail)", broken=True)


async def _run(scorer: Scorer, inp: ScoreInput, judge: JudgeFn | None) -> Outcome:
    target = scorer.options["function"]
    try:
        result = scorer.state(inp.text, inp)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # noqa: BLE001 - the user's function failed: a failed score, not a crash
        return Outcome(0.0, f"{target} raised {type(exc).__name__}: {short(exc, 200)}", broken=True)
    return _outcome(target, result)


KIND = Kind("python", 1, ("function",), _build, _run, lambda o: "python:" + o["function"], graded=True)
