"""``tokensim report``: one self-contained HTML file with everything a reader needs, written atomically.

The page assembles the sections of :data:`~sim.report.sections.SECTIONS` (forecast tables and fan
charts, claims in words with their crossing-date charts, the scenario comparison, the backtest and
sensitivity results if computed, the data sources and the provenance) from what
:func:`~sim.report.gather.gather` collected: figures are embedded as base64 PNG, there is no
external CSS, script or font, and every text is escaped. :mod:`sim.report.screenshot` renders the
page in headless Chromium, so what a reader sees can be checked.
"""

from __future__ import annotations

import tempfile
from html import escape
from pathlib import Path

from sim.core.files import write_outputs
from sim.core.provenance import SOURCE
from sim.report.gather import ReportInputs, check_output
from sim.report.html import STYLE, paragraph
from sim.report.screenshot import render_png
from sim.report.sections import SECTIONS


def build_html(inputs: ReportInputs) -> str:
    """The whole report as one XHTML-compatible page (figures embedded, no external resources)."""
    names = ", ".join(item.scenario.name for item in inputs.results)
    nav = "".join(f'<li><a href="#{anchor}">{escape(title)}</a></li>' for anchor, title, _ in SECTIONS)
    body = "".join(f'<section id="{anchor}"><h2>{escape(title)}</h2>{build(inputs)}</section>'
                   for anchor, title, build in SECTIONS)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" />'
            f"<title>{escape(f'tokensim report: {names}')}</title><style>{STYLE}</style></head><body>"
            "<h1>China's enterprise LLM token market: tokensim report</h1>"
            + paragraph(f"Scenarios: {names}. Generated {inputs.generated} by {SOURCE}. "
                        "All figures are embedded; the page needs no network.", "note")
            + f"<nav><ul>{nav}</ul></nav>{body}</body></html>\n")


def write_report(inputs: ReportInputs, out: str | Path, *, screenshot: str | Path | None = None) -> Path:
    """Build the page and write it to ``out``, with what a reader sees of it (``screenshot``: the whole page as
    PNG, rendered in headless Chromium from a temporary copy before anything is written) as one set: both
    replaced, or neither."""
    html = build_html(inputs)
    files = {check_output(out): html.encode("utf-8")}
    if screenshot is not None:
        with tempfile.TemporaryDirectory(prefix="tokensim-report-") as folder:
            page = Path(folder) / "report.html"
            page.write_text(html, encoding="utf-8")
            files[Path(screenshot)] = render_png(page)
    return write_outputs(files)[0]
