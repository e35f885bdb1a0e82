"""The one exception type that means "the user asked for something invalid".

The CLI turns it into a one-line message and exit code 2; library callers get a ``ValueError`` subclass.
"""


class ConfigError(ValueError):
    """Invalid user input: an unknown family, alpha outside [0, 1], a sample size of 0, a bad file..."""


class NumericalError(RuntimeError):
    """A simulation produced a non-finite number. The message names the metric, generation and chains."""
