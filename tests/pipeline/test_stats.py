"""Stage timings: shared over a batch's rows, carried from stage to stage, summed by the part writer."""
import json

import pyarrow as pa
import pytest

from pipeline.shards import BuildLayout, write_parts
from pipeline.stats import BuildStats, StageClock, add_seconds, stamp_node, summed_seconds
from schemas.work import WORK, annotated_schema


def test_a_batch_time_is_shared_over_its_rows_and_later_stages_add_to_it():
    rows = pa.Table.from_pylist([{"id": "a"}, {"id": "b"}, {"id": "c", "seconds": [("decode", 1.0)]}], schema=WORK)
    timed = add_seconds(add_seconds(rows, {"decode": 3.0, "decode_cpu": 1.5}), {"parse": 0.6})
    assert [dict(r)["decode"] for r in timed.column("seconds").to_pylist()] == [1.0, 1.0, 2.0]
    totals = summed_seconds(timed)
    assert [totals[k] for k in ("decode", "decode_cpu", "parse")] == pytest.approx([4.0, 1.5, 0.6])
    assert "detect" not in totals  # a stage that did not run has no timer


def test_the_clock_counts_wall_and_cpu_time_per_stage():
    clock = StageClock()
    with clock("encode"):
        sum(i * i for i in range(200_000))
    with clock("encode"):
        pass
    assert set(clock.seconds) == {"encode", "encode_cpu"}
    assert clock.seconds["encode"] > 0 and clock.seconds["encode_cpu"] > 0


def test_part_summaries_add_up_to_the_build_stats(tmp_path):
    nodes, expected = ["n1", "n1", "n2", "", "n2"], [1, 1, 1, 1, 2]  # the last row: one image of a 2-image input
    rows = [{name: None for name in annotated_schema().names} | {"id": f"x{i}", "shard": i % 2, "node": node,
                                                                 "expected": e, "reject_reason": ""}
            for i, (node, e) in enumerate(zip(nodes, expected))]
    batch = add_seconds(pa.Table.from_pylist(rows, schema=annotated_schema()), {"decode": 2.0, "align": 0.4})
    stats = BuildStats()
    with stats.phase("stages"):
        stats.add(write_parts(batch, BuildLayout(str(tmp_path))))
    result = json.loads(json.dumps(stats.to_dict()))
    assert result["images"] == 5 and result["inputs_by_node"] == {"n1": 2.0, "n2": 1.5, "": 1.0}
    assert result["stage_seconds"]["decode"] == pytest.approx(2.0)
    assert result["stage_seconds"]["align"] == pytest.approx(0.4)
    assert result["stage_seconds"]["write"] > 0 and result["phases"]["stages"] > 0


def test_the_decode_stamp_names_the_ray_node_it_ran_on(ray_cluster):
    table = pa.Table.from_pylist([{"id": "a", "node": "stale"}, {"id": "b"}], schema=WORK)
    stamped = ray_cluster.get(ray_cluster.remote(stamp_node).remote(table))
    alive = {node["NodeID"] for node in ray_cluster.nodes() if node["Alive"]}
    assert len(set(stamped.column("node").to_pylist())) == 1 and stamped.column("node")[0].as_py() in alive
