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


def test_unreadable_configs_and_unknown_connectors_are_config_errors_before_any_work(tmp_path, monkeypatch):
    from pipeline.build import build

    monkeypatch.setenv("MEDREGION_DEID_KEY", "config-test-secret-key")
    path = tmp_path / "latin1.yaml"
    path.write_bytes("sources: [{name: caf\xe9, connector: sample}]\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    cfg = load_config(_write(tmp_path, "sources: [{name: a, connector: nosuch}]\noutput: out\n"))
    with pytest.raises(ConfigError, match="sources.a: unknown connector 'nosuch'"):
        build(cfg)
    (tmp_path / "taken").write_text("a file where the corpus should go")
    cfg = load_config(_write(tmp_path, f"sources: [{{name: a, connector: sample}}]\noutput: {tmp_path / 'taken'}\n"))
    with pytest.raises(ConfigError, match="is a file"):
        build(cfg)


def test_content_hash_ignores_output_and_ray(tmp_path):
    a = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\noutput: x\n"))
    b = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\noutput: y\nray: {num_cpus: 1}\n"))
    c = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\nimage: {max_side: 256}\n"))
    assert a.content_sha256() == b.content_sha256() != c.content_sha256()


def test_detector_is_one_mapping_or_a_list(tmp_path):
    one = load_config("configs/sample.yaml")
    assert [(d.name, d.weights) for d in one.detectors] == [("findings", "configs/detector/sample_yolov8n.pt")]
    assert one.detectors[0].modalities == () and one.detectors[0].views == ()  # the old meaning: every image
    listed = load_config(_write(tmp_path, """sources: [{name: a, connector: sample}]
detector:
  - {name: anatomy, weights: configs/detector/chest_anatomy_yolov8n.pt, modalities: [CR, DX], views: [PA, AP]}
  - {name: findings, weights: configs/detector/sample_yolov8n.pt, conf: 0.5}
"""))
    assert [(d.name, d.modalities, d.views, d.conf) for d in listed.detectors] == [
        ("anatomy", ("CR", "DX"), ("PA", "AP"), 0.25), ("findings", (), (), 0.5)]
    none = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\ndetector: {weights: null}\n"))
    assert none.detectors == ()
    lungs = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\ndetector: {kind: lung_fields}\n"))
    assert [(d.kind, d.weights) for d in lungs.detectors] == [("lung_fields", None)]
    assert lungs.content_sha256() != none.content_sha256()
    # the weights' content is hashed, per detector
    moved = load_config(_write(tmp_path, """sources: [{name: a, connector: sample}]
detector:
  - {name: anatomy, weights: configs/detector/sample_yolov8n.pt, modalities: [CR, DX], views: [PA, AP]}
  - {name: findings, weights: configs/detector/sample_yolov8n.pt, conf: 0.5}
"""))
    assert moved.content_sha256() != listed.content_sha256()


def test_bad_detector_sections_are_named(tmp_path):
    twice = "{name: x, weights: configs/detector/sample_yolov8n.pt}"
    with pytest.raises(ConfigError, match="detectors: names must be unique"):
        load_config(_write(tmp_path, f"sources: [{{name: a, connector: sample}}]\ndetector: [{twice}, {twice}]\n"))
    with pytest.raises(ConfigError, match="detector y: a yolo detector needs weights"):
        load_config(_write(tmp_path, f"sources: [{{name: a, connector: sample}}]\ndetector: [{twice}, {{name: y}}]\n"))
    with pytest.raises(ConfigError, match="detector y: a lung_fields detector takes no weights"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\n"
                                     "detector: [{name: y, kind: lung_fields, weights: w.pt}]\n"))
    with pytest.raises(ConfigError, match="detector y: kind: 'sam' is not one of yolo, lung_fields"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\ndetector: [{name: y, kind: sam}]\n"))
    with pytest.raises(ConfigError, match="either detector or detectors"):
        load_config(_write(tmp_path, f"sources: [{{name: a, connector: sample}}]\ndetector: {twice}\ndetectors: []\n"))
    with pytest.raises(ConfigError, match=r"detectors\[0\]: unknown key\(s\) \['view'\]"):
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\ndetector: [{weights: w, view: [PA]}]\n"))


@pytest.mark.parametrize("key,error", [
    (None, "set MEDREGION_DEID_KEY to a secret of at least 16"), ("   ", "set MEDREGION_DEID_KEY"),
    ("short-key", "holds 9 characters"), ("a-long-enough-secret", None)])
def test_the_de_identification_key_must_be_long_enough(tmp_path, monkeypatch, key, error):
    from pipeline.config import patient_secret

    if key is None:
        monkeypatch.delenv("MEDREGION_DEID_KEY", raising=False)
    else:
        monkeypatch.setenv("MEDREGION_DEID_KEY", key)
    cfg = load_config(_write(tmp_path, "sources: [{name: a, connector: folder, options: {root: x}}]\n"))
    if error:
        with pytest.raises(ConfigError, match=error):
            patient_secret(cfg)
    else:
        assert patient_secret(cfg) == key.encode()
    sample = load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\n"))
    if key is None or not key.strip():
        assert patient_secret(sample) == b"medregion-sample-corpus"  # fake patients need no secret


def test_yaml_that_does_not_parse_is_named_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "sources: [{name: a, connector: sample}]\noutput: [\n"))
    assert "\n" not in str(caught.value) and str(caught.value).endswith("(line 3, column 1)"), str(caught.value)
