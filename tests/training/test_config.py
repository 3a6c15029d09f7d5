from pathlib import Path

import pytest
import yaml

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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("log.every", 0, "config.log.every must be at least 1, got 0"),
        ("log.checkpoint_every", 0, "config.log.checkpoint_every must be at least 1"),
        ("log.keep_checkpoints", 0, "config.log.keep_checkpoints must be at least 1"),
        ("optim.grad_accum", 0, "config.optim.grad_accum must be at least 1"),
        ("data.num_workers", -1, "config.data.num_workers must be at least 0"),
        ("stages.1.warmup_steps", -1, r"config.stages\[1\].warmup_steps must be at least 0"),
        ("data.augment.crop_scale", [0.0, 1.0], r"crop_scale: \[0.0, 1.0\] is not a range inside \(0, 1\]"),
        ("data.augment.crop_scale", [0.5, 1.5], "crop_scale"),
        ("data.max_text_tokens", 2, r"max_text_tokens must be at least 3 \(room for \[CLS\], a word and \[SEP\]\)"),
        ("data.max_region_text_tokens", 1, "max_region_text_tokens must be at least 3"),
        ("model.text_heads", 3, "config.model.text_heads: 3 does not divide text_hidden 64"),
        ("model.roi_heads", 3, "config.model.roi_heads: 3 does not divide roi_dim 32"),
        ("model.image_encoder", "no_such_model", "config.model.image_encoder: 'no_such_model' .* Unknown model"),
        ("data.image_size", 4, "data.image_size 4 fails: .*Kernel size can't be greater than actual input size"),
        ("model.image_encoder_args.num_heads", 3, "config.model.image_encoder: .*divisible by num_heads"),
        ("tokenizer.path", "/no/such/tokenizer", "config.tokenizer.path: /no/such/tokenizer is no folder"),
        ("model.image_weights", "/no/such/vit.pth", "config.model.image_weights: /no/such/vit.pth is no file"),
        ("model.text_model", "/no/such/bert", "config.model.text_model: /no/such/bert is no folder"),
    ],
)
def test_values_that_cannot_train_are_refused_at_load(tiny_config, tmp_path, key, value, message):
    data = to_dict(tiny_config(tmp_path, tmp_path))
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[leaf] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_heads_count_is_not_checked_for_a_branch_that_is_not_built(tiny_config, tmp_path):
    model = to_dict(tiny_config(tmp_path, tmp_path))["model"] | {"roi": False, "roi_heads": 3}
    assert tiny_config(tmp_path, tmp_path, model=model).model.roi_heads == 3
