"""Parts and compaction without Ray: duplicates collapse, order never matters, rejects are split off."""
import json

import pyarrow as pa

from pipeline.shards import BuildLayout, Drop, compact_shard, completed_inputs, read_stream, write_parts
from schemas.record import arrow_schema
from schemas.work import annotated_schema


def _row(i: int, reject: str = "", expected: int = 1) -> dict:
    row = {name: None for name in annotated_schema().names}
    row.update(id=f"s-{i:03d}", source="s", source_id=f"S{i:03d}", shard=0, expected=expected, input=f"in/{i}",
               reject_stage="decode" if reject else "", reject_reason=reject, reject_detail="")
    if not reject:
        row.update(patient_key="k", split="train", modality="CR", view="PA", image={"bytes": b"png", "path": "p"},
                   width=2, height=2, orig_width=4, orig_height=4, regions=[], descriptions=[], negatives=[],
                   license="CC0-1.0", phash="0", global_text="t")
    return row


def _table(rows):
    return pa.Table.from_pylist(rows, schema=annotated_schema())


def test_compaction_is_order_independent_and_drops_duplicates(tmp_path):
    rows = [_row(i) for i in range(6)] + [_row(6, reject="truncated_image")]
    one, two = BuildLayout(str(tmp_path / "a")), BuildLayout(str(tmp_path / "b"))
    write_parts(_table(rows[:4]), one)
    write_parts(_table(rows[4:]), one)
    write_parts(_table(rows[::-1][:5]), two)
    write_parts(_table(rows[::-1][3:]), two)  # overlaps the first part: a retried task
    drops = {"s-002": Drop("dedup", "near_duplicate", "of s-001")}
    a, b = compact_shard(one, 0, 1, drops), compact_shard(two, 0, 1, drops)
    assert a == b and a["rows"] == 5
    assert [r["reason"] for r in a["rejects"]] == ["near_duplicate", "truncated_image"]
    assert a["inputs"] == [["s", f"S{i:03d}"] for i in range(7)]
    data_a = (tmp_path / "a" / a["file"]).read_bytes()
    assert data_a == (tmp_path / "b" / b["file"]).read_bytes()
    shard = pa.ipc.open_stream(data_a).read_all()
    assert shard.schema.equals(arrow_schema(), check_metadata=True)
    assert shard.column("id").to_pylist() == ["s-000", "s-001", "s-003", "s-004", "s-005"]
    assert json.loads((tmp_path / "a" / ".build" / "done" / "shard-00000.json").read_text()) == a


def test_an_input_is_complete_only_with_all_its_images(tmp_path):
    layout = BuildLayout(str(tmp_path))
    volume = [dict(_row(1, expected=3), id=f"s-1-{k}") for k in range(3)]
    write_parts(_table([_row(0)] + volume[:2]), layout)
    assert completed_inputs(layout, 0) == {("s", "S000")}
    write_parts(_table(volume[2:]), layout)
    assert completed_inputs(layout, 0) == {("s", "S000"), ("s", "S001")}
    parts = (tmp_path / ".build" / "parts" / "shard-00000").glob("*.arrow")
    assert sum(read_stream(str(p)).num_rows for p in parts) == 4


def test_a_part_cut_short_is_removed_and_its_inputs_are_done_again(tmp_path):
    layout = BuildLayout(str(tmp_path))
    write_parts(_table([_row(0)]), layout)
    write_parts(_table([_row(1)]), layout)
    parts = sorted((tmp_path / ".build" / "parts" / "shard-00000").glob("*.arrow"))
    damaged = next(p for p in parts if read_stream(str(p)).column("id").to_pylist() == ["s-001"])
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # a disk that filled up mid-copy
    assert completed_inputs(layout, 0) == {("s", "S000")} and not damaged.exists()


def test_a_row_a_stage_failed_on_is_redone_on_resume_and_the_redone_row_wins(tmp_path):
    layout = BuildLayout(str(tmp_path))
    failed = _row(1, reject="internal_error:KeyError") | {"reject_stage": "align"}
    write_parts(_table([_row(0), failed]), layout)
    assert completed_inputs(layout, 0) == {("s", "S000")}  # S001 is done again by a resumed build
    write_parts(_table([_row(1)]), layout)  # ... which, with the bug fixed, makes its row
    marker = compact_shard(layout, 0, 1, drops={})
    assert marker["rows"] == 2 and marker["rejects"] == []
    assert read_stream(str(tmp_path / marker["file"])).column("id").to_pylist() == ["s-000", "s-001"]
