"""ElastiCache's service model (API version 2015-02-02), as botocore ships it: the one source of wire names.

Every parameter we read, every element we write and every error code and HTTP status we answer comes from here,
so what this server speaks is what botocore, the aws CLI and every SDK generated from the same model expect.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import botocore.session
from botocore.model import OperationModel, ServiceModel

SERVICE = "elasticache"
API_VERSION = "2015-02-02"


@functools.cache
def service_model() -> ServiceModel:
    session = botocore.session.get_session()
    model: ServiceModel = session.get_service_model(SERVICE, api_version=API_VERSION)
    return model


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


def xml_namespace() -> str:
    return str(service_model().metadata["xmlNamespace"])


@dataclass(frozen=True)
class ErrorSpec:
    """How the model says an error goes on the wire: its code, its HTTP status, and whose fault it is."""

    code: str
    status: int
    sender: bool = True


@functools.cache
def _modelled_errors() -> dict[str, ErrorSpec]:
    """Every modelled error by wire code *and* by shape name (`CacheClusterNotFound`, `CacheClusterNotFoundFault`)."""
    errors: dict[str, ErrorSpec] = {}
    for shape in service_model().error_shapes:
        meta = shape.metadata.get("error") or {}
        spec = ErrorSpec(
            code=str(meta.get("code") or shape.name),
            status=int(meta.get("httpStatusCode") or 400),
            sender=bool(meta.get("senderFault", True)),
        )
        errors.setdefault(spec.code, spec)
        errors.setdefault(shape.name, spec)
    return errors


def modelled_error(code: str) -> ErrorSpec | None:
    """The model's error for a wire code or shape name, None when the model has no such error."""
    return _modelled_errors().get(code)
