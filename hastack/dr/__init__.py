"""`hastack dr` and `hastack drill`: turn the pilot-light DR region into production, report, fail back, drill.

Owns: `outputs` (reads an outputs file into `hastack.outputs.StackOutputs`), `deployment` (what a run
derives from the outputs: identity, bounds, coordination table, traffic control), `aws` (the one
client factory: every call bounded), `preflight` (credentials and an overridden endpoint, before
any call), `runner` (the one step runner: lock, journal, steps, report,
unlock), `lock` (the DR lock, renewed), `journal` (one per run), `lease` (the writers' lease: the
fence), `evidence` (ReplicaLag history: the RPO gate's evidence and estimate), `traffic` (the
switches and DNS as clients see it), `probes` (read-only AWS reads), `actions` (AWS writes),
`waiters`, `steps` (the scale-up steps, each a decision with its sentence), `scale_up`, `failback`,
`drills`, `status`, `report` / `progress` (what the operator sees), `clock` / `simulate`
(deterministic time for the RTO model), `cli` (typer).

May import: `hastack.errors`, `hastack.files`, `hastack.paths`, `hastack.outputs` (the outputs contract, pydantic),
`hastack.coordination` (the coordination table's layout, SDK-free), `hastack.timings` (AWS's
durations), boto3/botocore, dnspython, rich, typer. It runs at 3 a.m. from the stack outputs alone, so
it needs neither the program nor the Pulumi SDKs (the test of the CLI's imports holds the line below).
Never imports: hastack.plan, hastack.policy, hastack.local, components, pulumi_aws, pulumi_kubernetes.
"""
