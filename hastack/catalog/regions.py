"""AWS region names, from botocore's endpoint data (read as a file: importing botocore costs `hastack plan`).

The Pulumi AWS provider skips region validation (`us-east-9` renders and previews), so the config
checks names itself against the partitions file that the pinned botocore ships (`partitions.json`:
every region of every partition, the same data the SDKs resolve endpoints from).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
from functools import cache
from pathlib import Path


class RegionDataError(RuntimeError):
    """botocore (requirements.txt) is not installed, so its list of regions cannot be read."""


@cache
def aws_regions() -> dict[str, str]:
    """Every AWS region name -> its partition ('aws', 'aws-cn', 'aws-us-gov', ...), global pseudo-regions left out."""
    spec = importlib.util.find_spec("botocore")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise RegionDataError("botocore is not installed (pip install -r requirements.txt): its endpoint data "
                                "lists the AWS regions")
    data = json.loads((Path(spec.origin).parent / "data" / "partitions.json").read_text())
    return {region: partition["id"] for partition in data["partitions"] for region in partition["regions"]
            if not region.endswith("-global")}


def close_regions(name: str) -> list[str]:
    """Up to three known regions spelled most like `name`."""
    return difflib.get_close_matches(name, sorted(aws_regions()), n=3, cutoff=0.6)
