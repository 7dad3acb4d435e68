import pytest

from core.names import MAX_NAME_CHARS, MAX_TAG_CHARS, InvalidText, checked_name, checked_tags, derived_name, kept_tags
from core.runs.records import parse_tags


def test_a_name_is_trimmed_and_kept_when_it_fits():
    assert checked_name("  lr sweep ü  ") == "lr sweep ü"
    assert checked_name("x" * MAX_NAME_CHARS) == "x" * MAX_NAME_CHARS
    assert checked_name("") == ""


@pytest.mark.parametrize("name, message", [
    ("x" * (MAX_NAME_CHARS + 1), f"name: {MAX_NAME_CHARS + 1} characters; at most {MAX_NAME_CHARS}"),
    ("two\nlines", "name: one line of text"),
    ("a\ttab", "name: one line of text"),
    ("bell\x07", "name: one line of text"),
])
def test_a_name_that_cannot_be_stored_is_named_with_why(name, message):
    with pytest.raises(InvalidText, match=message):
        checked_name(name)


def test_tags_are_trimmed_deduplicated_sorted_and_bounded():
    assert parse_tags("b, a,,a ") == ("a", "b")
    assert checked_tags(["t" * MAX_TAG_CHARS]) == ("t" * MAX_TAG_CHARS,)
    with pytest.raises(InvalidText, match=f"{MAX_TAG_CHARS + 1} characters; at most {MAX_TAG_CHARS}"):
        parse_tags("ok, " + "t" * (MAX_TAG_CHARS + 1))
    with pytest.raises(InvalidText, match="one line"):
        checked_tags(["a\nb"])


def test_a_derived_name_keeps_its_suffix_within_the_limit():
    assert derived_name("mlp", "seed 3") == "mlp seed 3"
    long = derived_name("n" * MAX_NAME_CHARS, "#12 (attempt 2)")
    assert len(long) == MAX_NAME_CHARS and long.endswith("... #12 (attempt 2)")
    assert checked_name(long) == long


def test_names_and_tags_stored_before_the_checks_are_handed_on_fit_to_store():
    # a seed group, fork or trial of a run named or tagged before names were checked is not refused
    assert derived_name("lr\tsweep", "seed 1") == "lr sweep seed 1"
    assert kept_tags(["t" * 45, "a\nb", "ok"]) == ("a b", "ok", "t" * MAX_TAG_CHARS)
    assert checked_name(derived_name("x" * 500 + "\n", "#3")) == "x" * (MAX_NAME_CHARS - 6) + "... #3"
