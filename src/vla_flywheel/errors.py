"""User-facing errors.

Anything a user can cause (a typo in a flag, a truncated file, a bad action) raises a subclass of
`FlywheelError` whose message is one line saying what is wrong, where, and how to fix it. The CLI
prints that line and exits non-zero; a traceback means a bug in the project, not in the input.
"""


class FlywheelError(Exception):
    """Base class for errors caused by input; the message is shown to the user as is."""


class ConfigError(FlywheelError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


class InvalidActionError(FlywheelError, ValueError):
    """An action is non-finite, out of range, or of the wrong shape."""


class DatasetError(FlywheelError):
    """A dataset directory is missing, incomplete, corrupted or of an unsupported version."""


class SystemLibraryError(FlywheelError):
    """A system library the project needs (e.g. EGL for headless rendering) is missing."""
