"""docker-compose.yml and the Service Bus emulator's Config.json: the queues of the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration_core.messaging import QUEUES
from tests.unit.infra._bicep import load

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
EMULATOR_CONFIG = "/ServiceBus_Emulator/ConfigFiles/Config.json"


def _compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def _config_path(compose: dict[str, Any]) -> Path:
    (mount,) = [
        volume
        for volume in compose["services"]["servicebus"]["volumes"]
        if volume.split(":")[1] == EMULATOR_CONFIG
    ]
    return ROOT / mount.split(":")[0]


def test_compose_runs_the_three_emulators() -> None:
    services = _compose()["services"]
    images = {name: service["image"].split(":")[0] for name, service in services.items()}
    assert images["azurite"] == "mcr.microsoft.com/azure-storage/azurite"
    assert images["cosmos"] == "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator"
    assert images["servicebus"] == "mcr.microsoft.com/azure-messaging/servicebus-emulator"
    assert services["servicebus"]["environment"]["SQL_SERVER"] in services
    assert "10001:10001" in services["azurite"]["ports"]
    assert "8081:8081" in services["cosmos"]["ports"]
    assert "5672:5672" in services["servicebus"]["ports"]


def test_no_password_is_stored_in_compose() -> None:
    for service in _compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if "PASSWORD" in name:
                assert str(value).startswith("${MSSQL_SA_PASSWORD:?"), name


def test_emulator_config_declares_the_code_queues_as_deployed() -> None:
    config = json.loads(_config_path(_compose()).read_text())
    (namespace,) = config["UserConfig"]["Namespaces"]
    queues = {queue["Name"]: queue["Properties"] for queue in namespace["Queues"]}
    assert list(queues) == list(QUEUES)
    params = load(ROOT / "infra" / "main.bicep").of("param")
    for name, properties in queues.items():
        assert properties["MaxDeliveryCount"] == params["serviceBusMaxDeliveryCount"].value, name
        assert properties["LockDuration"] == params["serviceBusLockDuration"].value, name
        assert properties["RequiresDuplicateDetection"] is True, name
        assert (
            properties["DuplicateDetectionHistoryTimeWindow"]
            == params["serviceBusDuplicateDetectionWindow"].value
        ), name
        assert properties["DeadLetteringOnMessageExpiration"] is True, name
