"""Local AWS: the real program deployed into an embedded moto AWS on 127.0.0.1, and drills on it.

`server` runs moto behind a small world-control layer (regional outages, red health checks);
`moto_mocks` is the Pulumi mock runtime whose resources are created in moto through boto3;
`deploy` runs the program against it; `drill` takes the primary region down and runs the real
DR command against what is left.
"""
