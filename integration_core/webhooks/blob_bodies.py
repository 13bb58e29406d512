"""BodyStore on Azure Blob storage (Azurite locally): the claim-check for large bodies.

Built from a connection string (Azurite, keyed accounts) or from the account's blob
endpoint and a token credential: the deployed account has shared keys off, so there the
managed identity (Storage Blob Data Owner, infra/app/rbac.bicep) signs every call.
"""

from __future__ import annotations

from contextlib import suppress

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from integration_core._storage_account import translated
from integration_core.errors import NotFoundError
from integration_core.webhooks.bodies import BODY_CONTAINER

__all__ = ["BlobBodyStore"]


class BlobBodyStore:
    """Bodies as block blobs in one container, created on first use."""

    def __init__(self, service: BlobServiceClient, *, container: str = BODY_CONTAINER) -> None:
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._created = False

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, container: str = BODY_CONTAINER
    ) -> BlobBodyStore:
        return cls(BlobServiceClient.from_connection_string(connection_string), container=container)

    @classmethod
    def from_account_url(
        cls, account_url: str, credential: TokenCredential, *, container: str = BODY_CONTAINER
    ) -> BlobBodyStore:
        """From `AzureWebJobsStorage__blobServiceUri` and a managed identity."""
        return cls(BlobServiceClient(account_url, credential=credential), container=container)

    def close(self) -> None:
        self._container.close()
        self._service.close()

    def ping(self) -> None:
        with translated("blob service"):
            self._service.get_service_properties()

    def _ensure_container(self) -> None:
        if self._created:
            return
        container = self._container.container_name
        with translated(f"container {container}"), suppress(ResourceExistsError):
            self._container.create_container()
        self._created = True

    def put(self, name: str, data: bytes) -> None:
        self._ensure_container()
        with translated(f"store body {name}"):
            self._container.upload_blob(name, data, overwrite=True)

    def get(self, name: str) -> bytes:
        with translated(f"read body {name}"):
            try:
                return self._container.download_blob(name).readall()
            except ResourceNotFoundError as err:
                raise NotFoundError(f"webhook body {name} not found") from err
