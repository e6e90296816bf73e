"""The ``python`` scorer: ``function: module:function``, called as ``function(output, case)``.

A suite is code: this scorer runs the module it names with the permissions of whoever runs the
suite. Reading a suite (``parse_scorers``) never executes it: the module is only found (the suite's
folder first, ``base_dir``, then ``sys.path``) and its file hashed (the sha256 goes into the scorer
version, so editing the function changes the version). The module is executed by
:meth:`PythonFunction.load`, which a run calls once every input check has passed
(``scorers.load_code``), saying which file it executes before it does; the bytes executed are the
bytes hashed then (a file edited in between is refused), so the hash always describes the code that
runs. A module already loaded from the same file is reused (re-executed if this loader loaded it
and the file changed since); a module this loader loaded from another suite's folder under the same
name is replaced; a module of the same name loaded by anyone else (the standard library, an
installed package) is never replaced: the scorer is refused ("rename it"). Only the module's own
file is hashed: helpers it imports are not.
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
from collections.abc import Callable
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from promptver.errors import InvalidFile
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


def _search(base_dir: Path | None) -> list[str]:
    return ([str(base_dir)] if base_dir is not None else []) + sys.path


def locate(target: str, base_dir: Path | None) -> tuple[str, str]:
    """Find ``module:function``'s module file without executing anything (``base_dir`` first, then
    sys.path); return its path and sha256. Raises LookupError (no such module), _ModuleTaken, or
    InvalidFile (the file cannot be read)."""
    from promptver.templates.reading import MAX_CODE_BYTES, read_bytes

    module_name = target.partition(":")[0]
    with _LOCK:
        importlib.invalidate_caches()  # a file written a moment ago must be seen
        *_, spec = _find(module_name, _search(base_dir))
        existing = sys.modules.get(spec.name)
        if existing is not None and not _is(existing, spec) and not _mine(spec.name):
            raise _ModuleTaken(f"{spec.origin or spec.name} would replace the module {spec.name!r} already loaded "
                               f"from {getattr(existing, '__file__', None) or 'built-in'}: rename it")
    origin = str(spec.origin)
    return origin, hashlib.sha256(read_bytes(origin, MAX_CODE_BYTES, "a scorer module")).hexdigest()


def load_function(target: str, base_dir: Path | None, say: Callable[[str], Any] | None = None) -> tuple[Any, str]:
    """Import ``module:function`` (``base_dir`` first on sys.path); return it and the module file's
    sha256. ``say`` is told the path of each file before it is executed.

    Raises LookupError (module not found), _ModuleTaken, AttributeError (no such function) or
    whatever executing the module raised.
    """
    from promptver.templates.reading import MAX_CODE_BYTES, read_bytes

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
                    if say is not None:
                        say(_saying(package.origin or ", ".join(package.submodule_search_locations or [])))
                    _OURS[package.name] = (None, importlib.import_module(package.name))
            source = read_bytes(spec.origin, MAX_CODE_BYTES, "a scorer module")
            sha = hashlib.sha256(source).hexdigest()
            if _needs_loading(spec) or (_mine(module_name) and _OURS[module_name][0] != sha):
                if say is not None:
                    say(_saying(str(spec.origin)))
                _OURS[module_name] = (sha, _execute(spec, source))
            module = sys.modules[module_name]
        finally:
            if entry is not None and entry in sys.path:
                sys.path.remove(entry)
    return getattr(module, func_name), sha


def _saying(path: str) -> str:
    return f"loading python scorer code {path} (a suite is code: it runs with your permissions)"


class PythonFunction:
    """A python scorer's function: found and hashed when the suite is read; its module executed
    only by :meth:`load` (the run calls it after every input check), or at the first call."""

    def __init__(self, target: str, base_dir: Path | None, origin: str, sha256: str, decl: Decl) -> None:
        self.target, self.base_dir, self.origin, self.sha256 = target, base_dir, origin, sha256
        self._decl = decl
        self.function: Any = None

    def load(self, say: Callable[[str], Any] | None = None) -> None:
        """Execute the module (unless already loaded from the same bytes) and take the function;
        InvalidFile naming the suite, the scorer and the field for anything that goes wrong."""
        if self.function is not None:
            return
        decl, target = self._decl, self.target
        try:
            function, sha = load_function(target, self.base_dir, say)
        except InvalidFile as exc:
            raise decl.error("function", exc.message) from None
        except _ModuleTaken as exc:
            raise decl.error("function", str(exc)) from None
        except LookupError:
            raise decl.error("function", f"{self.origin} is gone since the suite was read") from None
        except AttributeError:
            module, _, name = target.partition(":")
            raise decl.error("function", f"module {module!r} has no function {name!r}") from None
        except Exception as exc:  # noqa: BLE001 - importing the suite's module may raise anything
            raise decl.error("function", f"importing {target.partition(':')[0]!r} failed: "
                                         f"{type(exc).__name__}: {short(exc, 200)}") from None
        if sha != self.sha256:
            raise decl.error("function", f"{self.origin} changed since the suite was read; run again")
        if not callable(function):
            raise decl.error("function", f"{target} is not a function")
        self.function = function

    def __call__(self, output: str, case: ScoreInput) -> Any:
        if self.function is None:
            self.load()
        return self.function(output, case)


def _build(decl: Decl) -> Built:
    target = decl.text("function", required=True)
    if not _SPEC.fullmatch(target):
        raise decl.error("function", f"must be module:function (e.g. my_checks:polite), not {target!r}")
    try:
        origin, sha = locate(target, decl.base_dir)
    except InvalidFile as exc:
        raise decl.error("function", exc.message) from None
    except _ModuleTaken as exc:
        raise decl.error("function", str(exc)) from None
    except LookupError:
        where = f"in {decl.base_dir} or on sys.path" if decl.base_dir is not None else "on sys.path"
        raise decl.error("function", f"no module {target.partition(':')[0]!r} {where}") from None
    return Built({"function": target}, PythonFunction(target, decl.base_dir, origin, sha, decl), sha)


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
    if scorer.state.function is None:
        scorer.state.load()  # used without a run (the Python API): load now; a failure is the suite's, not a score
    try:
        result = scorer.state(inp.text, inp)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # noqa: BLE001 - the user's function failed: a failed score, not a crash
        return Outcome(0.0, f"{target} raised {type(exc).__name__}: {short(exc, 200)}", broken=True)
    return _outcome(target, result)


KIND = Kind("python", 1, ("function",), _build, _run, lambda o: "python:" + o["function"], graded=True)
