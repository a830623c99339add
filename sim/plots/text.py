"""Text in tokensim's figures is drawn as written: claim names, observation ids and scenario attributes come
from users' files, and matplotlib would read ``$...$`` in them as mathematics (and fail on ``a $x^$ b``).

Every figure function is wrapped in :func:`as_written`, which turns matplotlib's math parsing off for the
text it creates; titles and axis labels it sets on axes passed in by the caller (created before, with
math parsing on) are set with ``parse_math=False`` where they hold such text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import matplotlib.pyplot as plt

Draw = TypeVar("Draw", bound=Callable)


def as_written(draw: Draw) -> Draw:
    """``draw`` with every text it creates drawn as written, never parsed as mathematics."""
    @functools.wraps(draw)
    def drawing(*args, **kwargs):
        with plt.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)
    return drawing  # type: ignore[return-value]
