"""Errors of an Azure Storage account's services (queues, blobs) as Lockstep errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from integration_core.errors import AuthError, PermanentError, RetryableError

__all__ = ["translated"]


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Refused credentials -> AuthError; unreachable, throttled or 5xx -> RetryableError;
    any other answer -> PermanentError. `what` names the call, never a secret."""
    try:
        yield
    except ClientAuthenticationError as err:
        raise AuthError(f"{what}: the storage account refused the credentials") from err
    except (ServiceRequestError, ServiceResponseError) as err:
        raise RetryableError(f"{what}: storage account unreachable ({type(err).__name__})") from err
    except HttpResponseError as err:
        status = err.status_code or 0
        if status in (401, 403):
            raise AuthError(f"{what}: the storage account refused the request") from err
        if status in (408, 429) or status >= 500:
            raise RetryableError(f"{what}: storage answered {status}") from err
        code = getattr(err, "error_code", None)
        raise PermanentError(f"{what}: storage answered {status} ({code})") from err
