"""Exceptions that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in user input (config, CLI argument, file): the message names the field
    and the fix. The CLI prints it on one line and exits with status 2."""


class StorageError(Exception):
    """The storage cannot be read or written (disk full, read-only file system, a damaged
    file): a fault, not a user mistake. Trials completed before it stay in the storage; the
    CLI prints one line and exits with status 1."""


class StorageWriteError(StorageError):
    """A write to the storage failed; nothing partial was left in it."""

    def __init__(self, message: str, errno_: int | None = None):
        super().__init__(message)
        self.errno = errno_

    def __str__(self) -> str:
        return str(self.args[0])


class SearchInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped a search; the running trial was failed and queued again."""

    def __init__(self, message: str, failed_trials: list[int]):
        super().__init__(message, failed_trials)
        self.failed_trials = failed_trials

    def __str__(self) -> str:
        return str(self.args[0])


class DseWarning(UserWarning):
    """Something the user should know that does not stop the command (a repaired storage
    file); the CLI prints it as one ``dse: warning:`` line."""
