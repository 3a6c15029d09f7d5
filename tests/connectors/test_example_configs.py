"""Every example config loads, and each source's options are valid options of its connector."""
from pathlib import Path

import pytest

from connectors import get_connector
from pipeline.config import from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.startswith("train"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_and_connector_options_validate(path):
    cfg = load_config(path)
    for source in cfg.sources:
        connector = get_connector(source.connector)
        options = from_dict(connector.Options, source.options, source.name)
        connector(options, b"secret", source=source.name)  # the connector accepts them as they are
        if options.root.startswith("../shared/") and (ROOT.parent / "shared").is_dir():
            assert (ROOT / options.root).is_dir(), f"{path.name}: {source.name} root {options.root} is not there"
    for detector in cfg.detectors:
        assert detector.kind != "yolo" or (ROOT / detector.weights).is_file(), f"{path.name}: {detector.weights}"
