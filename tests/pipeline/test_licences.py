"""The build's licence filter: allow / deny patterns, refused rows as rejects of stage "licence"."""
from pathlib import Path

import pytest

from annotators.imaging import FrameSelection
from connectors.base import StudyRef
from pipeline.build import collect_inputs
from pipeline.config import BuildConfig, ConfigError, LicenceConfig, from_dict
from pipeline.stages.decode import Decode, work_items
from pipeline.stages.filters import LicenceFilter

REAL_COVID = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "covid-chestxray"
COMMERCIAL = {"allow": [r"^CC BY( [\d.]+)?$", r"^CC BY-SA", r"^Apache"], "deny": ["NC", "ND"]}


def test_allow_and_deny_patterns():
    licences = LicenceConfig(**{k: tuple(v) for k, v in COMMERCIAL.items()})
    assert licences.refusal("CC BY 4.0") == "" and licences.refusal("Apache 2.0") == ""
    assert "matches none" in licences.refusal("CC BY-NC-SA 4.0") and "matches none" in licences.refusal("unknown")
    assert "deny" in LicenceConfig(deny=("nc",)).refusal("CC BY-NC 4.0")
    assert LicenceConfig().refusal("anything") == ""
    with pytest.raises(ConfigError, match="regular expression"):
        from_dict(BuildConfig, {"sources": [{"name": "s", "connector": "folder"}], "licences": {"allow": ["(["]}})


@pytest.mark.skipif(not REAL_COVID.is_dir(), reason="../shared/data/real is not beside this checkout")
def test_the_licence_filter_refuses_rows_by_licence(monkeypatch):
    monkeypatch.setenv("MEDREGION_DEID_KEY", "licence-test-secret-key")
    source = {"name": "covid", "connector": "covid_chestxray", "options": {"root": str(REAL_COVID)}}
    inputs = collect_inputs(from_dict(BuildConfig, {"sources": [source]}))
    items = work_items(list(inputs.refs), list(inputs.shards))
    licences = LicenceConfig(**{k: tuple(v) for k, v in COMMERCIAL.items()})
    filtered = LicenceFilter(licences)(items).to_pylist()
    assert [r["source_id"] for r in filtered] == [r.source_id for r in inputs.refs]
    for before, after in zip(inputs.refs, filtered):
        if before.reject:  # a row already refused keeps its own reason
            assert (after["reject_reason"], after["reject_stage"]) == (before.reject, "connector")
        elif "NC" in before.license or before.license == "unknown":
            assert (after["reject_reason"], after["reject_stage"]) == ("licence_excluded", "licence")
            assert before.license in after["reject_detail"]
        else:
            assert not after["reject_reason"]
    assert sum(r["reject_stage"] == "licence" for r in filtered) > 100


def test_a_licence_reject_keeps_its_stage_through_decode():
    ref = StudyRef(source="s", source_id="1", patient_key="k", license="CC BY-NC 4.0", image="/nonexistent.png",
                   report="Clear lungs.")
    items = LicenceFilter(LicenceConfig(deny=("NC",)))(work_items([ref], [0]))
    [row] = Decode(256, FrameSelection(), b"licence-test-key")(items).to_pylist()
    assert (row["reject_stage"], row["reject_reason"]) == ("licence", "licence_excluded")
    assert row["reject_detail"] == "licence 'CC BY-NC 4.0' matches licences.deny 'NC'"
