"""YAML files read with limits: size, nesting depth and alias expansion.

``yaml.safe_load`` never runs code, but it trusts the size of what it reads: a few hundred
bytes of anchors and aliases (the "billion laughs") expand into 10**9 nodes that later code
walks for minutes, and deep nesting ends in a ``RecursionError``. :func:`load_yaml_file` and
:func:`load_yaml_text` read with :func:`yaml.safe_load`'s rules plus three limits, and turn
every failure into one exception class chosen by the caller, with a one-line message that
names the file.

Examples
--------
>>> load_yaml_text("a: &x [1, 2]\\nb: *x", source="demo.yaml")
{'a': [1, 2], 'b': [1, 2]}
>>> load_yaml_text("[" * 100, source="deep.yaml")
Traceback (most recent call last):
...
vlab.errors.InputError: deep.yaml: not accepted as YAML: nested deeper than 32 levels (MAX_DEPTH).
"""

from __future__ import annotations

import copy
import errno
import os
from pathlib import Path
from typing import Any

import yaml

from vlab.errors import InputError, VlabError

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "load_yaml_file",
    "load_yaml_text",
    "one_line",
    "os_error_text",
]

MAX_FILE_BYTES = 1_000_000
"""Largest YAML file read by default (bytes)."""
MAX_DEPTH = 32
"""Deepest nesting of lists and mappings."""
MAX_NODES = 100_000
"""Most nodes in a document by default, counted with every alias expanded."""


class _Limit(Exception):
    """A limit of the guarded loader was hit (turned into the caller's error)."""


def _children(node: yaml.Node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _loader(max_nodes: int) -> type[yaml.SafeLoader]:
    class GuardedLoader(yaml.SafeLoader):
        """``SafeLoader`` that counts nesting depth and alias-expanded node count."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._sizes: dict[int, int] = {}  # id(finished node) -> nodes, aliases expanded

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                target = self.anchors.get(self.peek_event().anchor)
                if target is not None and id(target) not in self._sizes:
                    raise _Limit("an alias refers to a node that contains it")
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Limit(f"nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)")
            node = super().compose_node(parent, index)
            self._depth -= 1
            if id(node) not in self._sizes:
                self._sizes[id(node)] = self._size(node)
            return node

        def construct_mapping(self, node, deep=False):
            """A key given twice in one mapping is refused (YAML forbids it; PyYAML keeps the
            last one silently)."""
            if isinstance(node, yaml.MappingNode):
                seen: dict[tuple[str, str], int] = {}
                for key, _ in node.value:
                    if not isinstance(key, yaml.ScalarNode) or key.tag.endswith(":merge"):
                        continue
                    line = key.start_mark.line + 1
                    first = seen.get((key.tag, key.value))
                    seen[(key.tag, key.value)] = line
                    if first is not None:
                        raise _Limit(
                            f"the key {one_line(key.value, 60)!r} is given twice in one mapping "
                            f"(lines {first} and {line})"
                        )
            return super().construct_mapping(node, deep)

        def _size(self, node: yaml.Node) -> int:
            size = 1
            for child in _children(node):
                size += self._sizes[id(child)]
            if size > max_nodes:
                raise _Limit(f"more than {max_nodes:,} nodes with aliases expanded (MAX_NODES)")
            return size

    return GuardedLoader


def one_line(text: object, limit: int = 0) -> str:
    """``str(text)`` on one line: control characters escaped, cut to ``limit`` characters.

    >>> one_line("a\\nb\\x00c", 0)
    'a\\\\nb\\\\x00c'
    """
    out = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))
    if limit and len(out) > limit:
        out = f"{out[: limit - 3]}..."
    return out


def _yaml_problem(err: Exception) -> str:
    if isinstance(err, yaml.MarkedYAMLError) and err.problem:
        mark = err.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{one_line(err.problem, 200)}{where}"
    if isinstance(err, yaml.reader.ReaderError) and isinstance(err.character, int):
        return f"the character #x{err.character:04x} at position {err.position} ({err.reason})"
    return one_line(err, 200)


_PARSED: dict[tuple[str, int], tuple[Any]] = {}  # (text, max_nodes) -> (parsed value,)
_PARSED_MAX = 512
_PARSED_MAX_CHARS = 65_536


def load_yaml_text(
    text: str,
    *,
    source: str,
    error: type[VlabError] = InputError,
    max_nodes: int = MAX_NODES,
) -> Any:
    """Parse YAML text with the safe loader and the limits; ``error`` for any failure.

    Texts parsed before in this process (up to :data:`_PARSED_MAX` of them, each at most
    :data:`_PARSED_MAX_CHARS` characters) are not parsed again: the caller gets a deep copy of
    the earlier result, so that configuration and catalog files read on every command cost a
    copy instead of a parse. Failures are not kept; they are raised again on every call.
    """
    key = (text, max_nodes)
    known = _PARSED.get(key) if isinstance(text, str) else None
    if known is not None:
        return copy.deepcopy(known[0])
    loader = None
    try:
        loader = _loader(max_nodes)(text)
        data = loader.get_single_data()
        if isinstance(text, str) and len(text) <= _PARSED_MAX_CHARS:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[key] = (copy.deepcopy(data),)
        return data
    except _Limit as err:
        raise error(f"{one_line(source)}: not accepted as YAML: {err}.") from None
    except yaml.YAMLError as err:
        raise error(f"{one_line(source)}: not valid YAML: {_yaml_problem(err)}.") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as err:  # e.g. 2001-13-45
        raise error(f"{one_line(source)}: a value cannot be read: {one_line(err, 200)}.") from None
    finally:
        if loader is not None:
            loader.dispose()


_ERRNO_WORDS = {
    errno.ENOSPC: "no space left on the device holding {}",
    errno.EDQUOT: "the disk quota is exceeded on the device holding {}",
    errno.EROFS: "the file system holding {} is read-only",
    errno.EACCES: "permission denied for {}",
    errno.EPERM: "operation not permitted on {}",
    errno.ENOENT: "no such file or folder: {}",
    errno.ENOTDIR: "a part of the path {} is not a folder",
    errno.EISDIR: "{} is a folder, not a file",
    errno.EEXIST: "{} already exists, where a new folder or file was to be made",
    errno.ENAMETOOLONG: "the path {} is too long",
    errno.EIO: "input/output error on {}",
    errno.EMFILE: "too many open files (reading {})",
}


def os_error_text(err: OSError) -> str:
    """What went wrong in words, one line, naming the file: ``OSError`` to a message.

    >>> import errno
    >>> os_error_text(OSError(errno.ENOSPC, "No space left on device", "/data/x.zarr"))
    "no space left on the device holding '/data/x.zarr'"
    """
    name = repr(one_line(err.filename, 200)) if err.filename is not None else "a file"
    words = _ERRNO_WORDS.get(err.errno or -1)
    if words:
        return words.format(name)
    reason = err.strerror or one_line(err, 200) or type(err).__name__
    return f"{one_line(reason, 200)} ({name})"


def load_yaml_file(
    path: str | os.PathLike,
    *,
    error: type[VlabError] = InputError,
    what: str = "YAML file",
    max_bytes: int = MAX_FILE_BYTES,
    max_nodes: int = MAX_NODES,
) -> Any:
    """Read and parse a YAML file with the limits; ``error`` (one line) for any failure.

    Raises
    ------
    error
        If the file is missing, not a regular file, unreadable, larger than ``max_bytes``,
        not UTF-8 text, not valid YAML, or over a limit (:data:`MAX_DEPTH`, ``max_nodes``).
    """
    path = Path(path)
    shown = one_line(repr(str(path)), 300)
    try:
        is_file = path.is_file()
        size = path.stat().st_size if is_file else 0
        if is_file and size <= max_bytes:
            with path.open("rb") as handle:
                raw = handle.read(max_bytes + 1)
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        why = os_error_text(err) if isinstance(err, OSError) else one_line(err, 100)
        raise error(f"The {what} {shown} cannot be read: {why}.") from None
    if not is_file:
        raise error(f"The {what} {shown} does not exist or is not a regular file.")
    if size > max_bytes or len(raw) > max_bytes:
        raise error(f"The {what} {shown} has {size:,} bytes; at most {max_bytes:,} allowed.")
    if b"\x00" in raw:
        raise error(f"The {what} {shown} is a binary file (it has NUL bytes); YAML is text.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"The {what} {shown} is not UTF-8 text (byte {err.start}); YAML is UTF-8 text."
        ) from None
    return load_yaml_text(text, source=one_line(path, 300), error=error, max_nodes=max_nodes)
