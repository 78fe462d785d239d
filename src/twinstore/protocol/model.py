"""Loads botocore service models once per process."""

from __future__ import annotations

import functools

import botocore.loaders
from botocore.model import OperationModel, ServiceModel


@functools.lru_cache(maxsize=None)
def service_model(name: str) -> ServiceModel:
    loader = botocore.loaders.Loader()
    return ServiceModel(loader.load_service_model(name, "service-2"), service_name=name)


def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)
