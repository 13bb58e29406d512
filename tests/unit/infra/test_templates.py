"""infra/: the Bicep templates stand up everything the code uses, with identity only.

No Bicep CLI here: tree-sitter-bicep parses every file and the tests walk the parsed
templates. The expected values are read from the code (queue names, containers, partition
key, TTLs, composite indexes, settings, trigger connections), so a container, queue or
setting the code gains and the templates lack fails here.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_core.messaging import QUEUES
from integration_core.settings import QueueBackend, Settings, load_settings
from integration_core.storage.base import CONTAINERS, PARTITION_KEY
from integration_core.storage.cosmos import COMPOSITE_INDEXES
from tests.unit.infra._bicep import Declaration, Expr, Loop, Template, Ternary, load, parse_errors

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Azure built-in role definition ids, from the Azure docs ("Azure built-in roles"):
#   https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage
#   https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration
#   https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security
#   https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor
# and Cosmos DB's own data-plane roles ("Built-in role definitions"):
#   https://learn.microsoft.com/azure/cosmos-db/how-to-setup-rbac#built-in-role-definitions
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Cosmos DB Built-in Data Contributor": "00000000-0000-0000-0000-000000000002",
}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Settings the app reads that a deployment deliberately does not set, and why.
NOT_DEPLOYED = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption sets the runtime in functionAppConfig",
    "AzureWebJobsStorage": "identity-based: AzureWebJobsStorage__* settings",
    "ServiceBusConnection": "identity-based: ServiceBusConnection__* settings",
    "COSMOS_KEY": "a key: the managed identity signs in instead",
    "COSMOS_CA_FILE": "local emulator certificate only",
    "SQLITE_PATH": "embedded store only",
    "LOCAL_SECRETS_PATH": "local secret file only",
    "LOCAL_SECRETS_KEY": "a key for the local secret file; Key Vault is used instead",
    "REDIS_URL": "a URL may carry a password: REDIS_HOST with Entra ID is used instead",
    "OTEL_CONSOLE": "console exporters for local development; Azure gets Application Insights",
    "OAUTH_CLIENTS": "client secrets of the operator's OAuth apps: a Key Vault reference the"
    " operator sets once the apps are registered (README 'Connect with OAuth')",
}
# The one deployed setting named like a connection string: it names the ingestion endpoint
# and instrumentation key, which cannot send telemetry with local auth off (the identity
# authenticates through APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
APP_INSIGHTS_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SECRET_LOOKING = re.compile(
    r"listKeys|listConnectionStrings|listCredentials|listSecrets|primaryKey|secondaryKey"
    r"|primaryConnectionString|AccountKey|SharedAccessKey|accessKeys\b|password",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def templates() -> dict[str, Template]:
    return {str(path.relative_to(INFRA)): load(path) for path in BICEP_FILES}


def _main(templates: dict[str, Template]) -> Template:
    return templates["main.bicep"]


def _module(template: Template, name: str) -> Declaration:
    return template.of("module")[name]


def _only(resources: list[Declaration]) -> Declaration:
    assert len(resources) == 1, [r.name for r in resources]
    return resources[0]


def _body(declaration: Declaration) -> dict[str, Any]:
    value = declaration.value
    body = value.body if isinstance(value, Loop) else value
    assert isinstance(body, dict), declaration.name
    return body


def _app_settings(templates: dict[str, Template]) -> dict[str, Any]:
    """Every app setting api.bicep can deploy (both sides of a conditional)."""
    variables = templates["app/api.bicep"].of("var")
    site = _module(templates["app/api.bicep"], "site")
    merged = site.value["params"]["appSettingsKeyValuePairs"]
    assert isinstance(merged, Expr)
    assert merged.text.startswith("union(")
    settings: dict[str, Any] = {}
    for name in re.findall(r"\w+", merged.text.removeprefix("union")):
        value = variables[name].value
        for part in (value.then, value.otherwise) if isinstance(value, Ternary) else (value,):
            assert isinstance(part, dict), name
            settings.update(part)
    return settings


def _settings_names() -> set[str]:
    """The environment name of every Settings field."""
    return {field.alias or name.upper() for name, field in Settings.model_fields.items()}


def _sample_names() -> set[str]:
    return set(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, Ternary):
        yield from _walk(value.then)
        yield from _walk(value.otherwise)
    elif isinstance(value, Loop):
        yield from _walk(value.body)


# --- parsing -------------------------------------------------------------------------------


def test_every_bicep_file_parses() -> None:
    assert {p.name for p in BICEP_FILES} >= {
        "main.bicep",
        "api.bicep",
        "cosmos.bicep",
        "keyvault.bicep",
        "rbac.bicep",
        "redis.bicep",
        "servicebus.bicep",
    }
    for path in BICEP_FILES:
        assert parse_errors(path.read_bytes()) == [], path


def test_the_parser_reports_broken_bicep() -> None:
    assert parse_errors(b"resource r 'T@1' = {\n  name: 'x'\n  properties: {\n}\n")
    assert parse_errors(b"param p string = \n")


def test_azd_layout() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert "host: function" in azure_yaml
    assert "language: python" in azure_yaml
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    main_params = load(INFRA / "main.bicep").of("param")
    assert set(parameters) <= set(main_params)
    abbreviations = json.loads((INFRA / "abbreviations.json").read_text())
    used = set(re.findall(r"abbrs\.(\w+)", (INFRA / "main.bicep").read_text()))
    assert used <= set(abbreviations)


# --- the resources ---------------------------------------------------------------------------


def test_function_app_on_flex_consumption(templates: dict[str, Template]) -> None:
    main = _main(templates)
    plan = _module(main, "plan")
    assert plan.value["params"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    for name in ("maximumInstanceCount", "instanceMemoryMB"):
        assert name in main.of("param")
        assert _module(main, "api").value["params"][name] == Expr(name)
    site = _module(templates["app/api.bicep"], "site").value["params"]
    config = site["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["scaleAndConcurrency"] == {
        "maximumInstanceCount": Expr("maximumInstanceCount"),
        "instanceMemoryMB": Expr("instanceMemoryMB"),
    }
    assert config["deployment"]["storage"]["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": Expr("identityId"),
    }
    assert site["managedIdentities"] == {
        "systemAssigned": False,
        "userAssignedResourceIds": [Expr("identityId")],
    }
    identity = _module(main, "identity").target
    assert isinstance(identity, str)
    assert identity.startswith("br/public:avm/res/managed-identity/user-assigned-identity:")


def test_storage_account_identity_only(templates: dict[str, Template]) -> None:
    params = _module(_main(templates), "storage").value["params"]
    assert params["allowSharedKeyAccess"] is False
    assert params["allowBlobPublicAccess"] is False
    containers = [c["name"] for c in params["blobServices"]["containers"]]
    assert Expr("deploymentContainerName") in containers
    assert Expr("webhookBodyContainerName") in containers
    queues = params["queueServices"]
    assert isinstance(queues, Ternary)
    assert queues.condition == "queueBackend == 'storage'"
    assert queues.then["queues"] == Expr("storageQueues")
    storage_queues = _main(templates).of("var")["storageQueues"].value
    assert storage_queues == Loop("queue queueNames", {"name": Expr("queue")})


def test_queue_names_and_backend_choice_match_the_code(templates: dict[str, Template]) -> None:
    main = _main(templates)
    assert main.of("var")["queueNames"].value == list(QUEUES)
    backends = {b.value for b in QueueBackend} - {QueueBackend.INLINE.value}
    (allowed,) = [d for d in main.of("param")["queueBackend"].decorators if "@allowed" in d]
    assert set(re.findall(r"'(\w+)'", allowed)) == backends
    assert _module(main, "serviceBus").condition == "(queueBackend == 'servicebus')"
    settings = _app_settings(templates)
    assert settings["QUEUE_BACKEND"] == Expr("queueBackend")


def test_service_bus_namespace_and_queues(templates: dict[str, Template]) -> None:
    servicebus = templates["app/servicebus.bicep"]
    namespace = _only(servicebus.resources("Microsoft.ServiceBus/namespaces@"))
    assert namespace.value["properties"]["disableLocalAuth"] is True
    assert namespace.value["sku"]["name"] == "Standard"
    queues = _only(servicebus.resources("Microsoft.ServiceBus/namespaces/queues@"))
    assert isinstance(queues.value, Loop)
    assert queues.value.header == "queueName queueNames"
    properties = queues.value.body["properties"]
    assert properties["maxDeliveryCount"] == Expr("maxDeliveryCount")
    assert properties["lockDuration"] == Expr("lockDuration")
    assert properties["requiresDuplicateDetection"] is True
    assert properties["duplicateDetectionHistoryTimeWindow"] == Expr("duplicateDetectionWindow")
    assert properties["deadLetteringOnMessageExpiration"] is True
    params = _module(_main(templates), "serviceBus").value["params"]
    assert params["queueNames"] == Expr("queueNames")


def test_cosmos_containers_match_the_code(templates: dict[str, Template]) -> None:
    cosmos = templates["app/cosmos.bicep"]
    variables = cosmos.of("var")
    assert variables["partitionKeyPath"].value == "/" + PARTITION_KEY
    declared = {c["name"]: c for c in variables["containers"].value}
    assert list(declared) == list(CONTAINERS)
    for name, ttl in CONTAINERS.items():
        # The app creates a container with TTL on (-1) when it has no default TTL.
        assert declared[name]["defaultTtl"] == (ttl if ttl is not None else -1), name
        expected_indexes = [
            [
                {"path": "/" + field.replace(".", "/"), "order": "descending" if d else "ascending"}
                for field, d in index
            ]
            for index in COMPOSITE_INDEXES.get(name, ())
        ]
        assert declared[name]["compositeIndexes"] == expected_indexes, name
    container = _only(
        cosmos.resources("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@")
    )
    assert isinstance(container.value, Loop)
    assert container.value.header == "container containers"
    resource = container.value.body["properties"]["resource"]
    assert resource["partitionKey"]["paths"] == [Expr("partitionKeyPath")]
    assert resource["defaultTtl"] == Expr("container.defaultTtl")
    assert resource["indexingPolicy"]["compositeIndexes"] == Expr("container.compositeIndexes")


def test_cosmos_account_identity_only(templates: dict[str, Template]) -> None:
    cosmos = templates["app/cosmos.bicep"]
    account = _only(cosmos.resources("Microsoft.DocumentDB/databaseAccounts@"))
    properties = account.value["properties"]
    assert properties["disableLocalAuth"] is True
    assert {"name": "EnableServerless"} in properties["capabilities"]
    assignment = _only(
        cosmos.resources("Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@")
    )
    body = _body(assignment)["properties"]
    assert body["roleDefinitionId"] == Expr(
        "'${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'"
    )
    assert body["principalId"] == Expr("principal")
    assert _module(_main(templates), "cosmos").value["params"]["databaseName"] == Expr(
        "cosmosDatabaseName"
    )
    default = Settings.model_fields["cosmos_database"].default
    assert _main(templates).of("param")["cosmosDatabaseName"].value == default


def test_key_vault_rbac_soft_delete_purge_protection(templates: dict[str, Template]) -> None:
    vault = _only(templates["app/keyvault.bicep"].resources("Microsoft.KeyVault/vaults@"))
    properties = vault.value["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    assert "accessPolicies" not in properties


def test_redis_entra_id_only_for_both_kinds(templates: dict[str, Template]) -> None:
    redis = templates["app/redis.bicep"]
    database = _only(redis.resources("Microsoft.Cache/redisEnterprise/databases@"))
    assert database.condition == "(kind == 'managed')"
    assert database.value["properties"]["accessKeysAuthentication"] == "Disabled"
    managed_access = _only(
        redis.resources("Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@")
    )
    assert managed_access.value["properties"]["user"]["objectId"] == Expr("principalId")
    cache = _only(redis.resources("Microsoft.Cache/redis@"))
    assert cache.condition == "(kind == 'cache')"
    assert cache.value["properties"]["disableAccessKeyAuthentication"] is True
    assert cache.value["properties"]["redisConfiguration"]["aad-enabled"] == "true"
    cache_access = _only(redis.resources("Microsoft.Cache/redis/accessPolicyAssignments@"))
    assert cache_access.value["properties"]["objectId"] == Expr("principalId")
    kind = _module(_main(templates), "redis").value["params"]["kind"]
    assert kind == Expr("redisKind")


def test_monitoring_local_auth_off(templates: dict[str, Template]) -> None:
    main = _main(templates)
    workspace = _module(main, "logAnalytics").value["params"]
    assert workspace["features"]["disableLocalAuth"] is True
    insights = _module(main, "monitoring").value["params"]
    assert insights["disableLocalAuth"] is True
    assert insights["workspaceResourceId"] == Expr("logAnalytics.outputs.resourceId")
    settings = _app_settings(templates)
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == Expr(
        "'ClientId=${identityClientId};Authorization=AAD'"
    )


# --- roles -----------------------------------------------------------------------------------


def _role_variables(templates: dict[str, Template]) -> list[tuple[str, Declaration]]:
    return [
        (file, variable)
        for file, template in templates.items()
        for variable in template.of("var").values()
        if isinstance(variable.value, str) and GUID.match(variable.value)
    ]


def test_each_role_definition_id_is_its_commented_name(templates: dict[str, Template]) -> None:
    roles = _role_variables(templates)
    assert len(roles) == len(BUILT_IN_ROLES)
    for file, variable in roles:
        assert variable.comment in BUILT_IN_ROLES, (file, variable.name, variable.comment)
        assert variable.value == BUILT_IN_ROLES[variable.comment], (file, variable.name)


def test_the_identity_holds_every_role(templates: dict[str, Template]) -> None:
    assigned = set()
    for template in templates.values():
        for assignment in template.resources("Microsoft.Authorization/roleAssignments@"):
            properties = _body(assignment)["properties"]
            role = re.fullmatch(
                r"subscriptionResourceId\('Microsoft.Authorization/roleDefinitions', (\w+)\)",
                properties["roleDefinitionId"].text,
            )
            assert role is not None, assignment.name
            assigned.add(template.of("var")[role.group(1)].comment)
            assert properties["principalId"] == Expr("principal")
    assert assigned == set(BUILT_IN_ROLES) - {"Cosmos DB Built-in Data Contributor"}
    main = _main(templates)
    principals = main.of("var")["principalIds"].value
    assert isinstance(principals, Ternary)
    for side in (principals.then, principals.otherwise):
        assert side[0] == Expr("identity.outputs.principalId")
    for module in ("rbac", "cosmos", "serviceBus"):
        assert _module(main, module).value["params"]["principalIds"] == Expr("principalIds")
    assert _module(main, "redis").value["params"]["principalId"] == Expr(
        "identity.outputs.principalId"
    )


# --- settings and connections ---------------------------------------------------------------


def test_every_setting_the_app_reads_is_deployed(templates: dict[str, Template]) -> None:
    deployed = {name.upper() for name in _app_settings(templates)}
    assert set(NOT_DEPLOYED) <= _settings_names() | _sample_names()
    for name in sorted(_settings_names() | _sample_names()):
        if name in NOT_DEPLOYED:
            assert name.upper() not in deployed, f"{name}: {NOT_DEPLOYED[name]}"
        else:
            assert name.upper() in deployed, f"{name} is read by the app but not deployed"


def test_no_key_or_connection_string_anywhere(templates: dict[str, Template]) -> None:
    for file, template in templates.items():
        text = template.path.read_text()
        code = "\n".join(line.split("//")[0] for line in text.splitlines())
        found = [m.group(0) for m in SECRET_LOOKING.finditer(code)]
        assert found == [], (file, found)
        for output in template.of("output").values():
            assert not _secret_name(output.name), output
            assert "ConnectionString" not in str(output.value), output
        for param in template.of("param").values():
            assert param.value is None or not _looks_secret(param.value), param.name
    parameters = (INFRA / "main.parameters.json").read_text()
    assert not SECRET_LOOKING.search(parameters)
    for name, value in _app_settings(templates).items():
        if name == APP_INSIGHTS_SETTING:
            assert value == Expr("applicationInsights.properties.ConnectionString")
            continue
        assert not _secret_name(name), name
        for item in _walk(value):
            text = item.text if isinstance(item, Expr) else str(item)
            assert not _looks_secret(text), (name, text)


def _secret_name(name: str) -> bool:
    """A name that says it holds a key, password, secret or connection string."""
    plain = re.sub(r"(?i)key_?vault|secret_backend", "", name)
    return bool(re.search(r"(?i)key|password|secret|connection_?string", plain))


def _looks_secret(value: Any) -> bool:
    text = value.text if isinstance(value, Expr) else str(value)
    return bool(
        SECRET_LOOKING.search(text)
        or re.search(r"(?i)(endpoint|accountname)=.*;", text)
        or re.search(r"[A-Za-z0-9+/]{40,}={0,2}", text)
        or re.search(r"rediss?://[^@/]*@", text)
    )


def _trigger_connections() -> set[str]:
    """Every `connection=` of the function app and its blueprints."""
    sources = [ROOT / "function_app.py", *sorted((ROOT / "blueprints").glob("*.py"))]
    return {
        keyword.value.value
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "connection" and isinstance(keyword.value, ast.Constant)
    }


def test_every_trigger_connection_is_identity_based(templates: dict[str, Template]) -> None:
    settings = _app_settings(templates)
    connections = _trigger_connections()
    assert connections == {"AzureWebJobsStorage", "ServiceBusConnection"}
    for connection in connections:
        assert connection not in settings, f"{connection} would be a connection string"
        assert settings[f"{connection}__credential"] == "managedidentity"
        assert settings[f"{connection}__clientId"] == Expr("identityClientId")
        service = {
            name.removeprefix(f"{connection}__")
            for name in settings
            if name.startswith(f"{connection}__")
        } - {"credential", "clientId"}
        assert service & {"fullyQualifiedNamespace", "queueServiceUri", "blobServiceUri"}, (
            connection
        )
    # The queue trigger on Storage needs the queue endpoint, the timers the blob endpoint.
    assert "AzureWebJobsStorage__queueServiceUri" in settings
    assert "AzureWebJobsStorage__blobServiceUri" in settings


@pytest.mark.parametrize("backend", ["servicebus", "storage"])
def test_the_deployed_settings_load(
    templates: dict[str, Template], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The literal settings, with plausible values for the computed ones, pass validation."""
    computed = {
        "COSMOS_ENDPOINT": "https://cosmos-x.documents.azure.com:443/",
        "KEY_VAULT_URL": "https://kv-x.vault.azure.net/",
        "REDIS_HOST": "amr-x.westeurope.redis.azure.net",
        "REDIS_PORT": "10000",
        "QUEUE_BACKEND": backend,
        "AzureWebJobsStorage__queueServiceUri": "https://stx.queue.core.windows.net/",
    }
    if backend == "servicebus":
        computed["ServiceBusConnection__fullyQualifiedNamespace"] = "sb-x.servicebus.windows.net"
    for name in _settings_names() | _sample_names():
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in _app_settings(templates).items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    for name, value in computed.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.queue_backend.value == backend
    assert settings.store_backend.value == "cosmos"
    assert settings.cosmos_create_resources is False
    assert settings.secret_backend.value == "keyvault"
    assert settings.redis_url is None
    assert settings.redis_host == computed["REDIS_HOST"]
    defaults = Settings.model_fields
    for name in (
        "sync_schedule",
        "token_refresh_schedule",
        "notify_schedule",
        "max_tasks_per_tick",
        "breaker_failures",
        "breaker_window_seconds",
        "breaker_cooldown_seconds",
        "notify_digest_minutes",
        "rate_limit_alert_minutes",
        "mass_delete_share",
        "mass_delete_min_records",
    ):
        assert getattr(settings, name) == defaults[name].default, name


def test_claim_check_container_is_the_code_s(templates: dict[str, Template]) -> None:
    bodies = pytest.importorskip(
        "integration_core.webhooks.bodies", reason="the webhook claim check is not on this branch"
    )
    assert _main(templates).of("var")["webhookBodyContainerName"].value == bodies.BODY_CONTAINER


def test_local_modules_get_exactly_their_parameters(templates: dict[str, Template]) -> None:
    """What `bicep build` would refuse: an unknown parameter, or a required one missing."""
    calls = 0
    for file, template in templates.items():
        for module in template.of("module").values():
            if not isinstance(module.target, str) or module.target.startswith("br"):
                continue
            target = (template.path.parent / module.target).resolve()
            declared = load(target).of("param")
            passed = set(module.value["params"])
            assert passed <= set(declared), (file, module.name, passed - set(declared))
            required = {name for name, param in declared.items() if param.value is None}
            assert required <= passed, (file, module.name, required - passed)
            calls += 1
    assert calls == 6  # servicebus, cosmos, keyvault, redis, rbac, api


def test_outputs_used_from_local_modules_exist(templates: dict[str, Template]) -> None:
    main = _main(templates)
    local = {
        name: load((INFRA / module.target).resolve())
        for name, module in main.of("module").items()
        if isinstance(module.target, str) and not module.target.startswith("br")
    }
    used = re.findall(r"\b(\w+)!?\.outputs\.(\w+)", main.path.read_text())
    checked = [(module, output) for module, output in used if module in local]
    assert len(checked) >= 8
    for module, output in checked:
        assert output in local[module].of("output"), f"{module}.outputs.{output}"
