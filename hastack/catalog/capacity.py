"""What a node gives pods: EKS's allocatable capacity of an instance type, and Kubernetes quantities.

The formula is the EKS-optimized AMI's (amazon-eks-ami: `nodeadm` on AL2023, `bootstrap.sh` on AL2),
the same one the policy pack's scheduling rules use (policies/capacity.py), so that config validation
and the pack agree on what fits:

    allocatable CPU    = vCPUs - kube-reserved CPU
                         (6 % of the first core, 1 % of the second, 0.5 % of the third and fourth,
                          0.25 % of every further core)
    allocatable memory = memory x 0.94            (what the kernel reports of the nominal memory:
                                                    an ASSUMPTION, AWS publishes no figure)
                         - (255 MiB + 11 MiB x max pods)      kube-reserved memory
                         - 100 MiB                           eviction threshold (memory.available)
    pods               = max pods (VPC CNI: ENIs x (IPv4 per ENI - 1) + 2, amazon-eks-ami eni-max-pods.txt)

and from that, what the system DaemonSets request on every node (`NODE_DAEMONSETS`: aws-node,
kube-proxy and the EKS Pod Identity agent; the pack's `nodeOverhead` default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hastack.catalog.instance_types import Ec2Capacity

MIB = 2 ** 20
GIB = 2 ** 30
#: Share of the nominal memory the kernel reports to the kubelet (ASSUMPTION, as in the policy pack).
KERNEL_MEMORY_SHARE = 0.94
#: kubelet's eviction-hard threshold on the EKS AMIs.
EVICTION_HARD_MIB = 100


@dataclass(frozen=True)
class Amounts:
    """CPU cores, memory bytes and pod slots."""

    cpu: float
    memory: float
    pods: int = 0


#: What the system DaemonSets request on every node (the policy pack's `nodeOverhead` default).
NODE_DAEMONSETS = Amounts(cpu=0.150, memory=128 * MIB, pods=3)


def kube_reserved_cpu(vcpus: int) -> float:
    """Cores the EKS AMI reserves for the kubelet and the container runtime."""
    shares = [0.06, 0.01, 0.005, 0.005] + [0.0025] * max(vcpus - 4, 0)
    return sum(shares[:vcpus])


def allocatable(itype: Ec2Capacity, daemonsets: Amounts = NODE_DAEMONSETS) -> Amounts:
    """What pods can request on one node of `itype`, after the system's reservations and DaemonSets."""
    memory = (itype.memory_mib * MIB * KERNEL_MEMORY_SHARE - (255 + 11 * itype.max_pods) * MIB
              - EVICTION_HARD_MIB * MIB - daemonsets.memory)
    return Amounts(cpu=itype.vcpus - kube_reserved_cpu(itype.vcpus) - daemonsets.cpu, memory=memory,
                   pods=itype.max_pods - daemonsets.pods)


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")
_MEMORY_UNITS = {None: 1, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15,
                 "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50}


def cpu_cores(quantity: str) -> float:
    """'500m' -> 0.5, '2' -> 2.0 (ValueError for anything else)."""
    match = _CPU.match(quantity)
    if not match:
        raise ValueError(f"not a CPU quantity: {quantity!r}")
    return float(match.group(1)) / (1000 if match.group(2) else 1)


def memory_bytes(quantity: str) -> float:
    """'512Mi' -> 536870912, '1G' -> 1e9 (ValueError for anything else)."""
    match = _MEMORY.match(quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def cores(value: float) -> str:
    """0.5 -> '0.5', 3.9 -> '3.9' (for messages)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"
