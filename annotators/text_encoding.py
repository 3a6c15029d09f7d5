"""A file's bytes as text, in the encoding they read as text in, or what binary file they are instead.

Report and table files come from many tools and hold no word of their encoding: bytes are read by their byte-order
mark, else in the first encoding of `GUESSES` whose reading is plausible text (UTF-8; UTF-16 and UTF-32 without a
mark, as Windows and SQL Server tools write them; Windows-1252, Mac Roman and DOS 850 for Latin text; Shift-JIS,
EUC-JP, EUC-KR, GB18030 and Big5), else as Windows-1252 with codec "": bytes that no encoding read here makes into
text. Windows-1251 Cyrillic, Windows-1253 Greek: single-byte encodings of other scripts cannot be told apart without
a language model, and are not guessed. `binary_format` names a file of a binary format (PDF, Word, images, ...) that
reached a text's path by mistake.
"""
from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

ENCODINGS_READ = ("UTF-8, UTF-16, UTF-32, Windows-1252, Mac Roman, DOS 850, Shift-JIS, EUC-JP, EUC-KR, GB18030 "
                  "and Big5")  # what `decoded` tells apart, for messages
UTF8_CONTROL_SHARE = 0.25  # valid UTF-8 with more control bytes than this is UTF-16 or UTF-32 (every other byte 0)
LATIN_RUN_SHARE = 0.25  # at most this share of a Latin text's non-ASCII characters stand three or more in a row
NATIVE_SHARE = 0.8  # at least this share of a guessed reading's letters must be the common ones of its script
KANA_SHARE = 0.05  # Japanese text holds kana among its kanji (Chinese read as Japanese holds none)
BAD_SHARE = 0.02  # a guessed reading may hold this share of characters no text holds (a stray NUL)
SAMPLE = 1 << 15  # an encoding is guessed from this many bytes, a reading judged by this many characters

BOM_CODECS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
              (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))  # UTF-32 LE's begins UTF-16 LE's
# What each single-byte encoding read here makes of the 256 bytes (codecs.charmap_decode tables): Windows, classic
# Mac OS, DOS
SINGLE_BYTE = {codec: "".join(bytes([byte]).decode(codec, errors="ignore") or chr(byte) for byte in range(256))
               for codec in ("cp1252", "mac_roman", "cp850")}
WORD_JOINERS = "\u2018\u2019\u2013\u2014\u2026"  # between two letters in Latin text: "it’s", "clear—no", "and…then"
UTF8_CP1252 = "utf-8+cp1252"  # the codec of UTF-8 whose stray bytes are read as Windows-1252
ESCAPED_CP1252 = {0xDC00 + byte: SINGLE_BYTE["cp1252"][byte] for byte in range(0x80, 0x100)}  # surrogateescape's
# Magic numbers of file formats that reach a report's path by mistake: (offset, bytes, what the file is)
BINARY_FORMATS = (
    (0, b"%PDF-", "a PDF document"), (0, b"PK\x03\x04", "a ZIP archive (a Word .docx, Excel .xlsx or .odt file?)"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 file (a Word .doc or Excel .xls file?)"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"), (0, b"\xff\xd8\xff", "a JPEG image"), (0, b"GIF8", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"), (0, b"MM\x00*", "a TIFF image"), (128, b"DICM", "a DICOM file"),
    (0, b"\x1f\x8b", "a gzip file"), (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (0, b"PAR1", "a Parquet file"),
    (0, b"SQLite format 3\x00", "an SQLite database"))
# Unicode blocks that real texts are written in (others appear in a text only when its bytes were misread):
COMMON_BLOCKS = ((0x09, 0x0D), (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x52F), (0x590, 0x6FF), (0x900, 0x97F),
                 (0xE00, 0xE7F), (0x1E00, 0x1EFF), (0x2000, 0x2064), (0x2070, 0x20CF), (0x2100, 0x22FF),
                 (0x2460, 0x25FF), (0x3000, 0x30FF), (0xFEFF, 0xFEFF), (0xFF01, 0xFFEF))

CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Characters no text holds (but NUL: fixed-width exports pad with it): control characters, replacement, private use
NON_TEXT = re.compile("[\x01-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufffd\ue000-\uf8ff]")
C0_BYTES = bytes(range(0x09)) + bytes(range(0x0E, 0x20))  # control bytes but white space
_MAGIC = re.compile(b"|".join(b"(.{%d}%s)" % (offset, re.escape(magic)) for offset, magic, _ in BINARY_FORMATS),
                    re.S)  # one group for each of BINARY_FORMATS, matched at once
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{3,}")
_ESCAPED = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Decoded:
    text: str
    codec: str  # the encoding the bytes were read in; "" when none fits (`text` is then their Windows-1252 reading)


def binary_format(data: bytes) -> str:
    """What binary file `data` is by its magic number ("a PDF document", ...), "" when none is known."""
    found = _MAGIC.match(data)
    return BINARY_FORMATS[found.lastindex - 1][2] if found else ""


def decoded(data: bytes, final: bool = True) -> Decoded:
    """The text of a file's bytes (`final`: they end there, else a character cut at their end is left out): by its
    byte-order mark, else in the encoding that `GUESSES` finds for its first SAMPLE (all of them where that
    encoding fails further on), else as Windows-1252 with codec "" (no encoding fits)."""
    for bom, codec in BOM_CODECS:
        if data.startswith(bom):
            return Decoded(_after_mark(data[len(bom):], codec, final), codec)
    if len(data) <= SAMPLE:
        return _guess(data, final)
    codec = _guess(data[:SAMPLE], False).codec
    text = _decode_as(data, codec or "cp1252", final)
    return Decoded(text, codec) if text is not None else _guess(data, final)


def _after_mark(data: bytes, codec: str, final: bool) -> str:
    """The bytes after a byte-order mark in its `codec`: in UTF-8 a stray byte as Windows-1252 reads it (a Windows
    line pasted into a UTF-8 file), elsewhere as U+FFFD."""
    if codec != "utf-8":
        return _decode(data, codec, final, "replace")
    text = _strict(data, codec, final)  # the common case, faster than looking for strays
    return text if text is not None else _decode_as(data, UTF8_CP1252, final) or ""


def _guess(data: bytes, final: bool) -> Decoded:
    """`data` read by the first of `GUESSES` that fits, else as Windows-1252 with codec ""."""
    found = next(filter(None, (guess(data, final) for guess in GUESSES)), None)
    return found or Decoded(_decode_as(data, "cp1252", final) or "", "")


def _decode_as(data: bytes, codec: str, final: bool) -> str | None:
    """`data` read in `codec` as the guess that named it reads it, None where its bytes are not valid in it."""
    if codec in SINGLE_BYTE:
        return codecs.charmap_decode(data, "strict", SINGLE_BYTE[codec])[0]
    if codec == UTF8_CP1252:
        return _strays_as_cp1252(_decode(data, "utf-8", final, "surrogateescape"))
    return _strict(data, codec, final)


def _decode(data: bytes, codec: str, final: bool, errors: str) -> str:
    if final:
        return data.decode(codec, errors)
    return codecs.getincrementaldecoder(codec)(errors).decode(data, False)


def _strict(data: bytes, codec: str, final: bool) -> str | None:
    """`data` read in `codec`, None where its bytes are not valid in it."""
    try:
        return _decode(data, codec, final, "strict")
    except UnicodeDecodeError:
        return None


def count(pattern: re.Pattern, text: str) -> int:
    """How many characters of `text` `pattern` (one character) matches."""
    return len(text) - len(pattern.sub("", text))


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", errors="ignore"))


def _utf8(data: bytes, final: bool) -> Decoded | None:
    """`data` as UTF-8 where it is valid UTF-8 and not mostly zeros and controls (UTF-16 or UTF-32 text of ASCII or
    Cyrillic letters is valid UTF-8: every other byte is 0 or 4)."""
    text = _strict(data, "utf-8", final)
    if text is None or len(data) - len(data.translate(None, C0_BYTES)) > UTF8_CONTROL_SHARE * len(text):
        return None  # in UTF-8 a C0 byte is a C0 character: counted in the bytes, faster
    return Decoded(text, "utf-8")


def _any_utf8(data: bytes, final: bool) -> Decoded | None:
    text = _strict(data, "utf-8", final)
    return None if text is None else Decoded(text, "utf-8")


def _utf32(data: bytes, final: bool) -> Decoded | None:
    return _wide(data, final, ("utf-32-le", "utf-32-be"))


def _utf16(data: bytes, final: bool) -> Decoded | None:
    return _wide(data, final, ("utf-16-le", "utf-16-be"))


def _utf16_with_ascii(data: bytes, final: bool) -> Decoded | None:
    """`_utf16` of bytes that hold zeros, as UTF-16 of a text with a space, digit or line break does and Latin text in
    a single-byte encoding does not (a short one of those often reads as rare CJK characters in UTF-16)."""
    return _utf16(data, final) if 0 in data else None


def _wide(data: bytes, final: bool, byte_orders: tuple[str, str]) -> Decoded | None:
    """The reading of `data` in one of `byte_orders` (a UTF without its byte-order mark) that is plausible text;
    the more plausible one where both are (the other order scatters characters over rare blocks)."""
    readings = [Decoded(text, codec) for codec in byte_orders if (text := _strict(data, codec, final)) is not None]
    scored = [(_common_share(reading.text), reading) for reading in readings if _bad_share(reading.text) <= BAD_SHARE]
    share, best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
    return best if share >= NATIVE_SHARE else None


def _utf8_with_strays(data: bytes, final: bool) -> Decoded | None:
    """`data` read as UTF-8 with each byte that is not UTF-8 read as Windows-1252 (a UTF-8 file with a pasted or
    appended Windows line), when it holds more UTF-8 characters beyond ASCII than stray bytes; else None."""
    text = _decode(data, "utf-8", final, "surrogateescape")
    strays = count(_ESCAPED, text)
    if _non_ascii(text) - strays <= strays:
        return None
    return Decoded(_strays_as_cp1252(text), UTF8_CP1252)


def _strays_as_cp1252(text: str) -> str:
    """`text` decoded with "surrogateescape" with its stray bytes as Windows-1252 reads them."""
    return _ESCAPED.sub(lambda match: ESCAPED_CP1252[ord(match.group())], text)


def _single_byte(data: bytes, final: bool) -> Decoded | None:
    """`data` in the single-byte Latin encoding whose reading is Latin text with the fewest oddities (Windows-1252
    on ties), None when no reading is Latin text."""
    readings = [Decoded(codecs.charmap_decode(data, "strict", table)[0], codec) for codec, table in SINGLE_BYTE.items()]
    return min((reading for reading in readings if _latin(reading.text)), key=lambda r: _oddities(r.text), default=None)


def _latin(text: str) -> bool:
    """Whether `text` reads as Latin text: few control characters (UTF-16 bytes hold many), and its non-ASCII
    characters mostly stand alone between ASCII ones (an accent in a word); text of another script misread stands
    in runs."""
    sample = text[:SAMPLE]
    if count(CONTROL, sample) > 1 + BAD_SHARE * len(sample):  # one may be an undefined byte: an oddity, no cause
        return False
    return sum(map(len, _NON_ASCII_RUN.findall(sample))) <= LATIN_RUN_SHARE * _non_ascii(sample)


def _oddities(text: str) -> int:
    """How many non-ASCII characters of `text` a Latin text does not hold where they stand: an uppercase letter
    after a lowercase one or inside a word, a symbol between two letters (but WORD_JOINERS: "it’s", "clear—no"), an
    opening bracket or quote ("‚", "„") right after a letter, a control character."""
    sample, count = text[:SAMPLE], 0
    for before, char, after in zip(" " + sample, sample, sample[1:] + " "):
        if char < "\x80":
            continue
        category = unicodedata.category(char)
        odd_case = char.isupper() and (before.islower() or before.isalpha() and after.islower())
        odd_symbol = not char.isalnum() and char not in WORD_JOINERS and before.isalpha() and after.isalpha()
        count += odd_case or odd_symbol or (category == "Ps" and before.isalpha()) or category == "Cc"
    return count


def _east_asian(data: bytes, final: bool) -> Decoded | None:
    """`data` in the first East Asian encoding that reads it strictly as text of its language (see `LANGUAGES`)."""
    for codecs_, native, marker in LANGUAGES:
        for codec in codecs_:
            text = _strict(data, codec, final)
            if text is not None and _bad_share(text) <= BAD_SHARE and _reads_as(text, native, marker):
                return Decoded(text, codec)
    return None


def _reads_as(text: str, native: Callable[[str], bool], marker: Callable[[str], bool] | None) -> bool:
    """Whether most letters of `text` beyond ASCII are `native` (its language's common characters) and, for a
    language with a `marker`, some are markers."""
    letters = [c for c in text[:SAMPLE] if c >= "\x80" and c.isalpha() and not "\uff00" <= c <= "\uffef"]
    if not letters:
        return False
    if marker and sum(map(marker, letters)) < KANA_SHARE * len(letters):
        return False
    return sum(map(native, letters)) >= NATIVE_SHARE * len(letters)


@lru_cache(maxsize=65536)
def _lead_byte(char: str, codec: str) -> int:
    """The first byte of `char` in `codec`, -1 if it has none there."""
    try:
        return char.encode(codec)[0]
    except UnicodeEncodeError:
        return -1


def _korean(char: str) -> bool:
    """A Hangul syllable of KS X 1001 (its 2,350 common ones)."""
    return "\uac00" <= char <= "\ud7a3" and _lead_byte(char, "euc_kr") >= 0xB0  # others: 8-byte make-up sequences


def _kana(char: str) -> bool:
    return "\u3041" <= char <= "\u30ff"


def _japanese(char: str) -> bool:
    """Kana, or a kanji of JIS level 1 (the 2,965 common ones)."""
    return _kana(char) or 0x88 <= _lead_byte(char, "shift_jis") <= 0x98


def _simplified_chinese(char: str) -> bool:
    """A hanzi of GB 2312 level 1 (the 3,755 common ones)."""
    return 0xB0 <= _lead_byte(char, "gb2312") <= 0xD7


def _traditional_chinese(char: str) -> bool:
    """A hanzi of Big5's frequent set (5,401 characters)."""
    return 0xA4 <= _lead_byte(char, "big5") <= 0xC6


# East Asian languages in the order tried, each with its encodings, its common characters and the characters a text
# of it always holds some of. Korean goes first: its syllables read as GB 2312 are common hanzi, not the reverse.
LANGUAGES = ((("cp949",), _korean, None), (("cp932", "euc_jp"), _japanese, _kana),
             (("gb18030",), _simplified_chinese, None), (("cp950",), _traditional_chinese, None))
# The readings tried in turn: plain UTF-8 first; UTF-16 of a text with ASCII characters (zero bytes) before the
# single-byte ones, whose texts hold no zero byte, and UTF-16 without them after (a short Windows-1252 text often
# reads as UTF-16 CJK, a UTF-16 CJK text of more than a few words rarely as Latin); East Asian ones last, as their
# strict grammar fails on most other bytes.
GUESSES = (_utf8, _utf32, _utf8_with_strays, _utf16_with_ascii, _single_byte, _utf16, _east_asian, _any_utf8)


def _common(char: str) -> bool:
    """Whether `char` is one that texts commonly hold (a rare one is the sign of bytes misread)."""
    if "\u4e00" <= char <= "\u9fff":
        return _simplified_chinese(char) or _japanese(char) or _traditional_chinese(char)
    if "\uac00" <= char <= "\ud7a3":
        return _korean(char)
    return any(low <= ord(char) <= high for low, high in COMMON_BLOCKS)


def _common_share(text: str) -> float:
    """The share of `text`'s characters beyond ASCII that are `_common` (1.0 when it has none)."""
    rest = [c for c in text[:SAMPLE] if c >= "\x80"]
    return sum(map(_common, rest)) / len(rest) if rest else 1.0


def _bad_share(text: str) -> float:
    """The share of `text`'s characters that no text holds: control characters (but NUL and white space),
    private-use and unassigned ones."""
    sample = text[:SAMPLE]
    bad = count(NON_TEXT, sample) + sum(unicodedata.category(c) == "Cn" for c in sample if c >= "\u0370")
    return bad / len(sample) if sample else 0.0
