"""The `.env` parser (envfile.py) and the `cclogin://PROFILE` reference grammar.

One parser serves `run --env-file`, `exec --env-file` and `migrate --from FILE.env`, so
the last section checks that migrate's detection reads files the same way.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cclogin.envfile import (
    BOM,
    BadReference,
    EnvFileInvalid,
    check,
    parse,
    reference,
)
from cclogin.migrate.sources import detect

SECRET = "sk-ant-api03-test-env-0101"


def values(text: str) -> dict[str, str]:
    parsed = parse(text)
    assert parsed.problems == [], parsed.problems
    return {name: entry.value for name, entry in parsed.mapping().items()}


# --- lines ------------------------------------------------------------------------------


def test_plain_export_and_spacing() -> None:
    text = "A=1\nexport B=two\n  export\tC = three \n\tD=\nE= \n"
    assert values(text) == {"A": "1", "B": "two", "C": "three", "D": "", "E": ""}


def test_export_is_a_prefix_only_before_a_name() -> None:
    assert values("export=1\nexporter=2\n") == {"export": "1", "exporter": "2"}
    assert parse("export A\n").problems[0].line == 1  # `export NAME` alone sets nothing


def test_single_quotes_are_literal() -> None:
    text = "A='x $HOME \\n \"q\" # not a comment'\nB=''\n"
    assert values(text) == {"A": 'x $HOME \\n "q" # not a comment', "B": ""}


def test_double_quotes_have_the_usual_escapes() -> None:
    text = 'A="line1\\nline2\\ttab \\"q\\" back\\\\slash \\$x # kept"\n'
    assert values(text) == {"A": 'line1\nline2\ttab "q" back\\slash \\$x # kept'}


def test_unquoted_values_and_inline_comments() -> None:
    text = "A=abc # a comment\nB=abc#def\nC= # only a comment\nD=#x\nE=a b  c\t# c\nF=it's\n"
    assert values(text) == {
        "A": "abc",
        "B": "abc#def",  # `#` starts a comment only after whitespace, as in shells
        "C": "",
        "D": "#x",
        "E": "a b  c",
        "F": "it's",  # a quote inside an unquoted value is an ordinary character
    }


def test_quoted_values_may_be_followed_by_a_comment() -> None:
    assert values('A="x" # c\nB=\'y\'#c\nC="z"   \n') == {"A": "x", "B": "y", "C": "z"}


def test_comments_and_blank_lines_are_skipped() -> None:
    text = "# head\n\n   \n\t# indented\nA=1\n#B=2\n"
    assert values(text) == {"A": "1"}


def test_crlf_reads_like_lf() -> None:
    lf = "A=1\nB='two'\nC=\"3\" # c\nD=x # y\n"
    assert (
        values(lf.replace("\n", "\r\n")) == values(lf) == {"A": "1", "B": "two", "C": "3", "D": "x"}
    )


def test_a_bom_is_skipped_and_left_in_place() -> None:
    parsed = parse(f"{BOM}A=1\nB=2\n")
    assert [e.name for e in parsed.entries] == ["A", "B"]
    assert parsed.entries[0].start == 1  # an edit of the first line keeps the BOM


def test_the_last_of_duplicate_names_wins() -> None:
    parsed = parse("A=first\nB=x\nA=second\n")
    assert [e.value for e in parsed.entries if e.name == "A"] == ["first", "second"]
    assert parsed.mapping()["A"].value == "second"
    assert parsed.mapping()["A"].line == 3


def test_quoted_values_may_span_lines() -> None:
    text = "A=\"one\r\ntwo\"\r\nB='x\ny'\nC=3\n"
    parsed = parse(text)
    assert parsed.problems == []
    assert [(e.name, e.value, e.line) for e in parsed.entries] == [
        ("A", "one\ntwo", 1),  # the file's CRLF inside a value reads as LF
        ("B", "x\ny", 3),
        ("C", "3", 5),
    ]


def test_no_variable_expansion() -> None:
    assert values('A=1\nB=$A\nC="${A}"\n') == {"A": "1", "B": "$A", "C": "${A}"}


def test_offsets_point_at_the_value_as_written() -> None:
    text = 'X=1\n  export KEY="v a l" # c\r\nY=2\n'
    entry = parse(text).mapping()["KEY"]
    assert text[entry.value_start : entry.value_end] == "v a l"
    assert entry.quote == '"'
    assert text[entry.start : entry.end] == '  export KEY="v a l" # c\r\n'


# --- problems ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (f"A=1\n{SECRET}\n", 2, "expected NAME=VALUE"),
        (f"A=1\nB {SECRET}\n", 2, "expected NAME=VALUE"),
        (f'A=1\n\nKEY="{SECRET}\n', 3, 'no closing "'),
        (f"KEY='{SECRET}\n", 1, "no closing '"),
        (f'KEY="{SECRET}"{SECRET}\n', 1, "unexpected text after the closing"),
        (f"KEY=a\0{SECRET}\n", 1, "NUL"),
        (f"1KEY={SECRET}\n", 1, "expected NAME=VALUE"),
        (f"KEY-X={SECRET}\n", 1, "expected NAME=VALUE"),
    ],
)
def test_a_bad_line_is_named_by_number_and_never_echoed(text: str, line: int, says: str) -> None:
    problems = parse(text).problems
    assert problems, text
    assert problems[0].line == line
    assert says in problems[0].message
    assert SECRET not in problems[0].message and "sk-ant" not in problems[0].message
    with pytest.raises(EnvFileInvalid) as caught:
        check(text, "proj/.env")
    assert caught.value.message.startswith(f"proj/.env:{line}: ")
    assert SECRET not in caught.value.message + caught.value.hint


def test_parsing_goes_on_after_a_bad_line() -> None:
    parsed = parse("A=1\nnot a line\nB=2\nC='open\nD=4\n")
    assert [p.line for p in parsed.problems] == [2, 4]
    assert [e.name for e in parsed.entries] == ["A", "B", "D"]


def test_a_quote_that_closes_on_a_later_line_says_where() -> None:
    problem = parse('A="x\nB="y"\n').problems[0]
    assert problem.line == 1 and "line 2" in problem.message and problem.name == "A"


# --- references -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["team", "default", "env-proj", "a", "x.y_z-1", "A" * 64])
def test_a_reference_is_exactly_the_scheme_and_a_profile(name: str) -> None:
    assert reference(f"cclogin://{name}") == name


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com/cclogin://team",
        "cclogin:/team",
        "cclogin:team",
        "see cclogin://team",
        " cclogin://team",
        "CCLOGIN://team",
        "Cclogin://team",
        "",
        SECRET,
    ],
)
def test_a_value_that_merely_resembles_a_reference_is_literal(value: str) -> None:
    assert reference(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "cclogin://",
        "cclogin://team ",
        "cclogin://a b",
        "cclogin://team?field=key",
        "cclogin://team/",
        "cclogin://-team",
        "cclogin://" + "a" * 65,
        "cclogin://team\n",
        f"cclogin://{SECRET}!",
    ],
)
def test_a_value_shaped_like_a_reference_without_a_profile_is_an_error(value: str) -> None:
    with pytest.raises(BadReference) as caught:
        reference(value)
    tail = value.removeprefix("cclogin://").strip()
    assert not tail or tail not in caught.value.message  # nothing of the value is echoed
    assert "cclogin://PROFILE" in caught.value.message


def test_references_are_read_after_unquoting() -> None:
    got = values(
        'A=cclogin://team\nB=\'cclogin://team\'\nC="cclogin://team" # c\nD="see cclogin://team"\n'
    )
    assert {k: reference(v) for k, v in got.items()} == {
        "A": "team",
        "B": "team",
        "C": "team",
        "D": None,
    }


# --- properties -------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
VALUES = st.text(
    st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40
)
_UNQUOTED_OK = re.compile(r"[^\s'\"#][^\r\n]*[^\s]|[^\s'\"#]")


def _written(value: str, style: int) -> str:
    """`value` as one of the ways a person writes it (the oracle for the round trip)."""
    if style == 0 and _UNQUOTED_OK.fullmatch(value) and not re.search(r"[ \t]#", value):
        return value
    if style == 1 and "'" not in value and "\r" not in value:
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
    )
    return f'"{escaped}"'


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(NAMES, VALUES, st.integers(0, 2), st.booleans(), st.booleans()), max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_round_trip(rows: list[tuple[str, str, int, bool, bool]], eol: str, bom: bool) -> None:
    lines = [] if not bom else [BOM + "# written by the test"]
    expected: dict[str, str] = {}
    for name, value, style, export, comment in rows:
        if comment:
            lines.append(f"# before {name}")
        lines.append(f"{'export ' if export else ''}{name}={_written(value, style)}")
        expected[name] = value
    assert values(eol.join(lines) + eol) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "\ufeff'\"\\#=\u2028", max_size=200))
def test_any_text_parses_without_raising_and_spans_fit(text: str) -> None:
    parsed = parse(text)
    for entry in parsed.entries:
        assert 0 <= entry.start <= entry.value_start <= entry.value_end <= entry.end <= len(text)
        if entry.quote == "":
            assert text[entry.value_start : entry.value_end] == entry.value


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(NAMES, VALUES, st.integers(0, 2)), min_size=1, max_size=6),
    st.data(),
    st.sampled_from(["\n", "\r\n"]),
)
def test_replacing_a_value_span_changes_that_value_only(
    rows: list[tuple[str, str, int]], data: st.DataObject, eol: str
) -> None:
    """What `migrate --leave-reference` does: only the chosen value becomes a reference."""
    text = eol.join(f"{n}={_written(v, s)} # c" for n, v, s in rows) + eol
    before = parse(text).entries
    target = data.draw(st.integers(0, len(before) - 1))
    entry = before[target]
    edited = text[: entry.value_start] + "cclogin://team" + text[entry.value_end :]
    after = parse(edited)
    assert after.problems == []
    assert [e.value for e in after.entries] == [
        "cclogin://team" if i == target else e.value for i, e in enumerate(before)
    ]


# --- migrate reads .env files with the same parser ---------------------------------------


def test_migrate_finds_keys_as_run_reads_them() -> None:
    text = (
        f"{BOM}A=1\r\n"
        f"export ANTHROPIC_API_KEY='{SECRET}' # the key\r\n"
        'CLAUDE_CODE_OAUTH_TOKEN="sk-ant-oat01-test-0102"\r\n'
    )
    hits = detect(Path("/p/.env"), text.encode()).hits
    assert [(h.variable, h.line) for h in hits] == [
        ("ANTHROPIC_API_KEY", 2),
        ("CLAUDE_CODE_OAUTH_TOKEN", 3),
    ]
    first = hits[0]
    assert text[slice(*first.value_span)] == SECRET
    assert text[slice(*first.span)].endswith("# the key\r\n")


def test_migrate_leaves_references_and_lookalikes_as_they_are() -> None:
    text = "ANTHROPIC_API_KEY=cclogin://team\nCLAUDE_CODE_OAUTH_TOKEN='cclogin://bad name'\n"
    assert detect(Path("/p/.env"), text.encode()).hits == []


def test_migrate_refuses_a_key_line_it_cannot_read() -> None:
    text = f'A=1\nANTHROPIC_API_KEY="{SECRET}\nB=2\n'
    found = detect(Path("/p/.env"), text.encode())
    assert found.hits == []
    assert found.problem is not None and "/p/.env:2:" in found.problem
    assert SECRET not in found.problem


def test_migrate_ignores_bad_lines_that_hold_no_key() -> None:
    text = f"this is not a dotenv line\nANTHROPIC_API_KEY={SECRET}\n"
    found = detect(Path("/p/.env"), text.encode())
    assert found.problem is None
    assert [h.variable for h in found.hits] == ["ANTHROPIC_API_KEY"]
