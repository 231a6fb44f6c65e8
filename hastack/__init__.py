"""hastack: the package behind the CLI — config model, outputs contract, offline plan, policy runner, DR orchestration.

Top-level modules importable without any SDK: `errors` (the CLI's one error type), `files` (the
files a user names, each way they can be wrong one `UserError`), `paths`, `outputs` (the stack outputs
contract: pydantic models), `validation` (pydantic errors worded as one line per problem), and
`catalog` (what AWS offers, offline: regions, the dated instance-type list, node capacity).
"""

__version__ = "0.1.0"
