"""The pack's TLS, load-balancer, cache-authentication and VPC-endpoint rules through the real pack.

Rows: one setting of the rendered prod plan changed (inputs and outputs together) and the exact
messages the rule reports on the named resource; rows without messages must pass.
"""

from __future__ import annotations

import pytest

from tests.policy_helpers import DELETE, Scenario, ScenarioRunner, assert_scenario, drops, scenario, sets

HTTPS = "primary-ingress-https"

SCENARIOS: list[Scenario] = [
    # https-listener-tls-policy
    scenario("tls-1-0-policy", "https-listener-tls-policy", sets(HTTPS, "sslPolicy", "ELBSecurityPolicy-2016-08"),
             on=HTTPS, expect=["Listener 'primary-ingress-https' (us-east-1) serves HTTPS on port 443 with sslPolicy "
              "'ELBSecurityPolicy-2016-08', which is not in the allowed TLS 1.2+ policies: clients may "
              "negotiate TLS 1.0/1.1 and weak ciphers. Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06 (or"
              " another policy of allowedTlsPolicies)."]),
    scenario("tls-1-1-policy", "https-listener-tls-policy",
             sets("dr-ingress-https", "sslPolicy", "ELBSecurityPolicy-TLS13-1-1-2021-06"), on="dr-ingress-https",
             expect=["Listener 'dr-ingress-https' (us-west-2) serves HTTPS on port 443 with sslPolicy "
              "'ELBSecurityPolicy-TLS13-1-1-2021-06', which is not in the allowed TLS 1.2+ policies: clients "
              "may negotiate TLS 1.0/1.1 and weak ciphers. Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06"
              " (or another policy of allowedTlsPolicies)."]),
    scenario("no-tls-policy", "https-listener-tls-policy", sets(HTTPS, "sslPolicy", DELETE), on=HTTPS,
             expect=["Listener 'primary-ingress-https' (us-east-1) serves HTTPS on port 443 with no sslPolicy (AWS "
              "applies ELBSecurityPolicy-2016-08), which is not in the allowed TLS 1.2+ policies: clients may "
              "negotiate TLS 1.0/1.1 and weak ciphers. Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06 (or"
              " another policy of allowedTlsPolicies)."]),
    scenario("tls-1-3-only", "https-listener-tls-policy",
             sets("dr-ingress-https", "sslPolicy", "ELBSecurityPolicy-TLS13-1-3-2021-06"), on="dr-ingress-https"),
    scenario("fips-policy", "https-listener-tls-policy",
             sets(HTTPS, "sslPolicy", "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04"), on=HTTPS),
    scenario("configured-policy-list", "https-listener-tls-policy",
             sets(HTTPS, "sslPolicy", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"), on=HTTPS,
             config={"https-listener-tls-policy": {"allowedTlsPolicies": ["ELBSecurityPolicy-TLS13-1-2-Res-2021-06"]}}),
    # alb-hardening
    scenario("alb-deletable", "alb-hardening", sets("primary-ingress-alb", "enableDeletionProtection", False),
             on="primary-ingress-alb",
             expect=["LoadBalancer 'primary-ingress-alb' (us-east-1) has enableDeletionProtection=False: one mistaken "
              "`pulumi destroy` or replacement removes the region's entry point (and its DNS name, which the "
              "failover records alias). Set enableDeletionProtection=True."]),
    scenario("alb-forwards-invalid-headers", "alb-hardening",
             sets("dr-ingress-alb", "dropInvalidHeaderFields", False), on="dr-ingress-alb",
             expect=["LoadBalancer 'dr-ingress-alb' (us-west-2) has dropInvalidHeaderFields=False: malformed headers "
              "reach the targets (request smuggling). Set dropInvalidHeaderFields=True."]),
    scenario("alb-desync-monitor", "alb-hardening", sets("primary-ingress-alb", "desyncMitigationMode", "monitor"),
             on="primary-ingress-alb",
             expect=["LoadBalancer 'primary-ingress-alb' (us-east-1) has desyncMitigationMode='monitor': ambiguous "
              "requests (HTTP desync) are forwarded. Set desyncMitigationMode='defensive' or 'strictest'."]),
    scenario("alb-desync-strictest", "alb-hardening", sets("dr-ingress-alb", "desyncMitigationMode", "strictest"),
             on="dr-ingress-alb"),
    # elasticache-auth-required
    scenario("cache-auth-token-removed", "elasticache-auth-required", sets("cache-primary", "authToken", DELETE),
             on="cache-primary",
             expect=["ReplicationGroup 'cache-primary' requires no authentication (no authToken, no userGroupIds): "
              "anything that reaches port 6379 inside the VPC can read and overwrite the cache. Set authToken "
              "to a generated secret (or RBAC userGroupIds)."]),
    scenario("cache-rbac-instead-of-token", "elasticache-auth-required",
             sets("cache-dr", "authToken", DELETE), sets("cache-dr", "userGroupIds", ["hastack-clients"]),
             on="cache-dr"),
    # imds-hop-limit
    scenario("imds-hop-limit-2", "imds-hop-limit",
             sets("primary-cluster-nodes-lt", "metadataOptions.httpPutResponseHopLimit", 2),
             on="primary-cluster-nodes-lt",
             expect=["LaunchTemplate 'primary-cluster-nodes-lt' has httpPutResponseHopLimit=2: pods one network hop "
              "behind the node can fetch an IMDS token and act with the node role (ECR, the VPC CNI's network "
              "permissions). Set metadataOptions.httpPutResponseHopLimit=1 and give the pods that need AWS "
              "their own role through EKS Pod Identity."]),
    scenario("imds-hop-limit-unset", "imds-hop-limit",
             sets("dr-cluster-nodes-lt", "metadataOptions.httpPutResponseHopLimit", DELETE),
             on="dr-cluster-nodes-lt",
             expect=["LaunchTemplate 'dr-cluster-nodes-lt' has no httpPutResponseHopLimit (the AMI's default applies; "
              "EKS AL2023 AMIs use 2): pods one network hop behind the node can fetch an IMDS token and act "
              "with the node role (ECR, the VPC CNI's network permissions). Set "
              "metadataOptions.httpPutResponseHopLimit=1 and give the pods that need AWS their own role through"
              " EKS Pod Identity."]),
    scenario("imds-off", "imds-hop-limit",
             sets("dr-cluster-nodes-lt", "metadataOptions", {"httpEndpoint": "disabled"}), on="dr-cluster-nodes-lt"),
    # vpc-endpoints-present
    scenario("no-ecr-dkr-endpoint", "vpc-endpoints-present", drops("primary-net-ecr-dkr"), on="primary-net-vpc",
             expect=["Vpc 'primary-net-vpc' (us-east-1) has no ecr.dkr VPC endpoint: that traffic (image pulls from "
              "the account's ECR, their S3 layers) depends on the NAT gateways and the internet. Add the "
              "endpoint the network design promises (com.amazonaws.<region>.ecr.dkr)."]),
    scenario("no-s3-endpoint", "vpc-endpoints-present", drops("dr-net-s3"), on="dr-net-vpc",
             expect=["Vpc 'dr-net-vpc' (us-west-2) has no s3 VPC endpoint: that traffic (image pulls from the "
              "account's ECR, their S3 layers) depends on the NAT gateways and the internet. Add the endpoint "
              "the network design promises (com.amazonaws.<region>.s3)."]),
    scenario("s3-endpoint-on-one-route-table", "vpc-endpoints-present",
             sets("primary-net-s3", "routeTableIds", ["rtb-8c486ea62cecdf2e5"]), on="primary-net-s3",
             expect=["VpcEndpoint 'primary-net-s3' (s3) is not on the route tables rtb-3028752013edbf629, "
              "rtb-837ae5fbb730b3fda of the private subnets: their traffic to it still takes the NAT gateway. "
              "Add every private route table to routeTableIds."]),
    scenario("ecr-endpoint-without-private-dns", "vpc-endpoints-present",
             sets("dr-net-ecr-api", "privateDnsEnabled", False), on="dr-net-ecr-api",
             expect=["VpcEndpoint 'dr-net-ecr-api' (ecr.api) has privateDnsEnabled=False: the service's public name "
              "still resolves to the internet, so nothing uses the endpoint. Set privateDnsEnabled=True."]),
    scenario("ecr-endpoint-in-two-azs", "vpc-endpoints-present",
             sets("primary-net-ecr-api", "subnetIds", ["subnet-7df8507746a4bf28c", "subnet-f848710bf8297922b"]),
             on="primary-net-ecr-api",
             expect=["VpcEndpoint 'primary-net-ecr-api' (ecr.api) has no network interface in us-east-1c: it is "
              "reached across AZs from there and fails with the AZ it lives in. Give it a private subnet in "
              "every AZ."]),
    scenario("only-s3-required", "vpc-endpoints-present", drops("primary-net-ecr-dkr"), drops("primary-net-ecr-api"),
             on="primary-net-vpc", config={"vpc-endpoints-present": {"requiredVpcEndpoints": ["s3"]}}),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_security_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)
