"""Rendering figures: as PNG bytes in memory (then written with the rest of their set), or as a PNG file
replaced on its own; either way the figure is closed, and text is drawn as written (:mod:`sim.plots.text`)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from sim.core.files import atomic_write


def png_bytes(figure, *, dpi: int, metadata: dict[str, str] | None = None) -> bytes:
    """The figure rendered as PNG in memory, with optional text metadata (closed afterwards, also when
    rendering fails)."""
    image = io.BytesIO()
    try:
        figure.savefig(image, format="png", dpi=dpi, metadata=metadata)
    finally:
        plt.close(figure)
    return image.getvalue()


def save_figure(figure, path: str | Path, *, dpi: int = 120, metadata: dict[str, str] | None = None) -> Path:
    """Save a figure as PNG, replacing ``path`` only once it is complete (an earlier file survives any
    failure), with optional text metadata, and close it."""
    return atomic_write(path, png_bytes(figure, dpi=dpi, metadata=metadata))
