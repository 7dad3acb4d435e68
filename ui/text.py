"""User text as text: run names, tags, notes and messages shown without being read as markup.

Streamlit reads Markdown (with KaTeX, colour directives, emoji and icon shortcodes, images, links
and some HTML) in st.markdown, st.subheader, st.caption, alerts and widget and metric labels; Plotly
reads a subset of HTML in legends, titles and hover text. Anything a user typed goes through one of
these two before it reaches such a place. Dataframe cells and selectbox options are plain already.
"""
from __future__ import annotations

import html
import re

# CommonMark lets a backslash escape any ASCII punctuation, which then stands for itself
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_WHITESPACE = re.compile(r"\s+")
# GFM turns URLs, www. names and e-mail addresses into links even when escaped: an invisible word
# joiner after each ':' and '@' and inside each 'www.' breaks the patterns it looks for (a scheme's ':', an
# address's '@', the 'www.' a bare name needs), and shows nothing. Other dots are left alone: text copied
# from a message ('Sepal.Length', 'pets.csv') is the text typed.
_LINK_PARTS = re.compile(r"(?<=[:@])|(?<=www)(?=\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def markdown_text(text: object) -> str:
    """Text for a Streamlit element that renders Markdown, escaped so it shows exactly as typed."""
    flat = _WHITESPACE.sub(" ", str(text)).strip()  # a newline or four spaces would start a block
    unlinked = _LINK_PARTS.sub(WORD_JOINER, flat)
    # a leading joiner too: an alert would take a leading emoji for its icon and drop it from the text
    return WORD_JOINER + _PUNCTUATION.sub(r"\\\1", unlinked)


def plotly_text(text: object) -> str:
    """Text for a Plotly legend, title or hover label: its HTML subset shown as the characters typed."""
    return html.escape(_WHITESPACE.sub(" ", str(text)).strip(), quote=False)


def shortened(text: object, limit: int) -> str:
    """The text in at most `limit` characters, an ellipsis marking a cut: for a chart title or legend
    entry, which Plotly neither wraps nor cuts visibly."""
    flat = _WHITESPACE.sub(" ", str(text)).strip()
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "\u2026"


_NOT_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
FILE_STEM_CHARS = 100  # most file systems take 255 bytes a name; a name's suffix and UTF-8 need room


def file_stem(text: object, fallback: str) -> str:
    """A download's file name before its suffix, from a name a user typed: no path separators or
    characters a file system refuses, at most FILE_STEM_CHARS; the fallback when nothing is left."""
    stem = _NOT_IN_FILE_NAMES.sub("_", _WHITESPACE.sub(" ", str(text))).strip(" .")
    return shortened(stem, FILE_STEM_CHARS) if stem.strip("_") else fallback
