"""The ``tokensim`` command: thin wrappers over :mod:`sim.api` and the layers below.

Any :class:`~sim.core.errors.UserError` ends the command with its message and exit status 2; a
traceback means a bug in tokensim. The command is the only place that chooses matplotlib's backend.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from sim.cli.parser import build_parser
from sim.core.errors import UserError


def _configure_logging(*, quiet: bool) -> None:
    """Progress messages of tokensim (not of the libraries) go to stderr unless quiet."""
    log = logging.getLogger("tokensim")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("tokensim: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)


def _draw_off_screen() -> None:
    """Charts are written to files, never shown: the Agg backend, chosen before any figure is drawn."""
    if "matplotlib" in sys.modules:  # already imported (a notebook or a test calling main()): switch it
        import matplotlib

        matplotlib.use("Agg")
    else:  # read when a command first draws, so commands that draw nothing do not import matplotlib
        os.environ["MPLBACKEND"] = "Agg"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(quiet=args.quiet)
        _draw_off_screen()
        return args.handler(args)
    except UserError as error:
        print(f"tokensim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tokensim: interrupted", file=sys.stderr)
        return 130
