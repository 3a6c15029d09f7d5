"""Every example config loads, and each source's options are valid options of its connector."""
from pathlib import Path

import pytest

from connectors import get_connector
from pipeline.config import from_dict, load_config

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")
                 if not p.name.startswith("train"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_and_connector_options_validate(path):
    cfg = load_config(path)
    for source in cfg.sources:
        options = from_dict(get_connector(source.connector).Options, source.options, source.name)
        assert options.root
