"""Rendering figures: as PNG bytes in memory, or as a PNG file written atomically; either way the figure is closed."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from sim.core.files import atomic_write


def png_bytes(figure, *, dpi: int) -> bytes:
    """The figure rendered as PNG in memory (closed afterwards, also when rendering fails)."""
    image = io.BytesIO()
    try:
        figure.savefig(image, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    return image.getvalue()


def save_figure(figure, path: str | Path, *, dpi: int = 120, metadata: dict[str, str] | None = None) -> Path:
    """Save a figure atomically as PNG (an earlier file survives any failure), with optional text metadata,
    and close it."""
    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, metadata=metadata))
    finally:
        plt.close(figure)
