"""User text made safe for where it goes: chart titles and legends, and download file names."""
from __future__ import annotations

from ui.text import FILE_STEM_CHARS, WORD_JOINER, file_stem, markdown_text, shortened


def test_shortened_keeps_what_fits_and_marks_a_cut_with_an_ellipsis():
    assert shortened("  a  short\nname ", 12) == "a short name"
    assert shortened("abcdefghij", 6) == "abcde\u2026"


def test_a_download_is_named_after_the_run_without_path_parts_and_within_a_file_systems_limit():
    assert file_stem("lr 1e-2", "id") == "lr 1e-2"
    assert file_stem("../../etc/x", "id") == "_.._etc_x"
    assert file_stem('a:b*c?"d"<e>|f\\g\n', "id") == "a_b_c_d_e_f_g"
    assert len(file_stem("L" * 300, "id")) == FILE_STEM_CHARS and file_stem("L" * 300, "id").endswith("\u2026")
    assert len(f"{file_stem('é' * 300, 'id')}-metrics.csv".encode()) <= 255
    assert file_stem("///", "20261203-062521-f03596") == "20261203-062521-f03596"  # nothing left of the name


def test_escaped_text_keeps_its_dots_where_no_link_could_form():
    # a column 'Sepal.Length' copied from a message had an invisible joiner in it, and matched no --target
    assert markdown_text("Sepal.Length").replace("\\", "") == WORD_JOINER + "Sepal.Length"
    # where GFM would make a link, a joiner still breaks it (tests/reliability/test_markup_in_names.py)
    for text, broken in [("www.example.com", "www\u2060."), ("WWW.x.org", "WWW\u2060."), ("a@b.co", "@\u2060"),
                         ("http://x.io", ":\u2060")]:
        assert broken in markdown_text(text).replace("\\", ""), text
