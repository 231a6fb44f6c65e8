"""Local AWS: the real program deployed into an embedded moto AWS on 127.0.0.1, and drills on it.

Owns: `world` (the fake AWS itself: moto plus what moto lacks, outages, the control endpoint; used
in-process by the DR tests and served by `server`), `server` (the world on 127.0.0.1, in-process or
detached, and `WorldClient`), `aws_resources` / `moto_mocks` (the Pulumi mock runtime whose
resources are created in moto through boto3), `deploy` (run the program against it), `drill` (take
the primary region down and run the real DR command against what is left), `verify`, `inventory`,
`gantt`, `demo`, `cli` (`hastack local ...`, `hastack drill region`).

May import: `hastack.plan` (it renders the program into moto), `hastack.dr` (it runs the real DR
command), `hastack.config`, `hastack.errors`, `hastack.files`, `hastack.paths`, `hastack.timings`, boto3, moto.
The demo runs `hastack plan` and `hastack policy check` as the commands a user types.
Never imports: hastack.policy.
"""
