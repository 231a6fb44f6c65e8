"""no-plaintext-secrets through the real pack process, with what the engine really sends it.

A secret is a value from a config key declared secret (ConfigureStack's config and
config_secret_keys) or a value held as a Pulumi secret anywhere in the stack (the engine keeps its
marker in every property it sends, generated passwords and tokens included). The rule fails when
such a value appears unmarked in any resource, whatever the property is called. pulumi-policy drops
both the markers and the config before a rule runs: these rows prove the pack still sees them.

The offline plan holds every secret as "[secret]", so rows that need a real secret value give the
generated AUTH token one (marked secret, as the engine would send it).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_helpers import (
    Mutation,
    Scenario,
    ScenarioRunner,
    assert_scenario,
    resource,
    scenario,
    set_prop,
    sets,
    touching,
)

SIG, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
TOKEN = "Zq8vT3kP0wLx9mRb2cYd7nHf4sGj6aEu"  # what random.RandomPassword generated (the test's value)
API_KEY = "sk-live-0123456789abcdef"
P_DEP = "primary-workload-predictor-deployment"
DR_E_DEP = "dr-workload-embedder-deployment"
ENV = "spec.template.spec.containers.0.env"


def secret(value: str) -> dict[str, Any]:
    """A value as the engine marshals a secret."""
    return {SIG: SECRET_SIG, "value": value}


@touching("cache-auth-token")
def token_generated(plan: dict[str, Any]) -> None:
    """The RandomPassword's result is known (after `up`): still a secret output."""
    resource(plan, "cache-auth-token")["outputs"]["result"] = secret(TOKEN)


def env_added(name: str, var: str, value: Any) -> Mutation:
    @touching(name)
    def add(plan: dict[str, Any]) -> None:
        env = resource(plan, name)["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]
        set_prop(plan, name, ENV, [*env, {"name": var, "value": value}])

    return add


SECRET_API_KEY = {"stack_config": {"hastack:modelApiKey": API_KEY, "hastack:zoneName": "example.com"},
                  "secret_keys": ["hastack:modelApiKey"]}

SCENARIOS: list[Scenario] = [
    scenario("config-secret-in-an-env-var", "no-plaintext-secrets",
             env_added(P_DEP, "MODEL_URL", f"https://models.example.com/v1?key={API_KEY}"), on=P_DEP,
             expect=["Deployment 'primary-workload-predictor-deployment' holds the value of config key "
              "'hastack:modelApiKey' (declared secret) in plain text at "
              "'spec.template.spec.containers[0].env[2].value': it ends up unencrypted in the state, the plan "
              "and every preview. Pass the secret Output itself (config.require_secret, the generator's result)"
              " instead of its value, or let the service manage it (RDS manageMasterUserPassword)."], **SECRET_API_KEY),
    scenario("config-secret-in-a-tag", "no-plaintext-secrets",
             sets("dr-ingress-alb", "tags.debug", API_KEY), on="dr-ingress-alb",
             expect=["LoadBalancer 'dr-ingress-alb' holds the value of config key 'hastack:modelApiKey' (declared "
              "secret) in plain text at 'tags.debug': it ends up unencrypted in the state, the plan and every "
              "preview. Pass the secret Output itself (config.require_secret, the generator's result) instead "
              "of its value, or let the service manage it (RDS manageMasterUserPassword)."], **SECRET_API_KEY),
    scenario("generated-token-in-a-connection-url", "no-plaintext-secrets", token_generated,
             env_added(DR_E_DEP, "CACHE_URL", f"rediss://:{TOKEN}@cache.hastack.internal:6379"), on=DR_E_DEP,
             expect=["Deployment 'dr-workload-embedder-deployment' holds the secret 'result' of RandomPassword "
              "'cache-auth-token' in plain text at 'spec.template.spec.containers[0].env[2].value': it ends up "
              "unencrypted in the state, the plan and every preview. Pass the secret Output itself "
              "(config.require_secret, the generator's result) instead of its value, or let the service manage "
              "it (RDS manageMasterUserPassword)."]),
    scenario("generated-token-unsecreted-into-secrets-manager", "no-plaintext-secrets", token_generated,
             sets("cache-auth-value", "secretString", TOKEN), on="cache-auth-value",
             expect=["SecretVersion 'cache-auth-value' holds the secret 'result' of RandomPassword 'cache-auth-token' "
              "in plain text at 'secretString': it ends up unencrypted in the state, the plan and every "
              "preview. Pass the secret Output itself (config.require_secret, the generator's result) instead "
              "of its value, or let the service manage it (RDS manageMasterUserPassword)."]),
    scenario("generated-token-kept-secret", "no-plaintext-secrets", token_generated,
             sets("cache-primary", "authToken", secret(TOKEN)), sets("cache-auth-value", "secretString", secret(TOKEN)),
             on="cache-primary"),
    scenario("config-secret-used-nowhere", "no-plaintext-secrets", on=P_DEP, **SECRET_API_KEY),
    scenario("plain-config-values-are-not-secrets", "no-plaintext-secrets",
             env_added(P_DEP, "ZONE", "example.com"), on=P_DEP, **SECRET_API_KEY),
    scenario("config-secret-passed-as-a-secret", "no-plaintext-secrets",
             env_added(P_DEP, "MODEL_API_KEY", secret(API_KEY)), on=P_DEP, **SECRET_API_KEY),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_plaintext_secret_rule(scenario_runner: ScenarioRunner, case: Scenario) -> None:
    assert_scenario(scenario_runner, case)


def test_the_pack_sees_the_secret_markers_and_the_secret_config(scenario_runner: ScenarioRunner) -> None:
    """The same value is a leak or not depending only on what the engine marked secret."""
    leak, _ = scenario_runner.report("generated-token-in-a-connection-url")
    assert [v.urn.rsplit("::", 1)[-1] for v in leak.violations] == [DR_E_DEP]
    kept, _ = scenario_runner.report("generated-token-kept-secret")
    assert kept.violations == []
