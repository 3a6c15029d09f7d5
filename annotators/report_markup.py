"""RTF and HTML report exports become their text: what `plain_text` makes of a report exported as a document."""
from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

_HTML_START = re.compile(r"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|p|div|br|"
                         r"table|span|font|pre|h[1-6]|b|strong)\b[^<>]*>", re.I | re.S)


def plain_text(text: str) -> str:
    """The text of an RTF or HTML document; any other text as it is."""
    if is_rtf(text):
        return _RtfText().read(text)
    if looks_like_html(text):
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        return parser.text()
    return text


def is_rtf(text: str) -> bool:
    return text.lstrip(" \t\r\n\ufeff").startswith("{\\rtf")


def looks_like_html(text: str) -> bool:
    return _HTML_START.match(text) is not None


_RTF_TOKEN = re.compile(r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])|([^\\{}\r\n]+)")
# Destinations whose groups hold no text of the document (fonts, styles, pictures, headers, field codes, ...):
RTF_SKIPPED = frozenset({
    "fonttbl", "colortbl", "stylesheet", "listtable", "listoverridetable", "rsidtbl", "revtbl", "filetbl", "info",
    "generator", "xmlnstbl", "themedata", "colorschememapping", "latentstyles", "datastore", "pict", "shppict",
    "nonshppict", "object", "fldinst", "header", "headerl", "headerr", "headerf", "footer", "footerl", "footerr",
    "footerf", "bkmkstart", "bkmkend"})
RTF_WORDS = {"par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "tab": "\t", "cell": "\t",
             "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022", "lquote": "\u2018", "rquote": "\u2019",
             "ldblquote": "\u201c", "rdblquote": "\u201d", "emspace": " ", "enspace": " ", "qmspace": " "}
RTF_SYMBOLS = {"~": "\u00a0", "-": "", "_": "-", "\n": "\n", "\r": "\n", "{": "{", "}": "}", "\\": "\\"}


class _RtfText:
    """The text of an RTF document: groups of destinations without text skipped (RTF_SKIPPED, and "{\\*" ones),
    \\'hh bytes read in the document's code page (\\ansicpgN), \\uN characters (their fallback characters dropped),
    paragraph, line and row ends as line breaks. A file cut short gives the text before the cut."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = bytearray()  # \'hh bytes not yet decoded: a double-byte code page's character spans two
        self.codepage = "cp1252"
        self.groups: list[tuple[bool, int]] = []  # the enclosing groups' (skipped, \ucN)
        self.skipped, self.uc, self.fallback = False, 1, 0  # fallback: characters after a \uN still to drop
        self.group_start = False

    def read(self, text: str) -> str:
        for match in _RTF_TOKEN.finditer(text):
            word, argument, hex_byte, symbol, brace, chunk = match.groups()
            if hex_byte:
                self._byte(int(hex_byte, 16))
                continue
            self._flush()
            if brace:
                self._brace(brace)
            elif word:
                self._word(word, argument)
            elif symbol:
                self._symbol(symbol)
            else:
                self._chunk(chunk)
        self._flush()
        # \uN gives a character beyond U+FFFF as two surrogates: joined here
        return "".join(self.parts).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")

    def _brace(self, brace: str) -> None:
        if brace == "{":
            self.groups.append((self.skipped, self.uc))
            self.group_start = True
        elif self.groups:
            self.skipped, self.uc = self.groups.pop()
        self.fallback = 0

    def _word(self, word: str, argument: str | None) -> None:
        if self.group_start and word in RTF_SKIPPED:
            self.skipped = True
        self.group_start = False
        if word == "ansicpg" and argument and _is_codec(f"cp{argument}"):
            self.codepage = f"cp{argument}"
        elif word == "uc" and argument:
            self.uc = max(0, int(argument))
        elif word == "u" and argument:
            self._emit(chr(int(argument) % 0x10000))
            self.fallback = self.uc
        elif word in RTF_WORDS:
            self._emit(RTF_WORDS[word])

    def _symbol(self, symbol: str) -> None:
        if symbol == "*" and self.group_start:
            self.skipped = True
        self.group_start = False
        self._emit(RTF_SYMBOLS.get(symbol, ""))

    def _chunk(self, chunk: str) -> None:
        self.group_start = False
        dropped = min(self.fallback, len(chunk))
        self.fallback -= dropped
        self._emit(chunk[dropped:])

    def _byte(self, byte: int) -> None:
        if self.fallback:
            self.fallback -= 1
        elif not self.skipped:
            self.pending.append(byte)

    def _emit(self, text: str) -> None:
        if not self.skipped:
            self.parts.append(text)

    def _flush(self) -> None:
        if self.pending:
            self.parts.append(self.pending.decode(self.codepage, errors="replace"))
            self.pending.clear()


def _is_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


class _HtmlText(HTMLParser):
    """The text of an HTML document: script, style and head left out, block elements on lines of their own, white
    space collapsed as a browser does (but inside <pre>), character references resolved."""

    SKIPPED = frozenset({"script", "style", "head", "title", "template"})
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "table", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote", "hr",
                        "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = self.preformatted = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "body":  # a head left unclosed ends here
            self.skipping = 0
        self.skipping += tag in self.SKIPPED
        self.preformatted += tag == "pre"
        self.parts.append("\n" if tag in self.BLOCKS else "\t" if tag in ("td", "th") else "")

    def handle_endtag(self, tag: str) -> None:
        self.skipping = max(0, self.skipping - (tag in self.SKIPPED))
        self.preformatted = max(0, self.preformatted - (tag == "pre"))
        self.parts.append("\n" if tag in self.BLOCKS else "")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data if self.preformatted else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        return re.sub(r"[ \t]*\n(?:[ \t]*\n)*", "\n", "".join(self.parts)).strip()  # no blank lines
