"""The policy pack, played offline as the Pulumi engine plays it.

Owns: `runner` (start the pack process, speak the Analyzer gRPC protocol), `config` (the policy
config derived from a stack's config and `hastack.timings`), `plan_file` (the plan file's contract),
`cli` (`hastack policy ...`).
May import: `hastack.config`, `hastack.errors`, `hastack.files`, `hastack.paths`, `hastack.timings`,
`hastack.plan.render` (to read stack files). `policies/` itself imports nothing from here.
Never imports: hastack.dr, hastack.local, components, boto3, moto.
"""
