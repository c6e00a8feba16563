"""Errors that library code raises and only the CLI turns into exit codes."""


class K8snetError(Exception):
    """Something went wrong that the user can act on (exit status 1)."""

    exit_code = 1


class UsageError(K8snetError):
    """The user asked for something that cannot be done as asked (exit 2).

    The message says what was wrong and how to fix it, in one line.
    """

    exit_code = 2
