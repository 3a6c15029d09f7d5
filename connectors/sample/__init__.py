"""The embedded sample source: a deterministic synthetic chest corpus rendered on disk from a seed.

`generate(root, n, seed)` renders it (layout in connectors.sample.generate); `CONNECTOR` reads it.
"""
from connectors.sample.connector import SampleConnector
from connectors.sample.generate import GENERATOR_VERSION, generate

CONNECTOR = SampleConnector

__all__ = ["CONNECTOR", "GENERATOR_VERSION", "SampleConnector", "generate"]
