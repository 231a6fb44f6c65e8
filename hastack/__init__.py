"""hastack: the package behind the CLI — config model, outputs contract, offline plan, policy runner, DR orchestration.

Top-level modules importable without any SDK: `errors` (the CLI's one error type), `paths`,
`outputs` (the stack outputs contract: pydantic models), `validation` (pydantic errors worded
as one line per problem).
"""

__version__ = "0.1.0"
