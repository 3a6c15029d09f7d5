import pytest

from pipeline.config import BuildConfig, ConfigError, load_config


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_default_config_loads():
    cfg = load_config("configs/sample.yaml")
    assert isinstance(cfg, BuildConfig)
    assert cfg.sources[0].connector == "sample" and cfg.image.max_side == 512


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"image: unknown key\(s\) \['max_sid'\]"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\nimage: {max_sid: 3}\n"))
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\noutptu: x\n"))


def test_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError, match="image.max_side: expected int"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\nimage: {max_side: big}\n"))
    with pytest.raises(ConfigError, match="names must be unique"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}, {name: a, connector: sample}]\n"))
    with pytest.raises(ConfigError, match="frame selection mode"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\nimage: {frames: {mode: all}}\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_content_hash_ignores_output_and_ray(tmp_path):
    a = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\noutput: x\n"))
    b = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\noutput: y\nray: {num_cpus: 1}\n"))
    c = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\nimage: {max_side: 256}\n"))
    assert a.content_sha256() == b.content_sha256() != c.content_sha256()
