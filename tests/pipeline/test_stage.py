"""The stage contract: rows isolated from each other's failures, rejects passed through, filters, timing, and the
same list run on Ray and in one process."""
from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from annotators.quality import QualityIssue
from pipeline.build import collect_inputs
from pipeline.config import FailureConfig
from pipeline.executor import (
    StageFailures,
    Tally,
    actor_cpu_scale,
    rebatched,
    run_chain,
    run_in_process,
    run_on_ray,
)
from pipeline.shards import BuildLayout, read_stream
from pipeline.stage import MAX_STATES, Filter, Resources, Stage, prepared, where_raised
from pipeline.stage_list import build_stages
from pipeline.stages.decode import work_items
from pipeline.stats import BuildStats
from schemas.work import WORK


@dataclass(frozen=True)
class Halve(Stage):
    """Halves `frame`; raises on frame 0 (a bug that one row in a batch meets)."""

    name = "halve"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        rejected = [r for r in batch.column("reject_reason").to_pylist() if r]
        assert not rejected, "a reject reached process"
        frames = [100 // frame for frame in batch.column("frame").to_pylist()]
        return batch.set_column(batch.schema.get_field_index("frame"), "frame", pa.array(frames, pa.int32()))


@dataclass(frozen=True)
class OddFrames(Filter):
    name = "odd_frames"
    columns = ("frame",)

    def check(self, row: dict) -> QualityIssue | None:
        return QualityIssue("odd_frame", f"frame {row['frame']}") if row["frame"] % 2 else None


def rows(frames: list[int], rejected: tuple[int, ...] = ()) -> pa.Table:
    base = [{"id": f"r{i}", "source": "s", "source_id": f"S{i}", "frame": frame, "pixels": b"px", "shard": 0,
             "expected": 1, "input": f"in{i}", "reject_stage": "", "reject_reason": "", "reject_detail": ""}
            for i, frame in enumerate(frames)]
    for i in rejected:
        base[i].update(reject_stage="decode", reject_reason="missing_image", reject_detail="gone", pixels=None)
    return pa.Table.from_pylist(base, schema=WORK)


@dataclass(frozen=True)
class Loaded(Stage):
    """A stage with heavy state: each `setup` makes a new object."""

    name = "loaded"
    model: str = "m"

    def setup(self) -> object:
        return object()

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        return batch


@dataclass(frozen=True)
class Light(Halve):
    step: int = 0  # stages of a build: more of them than MAX_STATES, none with state


def test_a_worker_sets_each_stage_up_once_however_many_stages_a_build_has():
    stages = [*(Light(step) for step in range(MAX_STATES + 4)), Loaded("a"), Loaded("b")]
    first = [prepared(stage) for stage in stages]
    for _ in range(3):  # later batches, each through every stage (a Ray task gets fresh copies of the stages)
        assert [prepared(dataclasses.replace(stage)) for stage in stages] == first
    assert first[-1] is not first[-2] and first[-1] is not None


def test_a_row_that_raises_becomes_a_reject_and_the_others_go_on():
    out = Halve()(rows([5, 0, 20, 4], rejected=(3,))).to_pylist()
    assert [r["id"] for r in out] == ["r0", "r1", "r2", "r3"]  # every row, in its place
    assert [r["frame"] for r in out[:3:2]] == [20, 5]
    failed = out[1]
    assert (failed["reject_stage"], failed["reject_reason"]) == ("halve", "internal_error:ZeroDivisionError")
    assert failed["reject_detail"].startswith("ZeroDivisionError in tests/pipeline/test_stage.py:")
    assert re.fullmatch(r"ZeroDivisionError in \S+:\d+ \(\S+\)", failed["reject_detail"]) and failed["pixels"] is None
    assert out[3]["reject_reason"] == "missing_image" and out[3]["frame"] == 4  # passed through untouched
    assert dict(out[0]["seconds"]).keys() == {"halve", "halve_cpu"}


def test_the_failure_detail_depends_on_the_code_alone():
    details = set()
    for payload in ("report text one", "another report", object()):
        try:
            raise KeyError(payload)
        except KeyError as exc:
            details.add(where_raised(exc))
    [detail] = details
    assert "report" not in detail and "0x" not in detail and detail.startswith("KeyError in tests/pipeline/")


def test_a_filter_rejects_with_its_reason_in_place():
    out = OddFrames()(rows([2, 3, 4, 7], rejected=(3,))).to_pylist()
    assert [(r["id"], r["reject_stage"], r["reject_reason"]) for r in out] == [
        ("r0", "", ""), ("r1", "quality", "odd_frame"), ("r2", "", ""), ("r3", "decode", "missing_image")]
    assert out[1]["reject_detail"] == "frame 3" and out[1]["pixels"] is None and out[0]["pixels"] == b"px"


@dataclass(frozen=True)
class FailOn(Stage):
    """Raises on the rows of the given source ids (after the real stages, like a bug in a late stage)."""

    source_ids: tuple[str, ...]

    name = "fail_on"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        if set(batch.column("source_id").to_pylist()) & set(self.source_ids):
            raise RuntimeError("a planted bug")
        return batch


@pytest.fixture(scope="module")
def small(sample_config, tmp_path_factory):
    """The session's sample as work items, and its stages without the detector (faster, same contract)."""
    cfg = sample_config(tmp_path_factory.mktemp("stage-build"))
    cfg = dataclasses.replace(cfg, detectors=())
    inputs = collect_inputs(cfg)
    return cfg, work_items(list(inputs.refs), list(inputs.shards)), build_stages(cfg)


def parts(layout: BuildLayout) -> pa.Table:
    from pipeline import storage

    urls = [u for shard in range(8) for u in storage.list_files(layout.parts(shard), ".arrow")]
    return pa.concat_tables([read_stream(u) for u in urls])


def test_ray_and_the_loop_isolate_the_same_rows(ray_cluster, small, tmp_path):
    cfg, items, stages = small
    unlucky = tuple(sorted(items.column("source_id").to_pylist())[:2])
    stages = [*stages[:-1], FailOn(unlucky), stages[-1]]  # fails before encode
    results = []
    for name, run in (("ray", run_on_ray), ("loop", run_in_process)):
        layout = BuildLayout(str(tmp_path / name))
        tally = Tally(BuildStats(), FailureConfig(max_share=0.5, min_rows=1))
        run(stages, items, layout, tally, 2) if name == "ray" else run(stages, items, layout, tally)
        table = parts(layout)
        assert tally.done == pytest.approx(items.num_rows) and tally.failures == {"fail_on": 2}
        failed = table.filter(pa.compute.equal(table.column("reject_stage"), "fail_on")).to_pylist()
        results.append(sorted((r["source_id"], r["reject_reason"], r["reject_detail"]) for r in failed))
    assert results[0] == results[1] and [r[0] for r in results[0]] == list(unlucky)
    assert {r[1] for r in results[0]} == {"internal_error:RuntimeError"}


@dataclass(frozen=True)
class Pool(Stage):
    """Passes rows on from a one-actor pool that reserves a whole CPU, as a detector does on a CPU node."""

    label: str
    resources = Resources(cpus=1.0, actors=1)

    name = "pool"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        return batch


def test_actor_pools_keep_cpus_for_the_task_stages():
    two, one = [Pool("a"), Pool("b"), OddFrames()], [Pool("a"), OddFrames()]
    assert actor_cpu_scale(two, 2) == 0.5 and actor_cpu_scale(one, 2) == 1.0  # one pool: reservations as before
    assert actor_cpu_scale(two, 16) == 1.0 and actor_cpu_scale([OddFrames()], 2) == 1.0


def test_two_actor_pools_on_two_cpus_finish(ray_cluster, small, tmp_path):
    """Two detectors' pools used to hold both CPUs of a 2-CPU node: decode never ran and the build waited at 0."""
    cfg, items, stages = small
    stages = [*stages[:4], Pool("anatomy"), Pool("findings"), *stages[4:]]
    tally = Tally(BuildStats(), FailureConfig())
    done = threading.Thread(target=run_on_ray, args=(stages, items, BuildLayout(str(tmp_path)), tally, 2),
                            daemon=True)
    done.start()
    done.join(timeout=300)
    assert not done.is_alive(), f"stalled at {tally.done} of {items.num_rows} inputs"
    assert tally.done == pytest.approx(items.num_rows)


@pytest.mark.parametrize("where", ["loop", "ray"])
def test_a_systematic_failure_stops_the_build_with_a_clear_message(request, small, tmp_path, where):
    cfg, items, stages = small
    everyone = tuple(items.column("source_id").to_pylist())
    tally = Tally(BuildStats(), FailureConfig(max_share=0.01, min_rows=3))
    stages = [*stages[:-1], FailOn(everyone), stages[-1]]
    with pytest.raises(StageFailures, match=r"stage 'fail_on' failed on \d+ of \d+ rows"):
        if where == "ray":
            request.getfixturevalue("ray_cluster")
            run_on_ray(stages, items, BuildLayout(str(tmp_path)), tally, 8)
        else:
            run_in_process(stages, items, BuildLayout(str(tmp_path)), tally, 8)
    assert tally.done < items.num_rows  # it stopped at the first summary past the policy


SIZES: list[int] = []  # the batch sizes `Sizes` was called on (in this process)


@dataclass(frozen=True)
class Sizes(Stage):
    name = "sizes"
    batch_size = 3

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        SIZES.append(batch.num_rows)
        return batch


def test_a_chain_calls_each_stage_on_batches_of_its_size(small, tmp_path):
    """The rows stream through the chain in each stage's batch size (a block's decoded images never all held at
    once), and every row reaches the parts in order."""
    cfg, items, stages = small
    SIZES.clear()
    block = items.slice(0, 10)
    summaries = run_chain(block, [*stages[:-1], Sizes(), stages[-1]], BuildLayout(str(tmp_path)))
    rows = sum(summaries.column("rows").to_pylist())
    assert rows >= 10 and sum(SIZES) == rows and SIZES[:-1] == [3] * (len(SIZES) - 1) and 0 < SIZES[-1] <= 3
    assert sum(summaries.column("inputs").to_pylist()) == pytest.approx(10)


def test_rebatched_keeps_the_rows_in_order():
    tables = [pa.table({"a": [1, 2, 3, 4]}), pa.table({"a": [5, 6, 7]}), pa.table({"a": pa.array([], pa.int64())})]
    assert [t.column("a").to_pylist() for t in rebatched(tables, 3)] == [[1, 2, 3], [4, 5, 6], [7]]
    assert [t.column("a").to_pylist() for t in rebatched(tables, 10)] == [[1, 2, 3, 4, 5, 6, 7]]
    assert [t.num_rows for t in rebatched(tables, None)] == [4, 3, 0]
    assert list(rebatched([], 3)) == []
