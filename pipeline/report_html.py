"""The quality report's HTML: one self-contained page (inline CSS, images as data URIs, no external resource).

A small inline script counts, once the page has loaded, the images that decoded and rendered, and writes the
figures on `<body>` (`data-images-total`, `data-images-rendered`); a warning appears when one failed.
"""
from __future__ import annotations

import base64
import html
import io
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#9a6324",
           "#800000")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 1.5em 1em 0; display: inline-table; vertical-align: top; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; align-items: flex-start; }
.plots img { max-width: 100%; } .muted { color: #777; }
.card { display: flex; gap: 1em; border: 1px solid #ddd; padding: 0.8em; margin: 0.8em 0; }
.card img { max-width: 384px; max-height: 384px; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; vertical-align: middle; }
#image-warning { display: none; background: #fdd; padding: 0.5em; }
"""

IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var rendered = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-total", images.length);
  document.body.setAttribute("data-images-rendered", rendered);
  if (rendered < images.length) {
    var warning = document.getElementById("image-warning");
    warning.textContent = (images.length - rendered) + " of " + images.length + " images did not render";
    warning.style.display = "block";
  }
});
"""


def escape(value) -> str:
    return html.escape(str(value))


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_img(fig, alt: str) -> str:
    """A matplotlib figure as an inline PNG `<img>`; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="{png_data_uri(buffer.getvalue())}" alt="{escape(alt)}">'


def table(header: Iterable[str], rows: Iterable[Iterable]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{v:,}</td>' if isinstance(v, int) else
                         f'<td class="n">{v:.3f}</td>' if isinstance(v, float) else f"<td>{escape(v)}</td>"
                         for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def section(title: str, *parts: str) -> str:
    return f"<h2>{escape(title)}</h2>\n" + "\n".join(parts)


def plots(*images: str) -> str:
    return '<div class="plots">' + "".join(images) + "</div>"


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style><script>{IMAGE_CHECK}</script></head>\n"
        f"<body><h1>{escape(title)}</h1><p class=\"muted\">{escape(subtitle)}</p>"
        "<p id=\"image-warning\"></p>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
