"""Property: any mutation of the shipped config.yaml gives a Config or located problems.

Never a traceback: whatever a person does to the file (lines deleted, duplicated, swapped,
re-indented; stray bytes, tags, quotes and tabs; values of the wrong type), ``load_config``
either returns a valid configuration or raises ``ConfigError`` whose every problem has a line
inside the file, a description and a fix.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.config import Config, ConfigError, load_config

EXAMPLE = (Path(__file__).resolve().parents[1] / "config.yaml").read_bytes()
EXAMPLE_LINES = EXAMPLE.split(b"\n")

SNIPPETS = [
    b"\xe9",  # Latin-1 e-acute
    b"\xff\xfe",
    b"\xc3",  # a truncated UTF-8 sequence
    b"\x00",
    b"\x1b",
    b"\t",
    b"  ",
    b"!seconds ",
    b"!!int ",
    b"!!binary ",
    b"!!python/name:os.system ",
    b'"',
    b"'",
    b"[",
    b"{",
    b"]",
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"? ",
    b"#",
    b"%YAML 1.1\n",
    b"---\n",
    b"${UNSET_FUZZ_VAR}",
    b"${lower}",
    b"\xef\xbb\xbf",
]
VALUES = [
    b"5",
    b"-1",
    b"0",
    b"1e999",
    b".nan",
    b"true",
    b"no",
    b"null",
    b"~",
    b"[1, 2]",
    b"{a: 1}",
    b"2021-03-01",
    b'"text"',
    b"''",
    b"${UNSET_FUZZ_VAR}",
    b"${UNSET_FUZZ_VAR:-7}",
    b"!!float x",
]


def _replace_value(line: bytes, value: bytes) -> bytes:
    key, sep, _ = line.partition(b": ")
    return key + sep + value if sep else line.rstrip() + b" " + value


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = list(EXAMPLE_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "indent", "value"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            snippet = draw(st.sampled_from(SNIPPETS) | st.binary(min_size=1, max_size=4))
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + snippet + lines[i][at:]
        elif op == "indent":
            shift = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
            stripped = lines[i].lstrip(b" ")
            depth = max(0, len(lines[i]) - len(stripped) + shift)
            lines[i] = b" " * depth + stripped
        elif op == "value":
            lines[i] = _replace_value(lines[i], draw(st.sampled_from(VALUES)))
    return b"\n".join(lines)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=mutated())
def test_mutated_config_is_valid_or_every_problem_is_located(raw: bytes) -> None:
    line_count = raw.count(b"\n") + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(raw)
        try:
            config = load_config(path)
        except ConfigError as exc:
            assert exc.problems, "a ConfigError must name at least one problem"
            for problem in exc.problems:
                assert problem.file == str(path)
                assert problem.line is not None, str(problem)
                assert 1 <= problem.line <= line_count, str(problem)
                assert problem.where and problem.problem and problem.fix, str(problem)
                assert "Traceback" not in str(problem)
        else:
            assert isinstance(config, Config)


def test_the_unmutated_example_is_valid() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(EXAMPLE)
        assert load_config(path).enabled_providers()
