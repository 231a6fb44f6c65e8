"""The hastack policy pack: builds the `PolicyPack` and nothing else.

The Pulumi engine (or `hastack policy check`, which plays the engine offline) starts this program
with `python -m pulumi.policy <engine address> .` in this directory; constructing the `PolicyPack`
starts its gRPC Analyzer server, prints the port and blocks. Never import this file from a test.
"""

import gc

import _protocol
from availability import POLICIES as AVAILABILITY
from capacity import POLICIES as CAPACITY
from detection import POLICIES as DETECTION
from durability import POLICIES as DURABILITY
from pulumi_policy import EnforcementLevel, PolicyPack
from security import POLICIES as SECURITY
from spof import POLICIES as SPOF
from traffic import POLICIES as TRAFFIC
from workload import POLICIES as WORKLOAD

# The SDK deserializes every resource into proxy objects once per policy; with the default
# thresholds the collector runs thousands of times per AnalyzeStack and the check grows faster than
# the stack. Collect less often (measured: ~2x faster at 2,700 resources, flat time per resource).
gc.set_threshold(50_000, 20, 100)

# Keep the secret markers and the stack config the engine sends (no-plaintext-secrets needs them).
_protocol.install()

PolicyPack(
    name="hastack-ha",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*SPOF, *TRAFFIC, *WORKLOAD, *CAPACITY, *SECURITY, *DURABILITY, *DETECTION, *AVAILABILITY],
    description="No single point of failure, schedulable and hardened workloads, encryption, exposure and "
                "durability basics, bounded detection and paging that reaches someone, and an availability "
                "budget checked against the stack's SLO.",
)
