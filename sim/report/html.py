"""The pieces of the HTML page: its style sheet, embedded figures, escaped tables and paragraphs.

Figures are embedded as base64 PNG; there is no external CSS, script or font, every text is escaped, and only
http and https addresses become links.
"""

from __future__ import annotations

import base64
import urllib.parse
from html import escape

import numpy as np

from sim.plots.render import png_bytes

#: The only schemes a link in the report may use.
LINK_SCHEMES = ("http", "https")
#: Fonts named in the page: Latin text in Noto Sans or DejaVu Sans, Chinese (``lang="zh"``, see
#: :func:`lang_attribute`) in Noto Sans CJK (Debian's ``fonts-noto-cjk``) or a platform's own CJK font.
LATIN_FONTS = '"Noto Sans", "DejaVu Sans", Arial, sans-serif'
CJK_FONTS = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'

STYLE = """
body { font-family: LATIN; max-width: 1200px; margin: 1em auto; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #1f5f99; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; vertical-align: top; }
th { background: #eef3f8; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0; }
p.note { color: #555; font-size: .9em; } p.claim { background: #f3f8f3; padding: .6em; border-left: 4px solid #2e7d32; }
nav li { display: inline; margin-right: 1em; }
div.row { display: flex; gap: 1em; align-items: flex-start; } div.grow { flex: 1; min-width: 0; }
:lang(zh) { font-family: CJK; }
""".replace("LATIN", LATIN_FONTS).replace("CJK", CJK_FONTS)


def figure_html(figure, alt: str) -> str:
    """A figure as an embedded base64 PNG ``<img>`` (the figure is closed)."""
    data = base64.b64encode(png_bytes(figure, dpi=90)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}" />'


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        text = "" if np.isnan(value) else f"{value:.4g}"
        return f'<td class="num">{escape(text)}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


def table_html(frame) -> str:
    """A pandas DataFrame as an escaped HTML table (its index as leading columns)."""
    frame = frame.reset_index() if any(name is not None for name in frame.index.names) else frame
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def paragraph(text: str, kind: str = "") -> str:
    return f'<p class="{kind}">{escape(text)}</p>' if kind else f"<p>{escape(text)}</p>"


def link_html(url: str) -> str:
    """A link to ``url`` if it is an http or https address; any other address (``javascript:``, ``data:``,
    ``file:``) is shown as text, never made clickable."""
    if not url:
        return ""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() in LINK_SCHEMES and parts.netloc:
        return f'<a href="{escape(url)}">{escape(url)}</a>'
    return f"<span>{escape(url)}</span>"


def lang_attribute(text: str) -> str:
    """A ``lang`` attribute for Chinese text, so that browsers pick a Chinese font for it."""
    return ' lang="zh"' if any("\u4e00" <= character <= "\u9fff" for character in text) else ""
