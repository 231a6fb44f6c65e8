"""`hastack dr` and `hastack drill`: turn the pilot-light DR region into production, report, fail back, drill.

Owns: `outputs` (reads an outputs file into `hastack.outputs.StackOutputs`), `aws` (the one client
factory), `preflight` (credentials and an overridden endpoint, before any call), `probes`
(read-only AWS reads), `actions` (AWS writes), `lock` (the DynamoDB operator lock), `journal` (what
a run did, shared through the lock table), `steps` (one idempotent step = one sentence),
`orchestrator` (fence, parallel branches, waits, DNS), `failback`, `status`, `report` / `progress`
(what the operator sees), `clock` / `simulate` (deterministic time for the RTO model),
`drills` (timed in-region failover drills), `cli` (typer).

May import: `hastack.errors`, `hastack.files`, `hastack.paths`, `hastack.outputs` (the outputs contract,
pydantic), `hastack.timings`, boto3/botocore, rich, typer. It runs at 3 a.m. from the stack outputs alone, so it
needs neither the program nor the Pulumi SDKs (the test of the CLI's imports holds the line below).
Never imports: hastack.plan, hastack.policy, hastack.local, components, pulumi_aws, pulumi_kubernetes.
"""
