"""Exceptions that the CLI turns into one-line messages and exit code 2."""


class UserError(Exception):
    """A mistake in user input (config, CLI argument, file): the message names the field
    and the fix. The CLI prints it on one line and exits with status 2."""
