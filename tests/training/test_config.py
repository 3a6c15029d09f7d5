from pathlib import Path

import pytest

from training.config import Config, ConfigError, from_dict, load_config, to_dict

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_config_loads_and_round_trips():
    cfg = load_config(ROOT / "configs" / "train_sample.yaml")
    assert [s.region_weight > 0 for s in cfg.stages] == [False, True, True]
    assert from_dict(Config, to_dict(cfg)) == cfg


def test_dotted_overrides_replace_nested_keys():
    cfg = load_config(ROOT / "configs" / "train_sample.yaml", {"model.roi": False, "data.shards": ["x"]})
    assert cfg.model.roi is False and cfg.data.shards == ["x"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stages": [{"name": "a", "steps": 1, "lr": 0.1}], "modle": {}}, "unknown key"),
        ({"stages": [{"name": "a", "steps": 1, "lr": 0.1}], "data": {"batch_size": "32"}}, "config.data.batch_size"),
        ({"stages": [{"name": "a", "steps": 1, "lr": 0.1}], "data": {"augment": {"crop_scale": [0.5]}}}, "2 items"),
        ({"stages": [{"name": "a", "lr": 0.1}]}, "missing key"),
        ({"stages": [{"name": "a", "steps": 1, "lr": 0.1}], "bf16": 1}, "config.bf16"),
    ],
)
def test_strict_loading_names_the_bad_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Config, data)


def test_a_config_without_stages_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="at least one stage"):
        load_config(path)


def test_the_vit_b16_config_loads():
    cfg = load_config(ROOT / "configs" / "train_vit_b16.yaml")
    assert cfg.model.image_encoder == "vit_base_patch16_224" and cfg.data.image_size == 224
