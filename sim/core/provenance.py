"""Who wrote a file and how: the attributes every file tokensim writes carries, composed here once.

``source`` names the package and version, ``tokensim_version`` the version alone, and ``history``
the command that wrote the file (as typed on the command line, or the Python function that stands
for it), stamped with the UTC time.
"""

from __future__ import annotations

import datetime as dt
import sys

from sim.core.version import __version__

#: The package and version, as CF's ``source`` attribute gives them.
SOURCE = f"tokensim {__version__}"


def utc_now() -> str:
    """The current UTC time to the second, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def command_line(entry_point: str = "") -> str:
    """The command as typed (``tokensim run ...``), or ``entry_point`` when not run from the command line."""
    return " ".join(["tokensim", *sys.argv[1:]] if sys.argv and "tokensim" in sys.argv[0] else [entry_point])


def provenance(entry_point: str | None = None, *, version: bool = True, stamped: bool = True) -> dict[str, str]:
    """The provenance attributes of a written file.

    Parameters
    ----------
    entry_point
        The Python function that stands for the command when it was not run from the command
        line (``"sim.run"``); with None, no ``history``.
    version
        Include ``tokensim_version``.
    stamped
        Prefix ``history`` with the UTC time.
    """
    attrs = {"source": SOURCE}
    if version:
        attrs["tokensim_version"] = __version__
    if entry_point is not None:
        command = command_line(entry_point)
        attrs["history"] = f"{utc_now()}: {command}" if stamped else command
    return attrs
