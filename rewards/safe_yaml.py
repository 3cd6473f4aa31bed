"""YAML and text loading for hostile files: strict decoding, size, nesting and alias budgets.

`yaml.safe_load` alone lets a 700-byte file of nested aliases (a "billion laughs") expand to
~10^9 nodes when anything walks it (the rubric hash did: 4 GB, then MemoryError); lets a
10,000-deep `[[[[…` recurse into a RecursionError; silently keeps the last of two duplicate
keys; and builds mappings with int, bool or null keys beside strings (`sorted()` then raises).
`load_yaml` composes the node graph first and refuses, naming file and line:
- more than MAX_NODES nodes counting every alias expansion (a real rubric has < 2,000);
- nesting deeper than MAX_DEPTH (real rubrics: < 10; inline JSON schemas: < 20);
- recursive aliases, duplicate keys, non-string mapping keys;
- files over MAX_BYTES, bytes that are not UTF-8 (with the byte offset and line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000


class LoadError(ValueError):
    """A file that cannot be read safely; the message names the file and line."""


def decode_utf8(data: bytes, where: str, line_base: int = 1, offset_base: int = 0) -> str:
    """Strict UTF-8 decode; an error names the byte offset and the line it falls on.
    Lone surrogates cannot be encoded as UTF-8, so they are refused here too (a JSON
    `\\ud800` escape is caught by the JSONL reader instead)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = line_base + data.count(b"\n", 0, e.start)
        raise LoadError(f"{where}: line {line}: not UTF-8 (byte 0x{data[e.start]:02x} at byte "
                        f"offset {offset_base + e.start}); save the file as UTF-8") from None


def read_text(path: Path, what: str = "file", max_bytes: int = MAX_BYTES) -> str:
    """A whole small text file (rubric, schema), size-limited and strictly decoded."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"{path}: {what} is {size} bytes; expected at most {max_bytes}")
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    return decode_utf8(data.removeprefix(b"\xef\xbb\xbf"), str(path))


def load_yaml_file(path: str | Path, what: str, error: type[Exception] = LoadError) -> Any:
    """`load_yaml` of one small file (a rubric, a task file); a missing or unsafe file raises
    `error` (the caller's own error type) with a message naming the file and line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise error(f"{p}: {what} not found")
    try:
        return load_yaml(read_text(p, what), str(p))
    except LoadError as e:
        raise error(str(e)) from None


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer stops at MAX_DEPTH before Python's recursion limit (1000)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise LoadError(f"line {mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _expanded_size(root: Node) -> int:
    """Nodes in the tree once every alias is expanded (memoised per node, so a bomb is
    measured in microseconds). Raises on recursive aliases."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise LoadError(f"line {_line(node)}: recursive alias (a node contains itself)")
        if depth > MAX_DEPTH:
            raise LoadError(f"line {_line(node)}: nesting deeper than {MAX_DEPTH} levels "
                            "(after alias expansion)")
        active.add(key)
        if isinstance(node, SequenceNode):
            n = 1 + sum(size(c, depth + 1) for c in node.value)
        elif isinstance(node, MappingNode):
            n = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            n = 1
        active.discard(key)
        sizes[key] = min(n, MAX_NODES + 1)
        return sizes[key]

    return size(root, 0)


def _check_keys(root: Node) -> None:
    """Mapping keys must be plain strings and unique (YAML keeps the last duplicate)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                if k.tag == "tag:yaml.org,2002:merge":
                    stack.append(v)
                    continue
                if not isinstance(k, ScalarNode) or k.tag != "tag:yaml.org,2002:str":
                    shown = k.value if isinstance(k, ScalarNode) else type(k).__name__
                    raise LoadError(f"line {_line(k)}: mapping key {shown!r} is not a string "
                                    "(quote it: YAML reads yes/no/on/off/null/numbers as "
                                    "other types)")
                if k.value in keys:
                    raise LoadError(f"line {_line(k)}: duplicate key {k.value!r}")
                keys.add(k.value)
                stack.append(v)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def load_yaml(text: str, where: str) -> Any:
    """Parse one YAML document under the budgets above; errors are LoadError naming `where`."""
    try:
        loader = _Loader(text)  # the reader refuses control characters (NUL, ESC, ...) here
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        offset = len(text[:e.position].encode("utf-8"))
        raise LoadError(f"{where}: line {line}: control character U+{e.character:04X} at byte "
                        f"offset {offset}; YAML allows only printable characters, tab and "
                        "newline") from None
    loader.name = where  # marks in PyYAML's messages name the file, not "<unicode string>"
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise LoadError(f"expands to more than {MAX_NODES} nodes (aliases included); "
                            "a rubric needs far fewer — an alias bomb?")
        _check_keys(node)
        return loader.construct_document(node)
    except LoadError as e:
        raise LoadError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        raise LoadError(f"{where}: invalid YAML: {e}") from None
    except (ValueError, RecursionError, TypeError) as e:
        # int('9'*5000) exceeds Python's 4300-digit conversion limit; odd timestamps, etc.
        msg = str(e).splitlines()[0][:200]
        raise LoadError(f"{where}: unreadable YAML value: {msg}") from None
    finally:
        loader.dispose()
