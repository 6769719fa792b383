"""Errors the stack manager reports to a person: what went wrong and what to do."""


class StackError(RuntimeError):
    """A failure `up`/`down` cannot work around; the message names the cause and the fix."""
