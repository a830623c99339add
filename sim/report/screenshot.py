"""What a reader sees: the report rendered in headless Chromium, as PNG."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sim.core.errors import UserError
from sim.core.files import atomic_write

CHROMIUM = Path("/usr/bin/chromium")


def render_png(html: str | Path, *, width: int = 1280, height: int = 4000, chromium: str | Path = CHROMIUM,
               timeout: float = 180) -> bytes:
    """What a reader sees of a page (the HTML text, or the path of an HTML file) in headless Chromium: the
    first ``height`` pixels at ``width``, as PNG bytes. Raises UserError if Chromium is missing or fails."""
    chromium = Path(chromium)
    if isinstance(html, Path) and not html.is_file():
        raise UserError("report not found", where=str(html))
    if shutil.which(str(chromium)) is None:
        raise UserError(f"no Chromium at {chromium}; install Debian's 'chromium' package to take screenshots",
                        where="screenshot")
    with tempfile.TemporaryDirectory(prefix="tokensim-chromium-") as folder:
        page = html.resolve() if isinstance(html, Path) else Path(folder) / "report.html"
        if not isinstance(html, Path):
            page.write_text(html, encoding="utf-8")
        shot = Path(folder) / "page.png"
        command = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={folder}/profile", f"--screenshot={shot}", f"--window-size={width},{height}",
                   page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"Chromium did not finish within {timeout:g} s", where="screenshot") from None
        if not shot.is_file():
            raise UserError(f"Chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}",
                            where="screenshot")
        return shot.read_bytes()


def screenshot(html_path: str | Path, png_path: str | Path, **options) -> Path:
    """Render the HTML file ``html_path`` (:func:`render_png`, same options) and write ``png_path``."""
    return atomic_write(png_path, render_png(Path(html_path), **options))
