"""Exceptions that carry a message meant for the user, raised across the package."""


class ImgbenchError(RuntimeError):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class ConfigError(ImgbenchError):
    """A configuration value is wrong; the message names the key and what is allowed."""


class DatasetError(ImgbenchError):
    """A dataset is missing, incomplete or corrupt; the message names the file."""


class TaskError(ImgbenchError):
    """Work on one image failed; the message names the image."""


class VerificationError(ImgbenchError):
    """A strategy lost or corrupted work: the repetition's time must not be reported."""


class UserTaskError(ImgbenchError):
    """A user's task function that cannot be loaded (at config time, or in a job)."""
