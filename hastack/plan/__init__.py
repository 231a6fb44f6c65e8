"""The offline plan: the real Pulumi program under the mock runtime, and what is derived from it.

Owns: `render` (run `__main__.py` with recording mocks, write plan/outputs/manifests),
`mock_values` (realistic AWS answers for the mocks), `summary` (the per-region table),
`fmea` (the availability model and FMEA table of a rendered plan), `cli` (`hastack plan`).
May import: `hastack.config`, `hastack.errors`, `hastack.files`, `hastack.paths`, `hastack.policy` (the FMEA
reads the pack's model through the derived policy config), the Pulumi SDKs (through the program).
Never imports: hastack.dr, hastack.local, boto3, moto.
"""
