"""Reading a user's files, bounded: regular files only, up to a documented size, as UTF-8 text; YAML
with bounded nesting and aliases. Every file promptver reads on a user's word comes through here
(prompt, model and suite files, datasets, python scorer modules; docs/file-formats.md, "Limits").

* Only regular files: a folder, a FIFO, a socket or a device (``/dev/zero``, ``/dev/urandom``) is
  refused before anything is read. The file is opened without blocking, so a FIFO cannot hang.
* Sizes: ``MAX_FILE_BYTES`` (1 MB) for prompt, model and suite files, ``MAX_DATASET_BYTES`` (64 MiB)
  for datasets (JSONL is streamed line by line), ``MAX_CODE_BYTES`` (10 MB) for scorer modules.
  The limit holds on what is read, even if the file grows while it is read.
* YAML: nesting at most ``MAX_YAML_DEPTH`` deep; anchors and aliases are allowed (a dataset may share
  a long context between cases), but at most ``MAX_ALIASES`` aliases, no recursive alias, and what
  the aliases add when expanded at most ``MAX_ALIAS_EXPANSION`` bytes, all checked on the composed
  node graph before any Python value is built (a "billion laughs" file is refused in milliseconds).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from promptver.errors import InvalidFile

MAX_FILE_BYTES = 1_000_000
MAX_DATASET_BYTES = 64 * 1024 * 1024
MAX_CODE_BYTES = 10_000_000
MAX_YAML_DEPTH = 100
MAX_ALIASES = 10_000
MAX_ALIAS_EXPANSION = 10_000_000
_CHUNK = 1 << 20


def shown(path: Any) -> str:
    """A path as error messages show it: at most 200 characters."""
    text = str(path)
    return text if len(text) <= 200 else text[:100] + "…" + text[-99:]


def _open(path: Any, name: Any = None) -> int:
    """A file descriptor of the regular file ``path``, opened without blocking; InvalidFile otherwise
    (naming the file as ``name``, default its path)."""
    name = path if name is None else name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except ValueError:  # a NUL character in the path
        raise InvalidFile(f"{shown(name)}: cannot read: the path contains a NUL character") from None
    except OSError as exc:
        reason = "it is a folder" if os.path.isdir(str(path)) else (exc.strerror or str(exc))
        raise InvalidFile(f"{shown(name)}: cannot read: {reason}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("it is a folder" if stat.S_ISDIR(mode) else "it is a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "it is a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "it is a socket"
                if stat.S_ISSOCK(mode) else "it is not a regular file")
        raise InvalidFile(f"{shown(name)}: cannot read: {kind}; promptver reads only regular files")
    return fd


def _too_large(path: Any, what: str, limit: int) -> InvalidFile:
    return InvalidFile(f"{shown(path)}: larger than {limit:,} bytes, the limit of {what}")


def read_bytes(path: Any, limit: int = MAX_FILE_BYTES, what: str = "a promptver file", name: Any = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; InvalidFile otherwise
    (naming the file as ``name``, default its path)."""
    name = path if name is None else name
    fd = _open(path, name)
    try:
        if os.fstat(fd).st_size > limit:
            raise _too_large(name, what, limit)
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            except OSError as exc:
                raise InvalidFile(f"{shown(name)}: cannot read: {exc.strerror or exc}") from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(name, what, limit)
    finally:
        os.close(fd)


def _decode(data: bytes, path: Any, offset: int = 0, line: int | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"{shown(path)}:{line}" if line is not None else shown(path)
        raise InvalidFile(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{offset + exc.start})") from None


def read_text(path: Any, limit: int = MAX_FILE_BYTES, what: str = "a promptver file", name: Any = None) -> str:
    """The UTF-8 text of the regular file ``path`` (at most ``limit`` bytes); InvalidFile otherwise
    (naming the file as ``name``, default its path)."""
    text = _decode(read_bytes(path, limit, what, name), path if name is None else name)
    return text[1:] if text.startswith("\ufeff") else text


def iter_lines(path: Any, limit: int = MAX_DATASET_BYTES, what: str = "a dataset") -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of the regular file ``path``, streamed: at most ``limit``
    bytes in all, a line never held twice; InvalidFile for a bad file, a non-UTF-8 line or the limit."""
    fd = _open(path)
    try:
        if os.fstat(fd).st_size > limit:
            raise _too_large(path, what, limit)
        with os.fdopen(os.dup(fd), "rb") as handle:
            total = 0
            for number, raw in enumerate(handle, 1):
                total += len(raw)
                if total > limit:
                    raise _too_large(path, what, limit)
                text = _decode(raw, path, total - len(raw), number)
                yield number, (text[1:] if number == 1 and text.startswith("\ufeff") else text)
    finally:
        os.close(fd)


# YAML -------------------------------------------------------------------------------------------

def _loader_class() -> type:
    import yaml

    class Refused(yaml.MarkedYAMLError):
        pass

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader whose composer counts nesting and aliases as it goes."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.depth = 0
            self.aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise Refused(problem=f"more than {MAX_ALIASES:,} aliases (*name)",
                                  problem_mark=self.peek_event().start_mark)
                return super().compose_node(parent, index)
            self.depth += 1
            try:
                if self.depth > MAX_YAML_DEPTH:
                    raise Refused(problem=f"nests more than {MAX_YAML_DEPTH} levels deep",
                                  problem_mark=self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    BoundedLoader.Refused = Refused  # type: ignore[attr-defined]
    return BoundedLoader


_LOADER: type | None = None


def _expansion(root: Any) -> tuple[int, int] | None:
    """(size as written, size with every alias expanded) of a composed YAML node graph, counting a
    scalar as its length + 8 and a collection as 8 + its items; None if an alias refers to a node
    that contains it (a recursive alias). Iterative: no recursion, each node visited once."""
    import yaml

    sizes: dict[int, int] = {}
    open_: set[int] = set()
    written = 0
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            if key not in sizes:
                sizes[key] = 8 + len(node.value)
                written += sizes[key]
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        if ready:
            open_.discard(key)
            sizes[key] = 8 + sum(sizes[id(c)] for c in children)
            continue
        if key in sizes:
            continue
        if key in open_:
            return None
        open_.add(key)
        written += 8
        stack.append((node, True))
        for child in children:
            if id(child) in open_:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return written, sizes[id(root)]


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document in ``text`` as plain values (safe tags only), bounded as the module says;
    InvalidFile naming ``where`` (and the line and column) for anything else."""
    import yaml

    global _LOADER
    if _LOADER is None:
        _LOADER = _loader_class()
    loader = None
    try:
        loader = _LOADER(text)  # its reader refuses characters YAML does not allow, right here
        node = loader.get_single_node()
        if node is None:
            return None
        if loader.aliases:
            sizes = _expansion(node)
            if sizes is None:
                raise InvalidFile(f"{where}: malformed YAML: an alias (*name) refers to the node that contains it")
            if sizes[1] - sizes[0] > MAX_ALIAS_EXPANSION:
                raise InvalidFile(f"{where}: its aliases (*name) expand to more than {MAX_ALIAS_EXPANSION:,} "
                                  "bytes; write the values out, or use fewer aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InvalidFile(f"{at}: malformed YAML: {problem}") from None
    except ValueError as exc:  # an integer of more than 4300 digits, a date like 2024-02-30
        raise InvalidFile(f"{where}: malformed YAML: {value_problem(exc)}") from None
    except RecursionError:  # a safety net: the composer's depth bound comes first
        raise InvalidFile(f"{where}: malformed YAML: nests too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def value_problem(exc: ValueError) -> str:
    """A parser's ValueError in words (Python's own message for a huge integer is about its settings)."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    if "integer string conversion" in text:
        return "a number has more than 4300 digits"
    return text


def is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (following symlinks); False for anything unreadable."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
