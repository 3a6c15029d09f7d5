"""Any report input as a clean text of bounded length, or the reason it holds none: what the parser reads.

Texts longer than MAX_REPORT_CHARS (about twenty times the longest real report seen, so only broken or concatenated
inputs reach it) are cut at the last sentence end before the cap (else the last space, else the cap) and flagged;
only the first MAX_BYTES_PER_CHAR bytes (or characters) per character of the cap are decoded at all (MARKUP_BYTES of
an RTF or HTML report, whose markup can outweigh its text). Bytes are decoded as annotators.text_encoding tells; an
RTF or HTML report becomes its text (annotators.report_markup). Lone surrogates become "?", the text is
NFC-normalised, invisible characters (soft hyphens, zero-width spaces, byte-order marks) and terminal escape
sequences go, other spaces (no-break, ideographic) become " ", control characters become spaces (line breaks are
kept as "\\n"), a mark repeated more than three times is kept three times ("=====" rules, "(((((") and a run of more
than MAX_RUN_CHARS characters without a space gets one after every MAX_RUN_CHARS (spaCy's tokenizer takes time
quadratic in the affixes of one run).

Nothing here raises: an input that holds no report text is a `ReportText` with a `reject` reason and empty text:
NOT_TEXT for a file of a binary format (PDF, Word, images, ...) or a text mostly of control characters,
UNKNOWN_ENCODING for bytes that no encoding read here makes into text (see annotators.text_encoding).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from annotators.report_markup import is_rtf, looks_like_html, plain_text
from annotators.text_encoding import CONTROL, ENCODINGS_READ, NON_TEXT, binary_format, count, decoded

MAX_REPORT_CHARS = 50_000
MAX_RUN_CHARS = 100  # longer runs without a space are broken: spaCy's tokenizer is quadratic in a run's affixes
MAX_BYTES_PER_CHAR = 4  # UTF-8, UTF-32 and GB18030 spend at most four bytes on a character
MARKUP_BYTES = 16 << 20  # what is decoded of an RTF or HTML report: an RTF's fonts, styles and pictures come first
NOT_TEXT, UNKNOWN_ENCODING = "report_not_text", "report_encoding"  # reject reasons
NON_TEXT_SHARE, MIN_NON_TEXT = 0.05, 8  # more control characters than this (share and count) is binary data

# Invisible characters that only break words apart for a parser: soft hyphen, zero-width space, direction marks, word
# joiner, byte-order mark (the zero-width joiner and non-joiner stay: Persian and Indic words need them)
INVISIBLE = re.compile("[\u00ad\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE_OR_SPACE = re.compile(f"{INVISIBLE.pattern}|{_SPACES.pattern}")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # terminal colours and cursor moves, in reports copied from logs
_LINE_BREAKS = re.compile(r"[\r\v\f\x85\u2028\u2029]")  # after "\r\n" became "\n": one class scans faster
_SENTENCE_END = re.compile(r"[.!?;](?=\s)|\n")
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN_CHARS}}}(?=\S)")
_REPEATED_MARKS = re.compile(r"([^\w\s])\1{3,}")


@dataclass(frozen=True)
class ReportText:
    text: str
    truncated: bool  # the input was longer than MAX_REPORT_CHARS and was cut
    reject: str = ""  # why the input holds no report text (NOT_TEXT, UNKNOWN_ENCODING), "" when it does
    detail: str = ""  # that reason for a human


def report_text(value: object, limit: int = MAX_REPORT_CHARS) -> ReportText:
    """The cleaned, bounded text of a report input (str, bytes or None; anything else by its str())."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _file_text(bytes(value), limit)
    text = "" if value is None else value if isinstance(value, str) else str(value)
    window = _window(text[:1024], limit)
    return _report(text[:window], len(text) > window, limit)


def _file_text(data: bytes, limit: int) -> ReportText:
    """`report_text` of a report file's bytes: only its window is decoded."""
    kind = binary_format(data)
    if kind:
        return ReportText("", False, NOT_TEXT, f"the report file is {kind}, not text")
    window = limit * MAX_BYTES_PER_CHAR  # one decoding for a plain text's window (most files: all of them)
    read = decoded(data[:window], final=len(data) <= window)
    if len(data) > window and (wider := _window(read.text[:1024], limit)) > window:  # a long RTF or HTML file
        window, read = wider, decoded(data[:wider], final=len(data) <= wider)
    if not read.codec:
        why = _non_text(read.text)
        if why:
            return ReportText("", False, NOT_TEXT, why)
        return ReportText("", False, UNKNOWN_ENCODING, f"its bytes are not text in any encoding read here "
                          f"({ENCODINGS_READ}): save it as UTF-8")
    return _report(read.text, len(data) > window, limit)


def _window(head: str, limit: int) -> int:
    """How many bytes (or characters) of an input beginning with `head` are read for a text of `limit` characters."""
    text_window = limit * MAX_BYTES_PER_CHAR
    return max(MARKUP_BYTES, text_window) if is_rtf(head) or looks_like_html(head) else text_window


def _report(text: str, cut: bool, limit: int) -> ReportText:
    """The ReportText of a decoded input (`cut`: only its beginning was read)."""
    if "\x1b" in text:  # first: a log's coloured lines are text
        text = _ANSI_ESCAPE.sub("", text)
    why = _non_text(text)
    if why:
        return ReportText("", False, NOT_TEXT, why)
    text = clean(plain_text(text))
    if not cut and len(text) <= limit:
        return ReportText(text, False)
    return ReportText(text[:cut_point(text, min(limit, len(text)))].rstrip(), True)


def _non_text(text: str) -> str:
    """Why `text` is binary data, not text ("" when it is text): many characters that no text holds."""
    found = count(NON_TEXT, text)
    if found < MIN_NON_TEXT or found <= NON_TEXT_SHARE * (len(text) - text.count("\x00")):
        return ""
    return f"{found} of its {len(text)} characters are control characters: binary data, not text"


def clean(text: str) -> str:
    """`text` with the characters that no parser should see replaced (see the module's docstring)."""
    if not text.isascii():  # the characters replaced here are not ASCII (a constant-time test)
        text = unicodedata.normalize("NFC", text.encode("utf-8", errors="replace").decode("utf-8"))
        if _INVISIBLE_OR_SPACE.search(text):  # rare: one scan where two subs would make two
            text = _SPACES.sub(" ", INVISIBLE.sub("", text))
    text = _LINE_BREAKS.sub("\n", text.replace("\r\n", "\n"))
    text = _REPEATED_MARKS.sub(r"\1\1\1", CONTROL.sub(" ", text))
    if max(map(len, text.split()), default=0) <= MAX_RUN_CHARS:  # the common case, told faster than by _LONG_RUN
        return text
    return _LONG_RUN.sub(lambda m: m.group() + " ", text)


def cut_point(text: str, limit: int) -> int:
    """Where to end a text longer than `limit`: after its last sentence end before it, else at its last space
    (in the second half of the limit), else at the limit."""
    head = text[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    if ends and ends[-1] > limit // 2:
        return ends[-1]
    space = head.rfind(" ", 0, limit)
    return space if space > limit // 2 else limit
