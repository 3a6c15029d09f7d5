"""annotators

Importing the package first imports spaCy's thinc with torch held back when torch is not loaded yet and no spaCy
plugin that runs on torch is installed: thinc imports torch whenever it is installed (1.3 to 1.6 s of every build
worker's start on a CPU) only to offer torch-backed layers, which no pipeline the report parser can load uses.
torch stays importable afterwards (the detector's torch runtime, the trainer); thinc alone goes without it.
"""
from __future__ import annotations

import importlib.util
import sys

TORCH_SPACY_PLUGINS = ("spacy_transformers", "spacy_curated_transformers")  # pipelines whose layers run on torch


def _thinc_without_torch() -> None:
    if "torch" in sys.modules or "thinc" in sys.modules or importlib.util.find_spec("thinc") is None:
        return
    if any(importlib.util.find_spec(plugin) for plugin in TORCH_SPACY_PLUGINS):
        return
    sys.modules["torch"] = None  # `import torch` raises ImportError: thinc records that it has no torch
    try:
        import thinc.compat  # noqa: F401
    finally:
        del sys.modules["torch"]


_thinc_without_torch()
