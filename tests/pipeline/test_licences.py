"""The build's licence filter: allow / deny patterns, refused rows as rejects of stage "licence"."""
from pathlib import Path

import pytest

from annotators.imaging import FrameSelection
from connectors.base import StudyRef
from pipeline.build import collect_inputs
from pipeline.config import BuildConfig, ConfigError, LicenceConfig, from_dict
from pipeline.stages import DecodeSettings, decode_ref

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
def test_collect_inputs_refuses_rows_by_licence(monkeypatch):
    monkeypatch.setenv("MEDREGION_DEID_KEY", "licence-test")
    source = {"name": "covid", "connector": "covid_chestxray", "options": {"root": str(REAL_COVID)}}
    kept = collect_inputs(from_dict(BuildConfig, {"sources": [source]})).refs
    filtered = collect_inputs(from_dict(BuildConfig, {"sources": [source], "licences": COMMERCIAL})).refs
    assert [r.source_id for r in kept] == [r.source_id for r in filtered]
    for before, after in zip(kept, filtered):
        if before.reject:  # a row already refused keeps its own reason
            assert (after.reject, after.reject_stage) == (before.reject, "connector")
        elif "NC" in before.license or before.license == "unknown":
            assert (after.reject, after.reject_stage) == ("licence_excluded", "licence")
            assert before.license in after.detail
        else:
            assert not after.reject
    assert sum(r.reject_stage == "licence" for r in filtered) > 100


def test_a_licence_reject_keeps_its_stage_through_decode():
    ref = StudyRef(source="s", source_id="1", patient_key="k", license="CC BY-NC 4.0", reject="licence_excluded",
                   detail="licence 'CC BY-NC 4.0' matches licences.deny 'NC'", reject_stage="licence")
    [row] = decode_ref(ref, 0, DecodeSettings(256, FrameSelection()))
    assert (row["reject_stage"], row["reject_reason"]) == ("licence", "licence_excluded")
