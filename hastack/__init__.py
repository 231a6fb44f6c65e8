"""hastack: the package behind the CLI — config model, offline plan, policy runner, DR orchestration."""

__version__ = "0.1.0"
