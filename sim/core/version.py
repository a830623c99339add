"""The installed version of tokensim, readable without importing the package root."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tokensim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
