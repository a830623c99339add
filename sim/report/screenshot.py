"""What a reader sees: a page rendered in headless Chromium, the whole page, saved as PNG.

Chromium's ``--screenshot`` captures its window, so the page is rendered twice: once with a one-line
script (added to a temporary copy, never to the report) that records the document's height once the
page has loaded, read back through ``--dump-dom``; then in a window exactly that tall.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from sim.core.errors import UserError
from sim.core.files import atomic_write

CHROMIUM = Path("/usr/bin/chromium")
WIDTH = 1280
_MEASURE = ('<script>addEventListener("load", () => document.body.setAttribute("data-tokensim-height", '
            "Math.ceil(document.documentElement.scrollHeight)))</script>")
_HEIGHT = re.compile(r'data-tokensim-height="(\d+)"')


def check_chromium(chromium: str | Path = CHROMIUM) -> Path:
    """Chromium's path, or a UserError (before any work) saying how to get it."""
    if shutil.which(str(chromium)) is None:
        raise UserError(f"no Chromium at {chromium}; install Debian's 'chromium' package (and 'fonts-noto-cjk' "
                        "for the Chinese quotes) to take screenshots", where="--screenshot")
    return Path(chromium)


def _chromium(chromium: Path, folder: Path, arguments: list[str], timeout: float) -> subprocess.CompletedProcess:
    command = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={folder}/profile", *arguments]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"Chromium did not finish within {timeout:g} s", where="screenshot") from None


def page_height(html_path: Path, chromium: Path, folder: Path, *, width: int = WIDTH, timeout: float = 180) -> int:
    """The rendered height in pixels of the page at ``html_path`` in a window ``width`` pixels wide."""
    text = html_path.read_text(encoding="utf-8")
    probe = folder / "measure.html"
    cut = text.rfind("</body>")
    probe.write_text(text[:cut] + _MEASURE + text[cut:] if cut >= 0 else text + _MEASURE, encoding="utf-8")
    done = _chromium(chromium, folder, [f"--window-size={width},800", "--dump-dom", probe.as_uri()], timeout)
    found = _HEIGHT.search(done.stdout)
    if not found:
        raise UserError(f"Chromium could not measure the page (exit {done.returncode}): {done.stderr[-500:]}",
                        where="screenshot")
    return int(found.group(1))


def render_png(html_path: str | Path, *, width: int = WIDTH, height: int | None = None,
               chromium: str | Path = CHROMIUM, timeout: float = 180) -> bytes:
    """The page at ``html_path`` as PNG bytes: all of it (``height=None``), or its first ``height`` pixels."""
    html_path, chromium = Path(html_path).resolve(), check_chromium(chromium)
    if not html_path.is_file():
        raise UserError("page not found", where=str(html_path))
    with tempfile.TemporaryDirectory(prefix="tokensim-chromium-") as name:
        folder = Path(name)
        height = page_height(html_path, chromium, folder, width=width, timeout=timeout) if height is None else height
        shot = folder / "page.png"
        done = _chromium(chromium, folder, [f"--screenshot={shot}", f"--window-size={width},{height}",
                                            html_path.as_uri()], timeout)
        if not shot.is_file():
            raise UserError(f"Chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}",
                            where="screenshot")
        return shot.read_bytes()


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = WIDTH, height: int | None = None,
               chromium: str | Path = CHROMIUM, timeout: float = 180) -> Path:
    """Render ``html_path`` in headless Chromium (the whole page unless ``height`` is given) and save what a
    reader sees as ``png_path``, atomically. Raises UserError if Chromium is missing or fails."""
    image = render_png(html_path, width=width, height=height, chromium=chromium, timeout=timeout)
    return atomic_write(png_path, image)
