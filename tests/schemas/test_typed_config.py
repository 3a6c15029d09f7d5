from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from schemas.typed_config import ConfigError, from_dict, read_yaml, to_dict


@dataclass(frozen=True)
class Inner:
    size: int = 4
    ratio: float = 0.5

    def __post_init__(self):
        if self.size < 1:
            raise ValueError("size must be at least 1")


@dataclass(frozen=True)
class Outer:
    name: str
    pair: tuple[float, float] = (0.0, 1.0)
    names: tuple[str, ...] = ()
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None


def test_a_round_trip_gives_the_same_dataclass():
    value = from_dict(Outer, {"name": "a", "pair": [1, 2], "names": ["x", "y"], "inner": {"size": 2},
                              "maybe": {"ratio": 1}})
    assert value == Outer("a", (1.0, 2.0), ("x", "y"), Inner(2), Inner(4, 1.0))
    assert from_dict(Outer, to_dict(value)) == value


def test_an_empty_section_takes_the_defaults():
    assert from_dict(Outer, {"name": "a", "inner": None}).inner == Inner()


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "a", "inner": {"sise": 2}}, r"config\.inner: unknown key\(s\) \['sise'\]"),
    ({}, r"config: missing key\(s\) \['name'\]"),
    ({"name": "a", "pair": [1]}, r"config\.pair: expected 2 items"),
    ({"name": "a", "names": "x"}, r"config\.names: expected a list"),
    ({"name": "a", "inner": {"size": True}}, r"config\.inner\.size: expected int, got True"),
    ({"name": "a", "inner": {"size": 0}}, r"config\.inner: size must be at least 1"),
    ({"name": "a", "inner": [1]}, r"config\.inner: expected a mapping"),
])
def test_every_bad_value_names_its_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_yaml_files_that_cannot_be_a_config_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_yaml(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {}
