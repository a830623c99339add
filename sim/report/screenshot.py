"""What a reader sees: the report rendered in headless Chromium, saved as PNG."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from sim.core.errors import UserError
from sim.core.files import atomic_write

CHROMIUM = Path("/usr/bin/chromium")


def screenshot(html_path: str | Path, png_path: str | Path, *, width: int = 1280, height: int = 4000,
               chromium: str | Path = CHROMIUM, timeout: float = 180) -> Path:
    """Render ``html_path`` in headless Chromium and save what a reader sees (the first ``height``
    pixels at ``width``) as ``png_path``, atomically. Raises UserError if Chromium is missing or fails."""
    html_path, chromium = Path(html_path).resolve(), Path(chromium)
    if not html_path.is_file():
        raise UserError("report not found", where=str(html_path))
    if shutil.which(str(chromium)) is None:
        raise UserError(f"no Chromium at {chromium}; install Debian's 'chromium' package to take screenshots",
                        where="screenshot")
    with tempfile.TemporaryDirectory(prefix="tokensim-chromium-") as folder:
        shot = Path(folder) / "page.png"
        command = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={folder}/profile", f"--screenshot={shot}", f"--window-size={width},{height}",
                   html_path.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"Chromium did not finish within {timeout:g} s", where="screenshot") from None
        if not shot.is_file():
            raise UserError(f"Chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-500:]}",
                            where="screenshot")
        return atomic_write(png_path, lambda tmp: shutil.copyfile(shot, tmp))
