"""The one error type Beatwalk raises for bad input."""


class BeatwalkError(ValueError):
    """Bad input from a person or a program: a song, a project, a setting.

    The message is one plain line meant to be shown as is: by the CLI after
    ``error:`` on stderr (exit code 2), by the Space as a ``gr.Error``.
    """
