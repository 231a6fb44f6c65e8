"""What AWS offers, known offline: the config's checks of regions, instance types and node capacity.

Owns: `regions` (region names from botocore's endpoint data, read as a file), `instance_types` (the
dated list in `aws-instance-types.json`: EC2 types with their capacity, RDS for PostgreSQL classes,
ElastiCache node types, the families each region offers), `capacity` (EKS's allocatable capacity of a
node, Kubernetes quantities), `refresh` (regenerates the list from cfn-lint's and moto's data).
May import: the standard library only (`refresh` reads moto's and cfn-lint's data files).
Never imports: pulumi, pulumi_aws, boto3, botocore, moto, hastack.plan, hastack.policy, hastack.dr, hastack.local.
"""
