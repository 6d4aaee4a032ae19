"""The one exception every user-facing check raises: its message is one line naming
the parameter (or flag, or file), the value and what is allowed. The command line
prints it and exits with status 2. Kept in its own light module so the command line
can catch it without importing the model."""


class ScenarioError(ValueError):
    """A parameter, scenario, file or flag that cannot be used (one line)."""
