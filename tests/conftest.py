"""Session-wide fixtures: one real local Ray for the whole run, and one small sample build shared by tests."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pyarrow as pa
import pytest

from annotators import offline

offline.apply()

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "real"
SAMPLE_N = 48
# CI has ../shared beside the clone and sets this (.ci/run): a test skipped for want of it then fails instead.
REQUIRE_REAL_DATA = os.environ.get("MEDREGION_REQUIRE_REAL_DATA") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_REAL_DATA and report.skipped and "../shared" in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"skipped for want of ../shared, which MEDREGION_REQUIRE_REAL_DATA=1 requires: " \
                          f"{report.longrepr}"


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray, started once as a build starts it (2 CPUs, no dashboard, the workers' modules preloaded) and
    shut down at the end of the session."""
    import ray

    from pipeline.executor import WORKER_MODULES
    from schemas.runtime import RayConfig, ensure_ray

    ensure_ray(RayConfig(num_cpus=2), preload=WORKER_MODULES)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    """The sample source rendered once for the session (n = SAMPLE_N, seed 0): its render's folder, inside the root
    that `sample_config` names."""
    from connectors.sample.generate import ensure

    return ensure(tmp_path_factory.mktemp("sample-src"), SAMPLE_N, seed=0)


@pytest.fixture(scope="session")
def sample_config(sample_root):
    """`sample_config(output, **changes)`: the default config pointed at the session's sample and `output`."""
    from pipeline.config import load_config

    def make(output: Path, **changes):
        cfg = load_config(ROOT / "configs" / "sample.yaml")
        source = dataclasses.replace(cfg.sources[0], options={"root": str(sample_root.parent), "n": SAMPLE_N,
                                                                "seed": 0})
        return dataclasses.replace(cfg, sources=(source,), output=str(output), rows_per_shard=20, **changes)

    return make


@pytest.fixture(scope="session")
def sample_build(ray_cluster, sample_config, tmp_path_factory) -> Path:
    """A real build of the session's sample source on the session's Ray; returns the output folder."""
    from pipeline.build import build

    output = tmp_path_factory.mktemp("sample-build")
    build(sample_config(output))
    return output


def _message_ends(data: bytes) -> list[int]:
    """The offset after each message of an Arrow IPC stream (its schema, then its record batches)."""
    source = pa.BufferReader(data)
    messages = pa.ipc.MessageReader.open_stream(source)
    ends = []
    while True:
        try:
            messages.read_next_message()
        except StopIteration:
            return ends
        ends.append(source.tell())


@pytest.fixture
def message_ends():
    """Where each message of an Arrow IPC stream ends: the places to cut a shard short at a batch's end."""
    return _message_ends

