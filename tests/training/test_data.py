import hashlib
import itertools
import json
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from training.config import ConfigError, DataConfig
from training.data import (
    ShardDataset,
    affirmed,
    check_columns,
    check_manifest,
    check_unique_ids,
    corpus_texts,
    open_table,
    shard_files,
    split_rows,
    text_key,
    unique_index,
    warn_about_gaps,
)
from training.tokenizer import train_bpe


@pytest.fixture(scope="module")
def tokenizer(synthetic_corpus):
    return train_bpe(corpus_texts(shard_files([str(synthetic_corpus)]), "train"), vocab_size=400)


def make_dataset(corpus, tokenizer, **kwargs):
    cfg = DataConfig(image_size=32, batch_size=kwargs.pop("batch_size", 8), max_regions=4, hard_negatives=1)
    return ShardDataset(shard_files([str(corpus)]), kwargs.pop("split", "train"), cfg, tokenizer, **kwargs)


def epoch_ids(dataset, workers):
    """The record ids of one epoch's batches, in the order the loader hands them out."""
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)
    batches = list(itertools.islice(loader, dataset.batches_per_epoch))
    assert [b.position for b in batches] == list(range(dataset.start, dataset.start + len(batches)))
    return [b.ids for b in batches]


def test_ranks_and_workers_read_disjoint_rows_covering_the_split(synthetic_corpus, tokenizer):
    per_rank = []
    for rank in range(2):
        dataset = make_dataset(synthetic_corpus, tokenizer, train=True, rank=rank, world_size=2)
        per_rank.append([i for batch in epoch_ids(dataset, workers=2) for i in batch])
    train_rows = len(split_rows(shard_files([str(synthetic_corpus)]), "train"))
    assert train_rows == 120
    everything = per_rank[0] + per_rank[1]
    assert len(set(everything)) == len(everything) == 2 * (train_rows // 2 // 8) * 8  # no row twice
    assert len(per_rank[0]) == len(per_rank[1])  # every rank takes the same number of steps


def test_the_order_does_not_depend_on_workers_and_a_start_resumes_it(synthetic_corpus, tokenizer):
    one = epoch_ids(make_dataset(synthetic_corpus, tokenizer, train=True, seed=3), workers=0)
    two = epoch_ids(make_dataset(synthetic_corpus, tokenizer, train=True, seed=3), workers=2)
    assert one == two
    resumed = epoch_ids(make_dataset(synthetic_corpus, tokenizer, train=True, seed=3, start=4), workers=1)
    assert resumed[: len(one) - 4] == one[4:]
    other_epoch = epoch_ids(make_dataset(synthetic_corpus, tokenizer, train=True, seed=3, start=len(one)), workers=0)
    assert sorted(map(sorted, other_epoch)) != sorted(map(sorted, one))  # reshuffled


def test_a_training_batch_is_reproducible_from_its_position(synthetic_corpus, tokenizer):
    first = next(iter(make_dataset(synthetic_corpus, tokenizer, train=True, start=5)))
    again = next(iter(make_dataset(synthetic_corpus, tokenizer, train=True, start=5)))
    assert torch.equal(first.images, again.images) and torch.equal(first.region_boxes, again.region_boxes)


def test_an_eval_batch_holds_every_region_and_its_texts(synthetic_corpus, tokenizer):
    dataset = make_dataset(synthetic_corpus, tokenizer, train=False, split="test", batch_size=16)
    batches = list(dataset)
    assert sum(len(b.ids) for b in batches) == 60 and batches[-1].position == -1
    batch = batches[0]
    assert batch.images.shape == (16, 1, 32, 32) and batch.images.dtype == torch.uint8
    table = open_table(shard_files([str(synthetic_corpus)])[0])
    records = {r["id"]: r for r in table.to_pylist()}
    assert len(batch.region_boxes) == sum(len(records[i]["regions"]) for i in batch.ids)
    first = records[batch.ids[0]]["regions"]
    np.testing.assert_allclose(batch.region_boxes[: len(first)], [r["box"] for r in first], rtol=1e-6)
    ids = batch.region_text_ids[batch.region_text_index[: len(first)]]
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
    assert [t.strip() for t in texts] == [r["text"] for r in first]
    assert len(batch.negative_ids) == len(batch.negative_owner) == 16


def test_hub_layout_parquet_reads_the_same_rows_as_the_arrow_shards(synthetic_corpus, tokenizer, tmp_path):
    for i, path in enumerate(shard_files([str(synthetic_corpus)])):
        (tmp_path / "data").mkdir(exist_ok=True)
        pq.write_table(open_table(path, tuple(open_table(path).column_names)), tmp_path / "data" / f"train-{i}.parquet")
    assert [p.suffix for p in shard_files([str(tmp_path)])] == [".parquet"] * 3
    check_columns(shard_files([str(tmp_path)]))  # the record schema, as Parquet stores it
    arrow = make_dataset(synthetic_corpus, tokenizer, train=False, split="test")
    parquet = make_dataset(tmp_path, tokenizer, train=False, split="test")
    for a, b in zip(arrow, parquet):
        assert a.ids == b.ids and torch.equal(a.images, b.images) and torch.equal(a.region_boxes, b.region_boxes)


def test_a_hub_layout_missing_one_of_a_splits_files_is_an_error(synthetic_corpus, tmp_path):
    (tmp_path / "data").mkdir()
    for i, path in enumerate(shard_files([str(synthetic_corpus)])[:2]):
        pq.write_table(open_table(path), tmp_path / "data" / f"train-{i:05d}-of-00003.parquet")
    with pytest.raises(FileNotFoundError, match="data lacks 1 of the 3 files of 'train', e.g. train-00002-of-00003"):
        shard_files([str(tmp_path)])
    (tmp_path / "data" / "train-00001-of-00003.parquet").rename(tmp_path / "data" / "train-00001-of-00002.parquet")
    (tmp_path / "data" / "train-00000-of-00003.parquet").rename(tmp_path / "data" / "train-00000-of-00002.parquet")
    assert len(shard_files([str(tmp_path)])) == 2


def test_repeated_texts_share_one_index():
    unique, index, keys = unique_index(["Right lung", "left lung", "right  lung", "nodule"])
    assert unique == ["Right lung", "left lung", "nodule"] and index.tolist() == [0, 1, 0, 2]
    assert keys.tolist() == [text_key(t) for t in unique] and len(set(keys.tolist())) == 3


def test_a_build_folder_gives_the_shards_its_manifest_lists(synthetic_corpus, tmp_path):
    build = Path(shutil.copytree(synthetic_corpus, tmp_path / "build"))
    listed = sorted((build / "shards").glob("*.arrow"))[:2]
    shutil.copy(listed[0], build / "shards" / "part-00000 (copy).arrow")  # a stray copy: not the corpus's
    (build / "manifest.json").write_text(json.dumps({"shards": [{"file": f"shards/{p.name}"} for p in listed]}))
    assert shard_files([str(build)]) == listed


@pytest.mark.parametrize("damage", ["cut short", "a broken chunk"])
def test_an_image_that_cannot_be_decoded_names_its_record_and_shard(synthetic_corpus, tokenizer, damaged_png, damage):
    dataset = make_dataset(synthetic_corpus, tokenizer, train=False)
    [record] = dataset.read_rows(np.array([[0, 0]]))
    record["image"]["bytes"] = record["image"]["bytes"][:40] if damage == "cut short" else damaged_png
    where = re.escape(f"record {record['id']!r} of shard {dataset.files[0]}: its image cannot be decoded")
    with pytest.raises(ConfigError, match=where + (r" \(SyntaxError: broken PNG" if damage != "cut short" else "")):
        dataset.prepare(record, dataset.files[0], None)


def write_stream(path: Path, table: pa.Table) -> Path:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["split"]), "no column 'split'"),
        (lambda t: t.drop_columns(["regions", "negatives"]), "no column 'regions'; no column 'negatives'"),
        (lambda t: t.set_column(t.schema.get_field_index("global_text"), "global_text", pa.array(range(len(t)))),
         "column 'global_text' is int64, the record's is string"),
    ],
)
def test_shards_of_another_schema_are_refused_before_a_row_is_read(synthetic_corpus, tmp_path, change, message):
    files = shard_files([str(synthetic_corpus)])
    check_columns(files)
    other = write_stream(tmp_path / "other.arrow", change(pa.ipc.open_stream(files[0].read_bytes()).read_all()))
    where = re.escape(f"shard {other} does not follow the record schema")
    with pytest.raises(ConfigError, match=f"{where}.* {message}"):
        check_columns([*files, other])


def test_a_shard_that_differs_from_its_build_manifest_is_refused(synthetic_corpus, tmp_path):
    build = Path(shutil.copytree(synthetic_corpus, tmp_path / "build"))
    shards = sorted((build / "shards").glob("*.arrow"))
    entries = [{"file": f"shards/{p.name}", "bytes": p.stat().st_size,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in shards]
    (build / "manifest.json").write_text(json.dumps({"shards": entries}))
    check_manifest([str(build)])
    data = bytearray(shards[1].read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 64])
    shards[1].write_bytes(data)  # random bytes inside: the same size
    with pytest.raises(ConfigError, match="part-00001.arrow: its sha256 is not the one in the manifest: damaged"):
        check_manifest([str(build)])
    shards[1].write_bytes(data[:-10])
    with pytest.raises(ConfigError, match=f"part-00001.arrow: {len(data) - 10} bytes, the manifest says {len(data)}"):
        check_manifest([str(build)])
    check_manifest([str(shards[0])])  # a shard file given itself has no manifest to check


def test_a_restart_reads_only_the_shards_changed_since_its_last_check(synthetic_corpus, tmp_path):
    """The run folder's record of the shards found sound spares a restart the read of an unchanged corpus; a shard
    written since (another stamp) is read again, and a record that does not parse is no record."""
    build = Path(shutil.copytree(synthetic_corpus, tmp_path / "build"))
    shards = sorted((build / "shards").glob("*.arrow"))
    entries = [{"file": f"shards/{p.name}", "bytes": p.stat().st_size,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in shards]
    (build / "manifest.json").write_text(json.dumps({"shards": entries}))
    record = tmp_path / "run" / "verified_shards.json"
    check_manifest([str(build)], record)
    assert sorted(json.loads(record.read_text())) == sorted(str(p.resolve()) for p in shards)
    stat = shards[1].stat()
    data = bytearray(shards[1].read_bytes())
    data[100:164] = bytes(b ^ 0xFF for b in data[100:164])
    shards[1].write_bytes(data)
    os.utime(shards[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same size and time: the record stands for it
    check_manifest([str(build)], record)
    with pytest.raises(ConfigError, match="part-00001.arrow: its sha256 is not the one in the manifest"):
        check_manifest([str(build)])  # without the record, it is read
    os.utime(shards[1])  # written since its check: read again
    with pytest.raises(ConfigError, match="part-00001.arrow: its sha256 is not the one in the manifest"):
        check_manifest([str(build)], record)
    record.write_text("{cut sho")
    with pytest.raises(ConfigError, match="part-00001.arrow: its sha256"):
        check_manifest([str(build)], record)


def no_regions(record: dict) -> None:
    record["regions"], record["descriptions"] = [], []


def no_report(record: dict) -> None:
    record["global_text"] = None


def test_a_split_without_regions_or_report_text_is_warned_about(synthetic_corpus, edited_corpus, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_about_gaps(shard_files([str(synthetic_corpus)]), "train", ["region"])
        warn_about_gaps(shard_files([str(synthetic_corpus)]), "trian", ["region"])  # no rows: ShardDataset's error
        warn_about_gaps(shard_files([str(edited_corpus(tmp_path / "a", no_regions))]), "train", [])  # no region stage
    with pytest.warns(UserWarning, match=r"split 'train' has no regions: the stages \['region', 'joint'\] train"):
        warn_about_gaps(shard_files([str(tmp_path / "a")]), "train", ["region", "joint"])
    with pytest.warns(UserWarning, match="split 'train' has no report text"):
        warn_about_gaps(shard_files([str(edited_corpus(tmp_path / "b", no_report))]), "train", ["region"])


def test_no_shards_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        shard_files([str(tmp_path)])


def test_a_mistyped_path_among_several_is_an_error_not_left_out(synthetic_corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no shard file or folder at {tmp_path / 'corpsu'}"):
        shard_files([str(synthetic_corpus), str(tmp_path / "corpsu")])


def test_a_shard_cut_short_is_refused_naming_it(synthetic_corpus, tmp_path, message_ends):
    shard = shard_files([str(synthetic_corpus)])[0]
    data = shard.read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[: message_ends(data)[-2]])  # at a batch's end: it reads, one batch short
    assert 0 < open_table(cut).num_rows < open_table(shard).num_rows
    with pytest.raises(ConfigError, match=f"shard {cut} ends before its end-of-stream marker: cut short"):
        check_columns([shard, cut])
    parquet = tmp_path / "cut.parquet"
    pq.write_table(open_table(shard), parquet)
    parquet.write_bytes(parquet.read_bytes()[:-100])
    with pytest.raises(ConfigError, match=f"shard {parquet} cannot be read \\(ArrowInvalid: "):
        check_columns([parquet])


def test_the_same_rows_given_twice_are_refused(synthetic_corpus, edited_corpus, tmp_path):
    files = shard_files([str(synthetic_corpus)])
    check_unique_ids(files)
    with pytest.raises(ConfigError, match=f"row 'synthetic-00000' is in {files[0]} and in {files[0]}: the same rows"):
        check_unique_ids([*files, files[0]])
    other = edited_corpus(tmp_path / "other", lambda r: r["provenance"].update(input_sha256="1" * 64))
    check_unique_ids([*files, *shard_files([str(other)])])  # the same ids, other inputs: another source's rows


def test_a_negated_statement_becomes_a_statement_false_of_the_image():
    assert affirmed("No pleural effusion or pneumothorax") == "pleural effusion or pneumothorax"
    assert affirmed("There is no focal consolidation.") == "focal consolidation"
    assert affirmed("Pneumothorax is not seen.") == "Pneumothorax"
    assert affirmed("Cardiomegaly") is None and affirmed("notable opacity") is None
