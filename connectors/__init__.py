"""Connectors: one module per source, found by name (`get_connector`)."""
from __future__ import annotations

import importlib

from connectors.base import Connector


def get_connector(name: str) -> type[Connector]:
    """The `Connector` class of `connectors/<name>`; a clear error for an unknown name."""
    if not name.isidentifier():
        raise ValueError(f"unknown connector {name!r}")
    try:
        module = importlib.import_module(f"connectors.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"connectors.{name}":
            raise ValueError(f"unknown connector {name!r}") from None
        raise
    connector = getattr(module, "CONNECTOR", None)
    if connector is None:
        raise ValueError(f"connectors.{name} defines no CONNECTOR")
    return connector
