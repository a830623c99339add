"""The one exception a user can cause.

Anything a user can get wrong (a config, a data file, a path, a stale posterior) raises
:class:`UserError`; the CLI prints its message and exits with status 2. Any other exception
is a bug in tokensim and is allowed to show its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input, explained in one paragraph.

    Parameters
    ----------
    message
        What is wrong and what is allowed.
    where
        The file, key or argument at fault (prefixed to the message).
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)
