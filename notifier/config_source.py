"""Reading ``config.yaml`` into plain Python data, remembering the line of every value.

This is the layer under ``notifier.config``: bytes to text, text to YAML nodes, nodes to dicts
and lists, and ``${VAR}`` references filled from the environment. It never raises for a bad
file; it collects a ``ConfigProblem`` for everything it could not read (a byte that is not
UTF-8, a syntax error, an unknown tag, a key written twice) and carries on with what it could
read, so that validation can still list the remaining problems in the same pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "DataPath",
    "EnvRef",
    "Lines",
    "Source",
    "line_for",
    "read_source",
    "where_text",
]

#: A place in the data: keys and list indexes from the top, e.g. ("providers", 0, "id").
DataPath = tuple[str | int, ...]
Lines = dict[DataPath, int]

_ENV_REF = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)(?::-(.*))?\}$")
_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
}
# What PyYAML's reader refuses (C0/C1 controls, surrogates, U+FFFE/U+FFFF).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_REPLACEMENT = "\ufffd"
_OPENERS = {
    "while scanning a quoted scalar": "a quoted string",
    "while parsing a flow sequence": "a [list]",
    "while parsing a flow mapping": "a {mapping}",
    "while scanning a flow sequence": "a [list]",
    "while scanning a flow mapping": "a {mapping}",
}


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int | None
    where: str
    problem: str
    fix: str

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}: {self.where}: {self.problem}. Fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class EnvRef:
    """A ``${VAR}`` reference seen in the file, and whether the environment filled it."""

    path: DataPath
    var: str
    line: int
    missing: bool


@dataclass
class Source:
    """What could be read from the file; ``problems`` lists what could not."""

    file: str
    data: Any = None
    lines: Lines = field(default_factory=dict)
    refs: list[EnvRef] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)
    #: False when YAML itself failed: there is no structure to validate then
    parsed: bool = True

    def add(self, line: int | None, where: str, problem: str, fix: str) -> None:
        self.problems.append(ConfigProblem(self.file, line, where, problem, fix))


def line_for(lines: Lines, loc: Sequence[str | int]) -> int | None:
    """The line of ``loc``, or of its nearest ancestor that is in the file."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def where_text(loc: Sequence[str | int]) -> str:
    """``("providers", 0, "id")`` as ``providers[0].id``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


# --------------------------------------------------------------------------- bytes to text


def _decode(raw: bytes, source: Source) -> str:
    """UTF-8 text; every byte that is not UTF-8 is reported with its line and replaced."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a byte-order mark is harmless: some editors on Windows write one
    parts: list[str] = []
    start = 0
    reported: set[int] = set()
    while True:
        try:
            parts.append(raw[start:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            bad = start + exc.start
            parts.append(raw[start:bad].decode("utf-8"))
            parts.append(_REPLACEMENT)
            line = raw.count(b"\n", 0, bad) + 1
            if line not in reported:  # one report per line is enough to find it
                reported.add(line)
                column = bad - (raw.rfind(b"\n", 0, bad) + 1) + 1
                byte = raw[bad]
                latin1 = bytes([byte]).decode("latin-1")
                guess = f" (Latin-1 {latin1!r}?)" if latin1.isprintable() else ""
                source.add(
                    line,
                    "encoding",
                    f"byte 0x{byte:02X} at column {column} is not UTF-8{guess}",
                    "save the file as UTF-8, or delete that character",
                )
            start = start + exc.end
    text = "".join(parts)
    return _replace_unprintable(text, source)


def _replace_unprintable(text: str, source: Source) -> str:
    def report(match: re.Match[str]) -> str:
        line = text.count("\n", 0, match.start()) + 1
        source.add(
            line,
            "encoding",
            f"control character U+{ord(match.group()):04X} cannot appear in a YAML file",
            "delete that character",
        )
        return _REPLACEMENT

    return _NOT_PRINTABLE.sub(report, text)


# --------------------------------------------------------------------------- text to nodes


def _syntax_problem(text: str, exc: yaml.YAMLError, source: Source) -> None:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    line = problem_mark.line + 1 if problem_mark is not None else 1
    last_line = max(1, len(text.splitlines()))
    if line > last_line:
        # YAML gave up at the end of the file: the thing it was reading started earlier.
        line = context_mark.line + 1 if context_mark is not None else last_line
    fix = "check indentation and quoting on this line (indent with spaces, never tabs)"
    opened = _quote_spanning_lines(text, line)
    if opened is not None:
        start, end = opened
        source.add(
            start,
            "syntax",
            f"not valid YAML: a quote opened on this line runs on to line {end} ({problem})",
            "close the quote on the same line",
        )
        return
    if "end of stream" in problem or "<stream end>" in problem:
        # An unclosed quote or bracket fails only at the end of the file: point at its start.
        if context_mark is not None:
            line = context_mark.line + 1
        what = _OPENERS.get(context, "a quote or bracket")
        source.add(
            line,
            "syntax",
            f"not valid YAML: {what} starts on this line and is never closed",
            "add the closing quote or bracket on this line",
        )
        return
    if "\t" in problem:
        fix = "indent with spaces: YAML does not allow tabs"
    source.add(line, "syntax", f"not valid YAML ({problem})", fix)


def _quote_spanning_lines(text: str, error_line: int) -> tuple[int, int] | None:
    """(start, end) lines of a quoted string running over several lines before the error.

    In a config file a quote left open swallows the following lines until the next quote
    character, so YAML fails far below the real mistake.
    """
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ("'", '"')
                and token.start_mark.line < token.end_mark.line
                and token.start_mark.line + 1 < error_line
            ):
                return token.start_mark.line + 1, token.end_mark.line + 1
    except yaml.YAMLError:
        pass
    return None


def _compose(text: str, source: Source) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        _syntax_problem(text, exc, source)
    except RecursionError:
        source.add(1, "syntax", "the file is nested too deeply", "flatten the nesting")
    source.parsed = False
    return None


# --------------------------------------------------------------------------- nodes to data


class _Converter:
    """YAML nodes to Python data, recording lines, refs and problems on ``source``."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.constructor = yaml.SafeLoader("")
        self.active: set[int] = set()  # nodes on the current path: an alias loop ends here

    def convert(self, node: yaml.Node, path: DataPath) -> Any:
        line = node.start_mark.line + 1
        self.source.lines.setdefault(path, line)
        if id(node) in self.active:
            self.source.add(line, where_text(path), "an alias refers to itself", "remove it")
            return None
        self._check_tag(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(n, (*path, i)) for i, n in enumerate(node.value)]
            assert isinstance(node, yaml.ScalarNode)
            return self._scalar(node, path)
        finally:
            self.active.discard(id(node))

    def _check_tag(self, node: yaml.Node, path: DataPath) -> None:
        if node.tag in _STANDARD_TAGS:
            return
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self.source.add(
            node.start_mark.line + 1,
            where_text(path),
            f"unknown YAML tag {tag}",
            f"delete {tag} and write the plain value (durations are numbers of seconds)",
        )

    def _mapping(self, node: yaml.MappingNode, path: DataPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.source.add(
                    line, where_text(path), "a key must be a plain word", "write `name: value`"
                )
                continue
            key = str(key_node.value)
            if key in first_line:
                self.source.add(
                    line,
                    where_text((*path, key)),
                    f"key {key!r} appears twice, on lines {first_line[key]} and {line}",
                    f"keep one of them (line {first_line[key]} or {line})",
                )
                continue  # the first one counts, and the problem above names both
            first_line[key] = line
            self.source.lines[(*path, key)] = line
            result[key] = self.convert(value_node, (*path, key))
            self.source.lines[(*path, key)] = line
        return result

    def _scalar(self, node: yaml.ScalarNode, path: DataPath) -> Any:
        if node.tag not in _STANDARD_TAGS:
            # Reported already; read the value as if the tag were not there.
            implicit = (node.style is None, node.style is not None)
            tag = yaml.SafeLoader("").resolve(yaml.ScalarNode, node.value, implicit)
            node = yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style)
        if node.tag == "tag:yaml.org,2002:str":
            match = _ENV_REF.match(node.value.strip())
            if match:
                var, default = match.group(1), match.group(2)
                value = os.environ.get(var, default)
                line = node.start_mark.line + 1
                self.source.refs.append(EnvRef(path, var, line, value is None))
                return value
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.source.add(
                node.start_mark.line + 1,
                where_text(path),
                f"{node.value!r} cannot be read as {tag}",
                "write the plain value without a tag",
            )
            return node.value


def read_source(raw: bytes, file: str) -> Source:
    """Everything readable in ``raw``; never raises for a bad file."""
    source = Source(file)
    text = _decode(raw, source)
    root = _compose(text, source)
    source.lines[()] = root.start_mark.line + 1 if root is not None else 1
    source.data = _Converter(source).convert(root, ()) if root is not None else {}
    return source
