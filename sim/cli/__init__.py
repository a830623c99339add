"""The ``tokensim`` command: thin wrappers over :mod:`sim.api` and the layers below.

Any :class:`~sim.core.errors.UserError` ends the command with its message and exit status 2; a
traceback means a bug in tokensim. A reader that stops early (``tokensim summarize ... | head``)
ends it quietly, as it would end any Unix tool (exit status 141, 128 + SIGPIPE). The command is the
only place that chooses matplotlib's backend and what the libraries may print on the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence

from sim.cli.parser import build_parser
from sim.core.errors import UserError
from sim.core.nodask import defer_dask

#: Exit status of a command whose reader closed the pipe (as if killed by SIGPIPE).
BROKEN_PIPE = 128 + 13
#: Loggers of libraries whose notes are not for an analyst's terminal (PyTensor's BLAS fallback notice,
#: PyMC's sampling chatter): only their errors are shown.
LIBRARY_LOGGERS = ("pytensor", "pymc", "arviz", "numba", "distributed")


def _configure_logging(*, quiet: bool) -> None:
    """Progress messages of tokensim (not of the libraries) go to stderr unless quiet."""
    log = logging.getLogger("tokensim")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("tokensim: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def _silence_library_warnings() -> None:
    """Library notices (ArviZ's FutureWarnings, PyTensor's BLAS notice, deprecations) are for developers: the
    test suite still shows them; the command does not."""
    for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        for module in ("arviz", "pytensor", "pymc", "xarray", "numba", "nutpie"):
            warnings.filterwarnings("ignore", category=category, module=module)
    warnings.filterwarnings("ignore", category=FutureWarning, message=r"(?s).*ArviZ")
    warnings.filterwarnings("ignore", category=UserWarning, message="PyTensor could not link to a BLAS")


def _draw_off_screen() -> None:
    """Charts are written to files, never shown: the Agg backend, chosen before any figure is drawn."""
    if "matplotlib" in sys.modules:  # already imported (a notebook or a test calling main()): switch it
        import matplotlib

        matplotlib.use("Agg")
    else:  # read when a command first draws, so commands that draw nothing do not import matplotlib
        os.environ["MPLBACKEND"] = "Agg"


def _stdout_closed() -> int:
    """The reader of stdout has gone: send what is left to /dev/null (so the interpreter's last flush cannot
    fail again) and end with the status of a process killed by SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to redirect
        pass
    finally:
        os.close(devnull)
    return BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        with warnings.catch_warnings():
            args = build_parser().parse_args(argv)
            _configure_logging(quiet=args.quiet)
            _silence_library_warnings()
            _draw_off_screen()
            defer_dask()  # xarray imports dask only if the command does (--workers): numpy arrays need none
            status = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at exit
            return status
    except UserError as error:
        print(f"tokensim: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        print("tokensim: interrupted", file=sys.stderr)
        return 130
