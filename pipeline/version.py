"""The pipeline's version, read from the installed package's metadata (pyproject.toml is its one source)."""
from __future__ import annotations

from importlib.metadata import version

PIPELINE_VERSION = version("medregion")
