"""Names on their way out of the engine: printable text and identifiers."""

from __future__ import annotations

import keyword
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from autograd_mini.text import identifier, printable

NOT_PLAIN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # spaces (Zs) are plain text
LINE_ENDS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@given(st.text())
def test_printable_text_has_no_control_format_or_line_break_character(name):
    shown = printable(name)
    assert len(shown.splitlines()) <= 1
    assert not any(c in LINE_ENDS for c in shown)
    assert all(unicodedata.category(c) not in NOT_PLAIN for c in shown)


def test_printable_shows_what_it_escaped():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert printable("x\ny") == "x\\x0ay"
    assert printable("layers.0.weight σ′") == "layers.0.weight σ′"


@given(st.lists(st.text(), max_size=8))
def test_identifiers_are_fresh_ascii_names_that_are_not_keywords(names):
    taken: set[str] = set()
    made = [identifier(name, taken) for name in names]
    assert len(set(made)) == len(made)
    for name in made:
        assert name.isascii() and name.isidentifier()
        assert not keyword.iskeyword(name) and not keyword.issoftkeyword(name)
    assert taken == set(made)


def test_identifiers_read_like_the_names():
    taken = {"np"}
    assert identifier("layers.0.weight", taken) == "layers_0_weight"
    assert identifier("np", taken) == "np_2"
    assert identifier("0bias", taken) == "_0bias"
    assert identifier("lambda", taken) == "lambda_"
    assert identifier("\n", taken) == "t"
