"""Any report input as a clean text of bounded length: what the parser reads.

Texts longer than MAX_REPORT_CHARS (about twenty times the longest real report seen, so only broken or concatenated
inputs reach it) are cut at the last sentence end before the cap (else the last space, else the cap) and flagged.
Bytes are read by their byte-order mark (UTF-8, UTF-16, UTF-32), else as UTF-8 when they are valid UTF-8, else as
Windows-1252 (what Windows editors save; its five undefined bytes as Latin-1). Lone surrogates from odd decodings
become "?", the text is NFC-normalised, control characters become spaces (line breaks are kept as "\\n"), a mark
repeated more than three times is kept three times ("=====" rules, "(((((") and a run of more than MAX_RUN_CHARS
characters without a space gets one after every MAX_RUN_CHARS (spaCy's tokenizer takes time quadratic in the
affixes of one run). Nothing here raises.
"""
from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

MAX_REPORT_CHARS = 50_000
MAX_RUN_CHARS = 100  # longer runs without a space are broken: spaCy's tokenizer is quadratic in a run's affixes
BOM = "\ufeff"  # a byte-order mark (a zero-width no-break space inside text): dropped wherever it stands
# Byte-order marks and their codecs; UTF-32's before UTF-16's, whose little-endian mark begins UTF-32's:
BOM_CODECS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
              (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # bytes Windows-1252 leaves undefined: read as Latin-1
UTF16_HIGH_ZEROS, UTF16_OTHER_ZEROS = 0.5, 0.05  # shares of zero bytes at the high and low places of UTF-16 text
# Windows-1252's characters for the other bytes 0x80-0x9f (Latin-1 reads them as C1 control characters):
CP1252_C1 = {byte: bytes([byte]).decode("cp1252") for byte in range(0x80, 0xA0) if byte not in CP1252_UNDEFINED}
_LINE_BREAKS = re.compile(r"\r\n?|[\v\f\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SENTENCE_END = re.compile(r"[.!?;](?=\s)|\n")
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN_CHARS}}}(?=\S)")
_REPEATED_MARKS = re.compile(r"([^\w\s])\1{3,}")


@dataclass(frozen=True)
class ReportText:
    text: str
    truncated: bool  # the input was longer than MAX_REPORT_CHARS and was cut


def report_text(value: object, limit: int = MAX_REPORT_CHARS) -> ReportText:
    """The cleaned, bounded text of a report input (str, bytes or None; anything else by its str())."""
    if value is None:
        text = ""
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = decode_bytes(bytes(value))
    else:
        text = value if isinstance(value, str) else str(value)
    text = unicodedata.normalize("NFC", text.encode("utf-8", errors="replace").decode("utf-8")).replace(BOM, "")
    text = _REPEATED_MARKS.sub(r"\1\1\1", _CONTROL.sub(" ", _LINE_BREAKS.sub("\n", text)))
    text = _LONG_RUN.sub(lambda m: m.group() + " ", text)
    if len(text) <= limit:
        return ReportText(text, False)
    return ReportText(text[:cut_point(text, limit)].rstrip(), True)


def decode_bytes(data: bytes) -> str:
    """The text of a report file's bytes: by its byte-order mark, else UTF-16 without one (zero bytes at every other
    place), else UTF-8 if valid, else Windows-1252."""
    for bom, codec in BOM_CODECS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    codec = _utf16_without_bom(data)
    if codec:
        return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").translate(CP1252_C1)


def _utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" for bytes of even length whose every other byte is mostly zero and the others are
    not (Latin text in UTF-16 with no byte-order mark, as some Windows tools save it); else None. UTF-8 text holds
    no zero bytes but stray ones."""
    if len(data) < 4 or len(data) % 2:
        return None
    half = len(data) // 2
    even, odd = data[0::2].count(0) / half, data[1::2].count(0) / half
    if min(even, odd) < UTF16_OTHER_ZEROS:
        if odd > UTF16_HIGH_ZEROS:
            return "utf-16-le"
        if even > UTF16_HIGH_ZEROS:
            return "utf-16-be"
    return None


def cut_point(text: str, limit: int) -> int:
    """Where to end a text longer than `limit`: after its last sentence end before it, else at its last space
    (in the second half of the limit), else at the limit."""
    head = text[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    if ends and ends[-1] > limit // 2:
        return ends[-1]
    space = head.rfind(" ", 0, limit)
    return space if space > limit // 2 else limit
