"""`hastack dr`: turn the pilot-light DR region into production, report on it, and fail back.

One concern per module: `outputs` (what the stack exports), `aws` (the one client factory),
`probes` (read-only AWS reads), `actions` (AWS writes), `lock` (the DynamoDB operator lock),
`journal` (what a run did, shared through the lock table), `steps` (one idempotent step = one
sentence), `orchestrator` (fence, parallel branches, waits, DNS), `report` / `progress` (what the
operator sees), `clock` / `simulate` (deterministic time for the RTO model), `cli` (typer).
"""
