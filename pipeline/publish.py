"""`medregion publish`: a verified build -> the Hub layout (Parquet per split + dataset card) -> the Hub.

The layout is written to a local folder first (`--dry-run` stops there): `data/<split>-KKKKK-of-NNNNN.parquet`
of about `shard_bytes` each, row groups of about `row_group_bytes`, and `README.md`. The upload goes through
huggingface_hub in several commits, each retried with backoff; files the repository already holds with the
same content are skipped, so an interrupted publish resumes where it stopped. The token comes from the usual
Hugging Face environment (HF_TOKEN) or login and is never printed. The rejects table is not published.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import PublishOptions
from pipeline.hub_card import CardFacts, SplitFiles, render_card
from pipeline.inspect import read_manifest, read_shards
from pipeline.verify import verify
from schemas.record import SPLITS, arrow_schema

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class PublishError(RuntimeError):
    """Publishing cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Layout:
    folder: Path
    files: tuple[str, ...]  # paths inside the repository, README.md last
    splits: tuple[SplitFiles, ...]


def publish(build: str | Path, out: str | Path, options: PublishOptions, dry_run: bool = False,
            say: Callable[[str], None] = log.info) -> Layout:
    """Verify `build`, write its Hub layout to `out` and, unless `dry_run`, upload it to `options.repo_id`."""
    layout = write_layout(build, out, options)
    say(f"layout: {len(layout.files)} files in {layout.folder}")
    if not dry_run:
        upload(layout, options, say)
    return layout


def write_layout(build: str | Path, out: str | Path, options: PublishOptions) -> Layout:
    """The exact files the Hub repository will hold, written under `out` (its data/ and README.md are replaced)."""
    build, out = Path(build), Path(out)
    checked = verify(str(build))
    if not checked.ok:
        shown = "\n  ".join(checked.problems[:10])
        raise PublishError(f"refusing to publish {build}: it fails verify ({len(checked.problems)} problems):\n  "
                           f"{shown}\nRebuild it, then check with `medregion verify {build}`.")
    manifest = read_manifest(build)
    if not checked.rows:
        raise PublishError(f"{build} holds no rows (all {checked.rejects} inputs were rejected): nothing to publish")
    shutil.rmtree(out / "data", ignore_errors=True)
    (out / "data").mkdir(parents=True)
    splits = tuple(s for s in (_write_split(build, manifest, out, name, options) for name in SPLITS) if s.rows)
    facts = _facts(build, manifest, options, splits)
    (out / "README.md").write_text(render_card(facts), encoding="utf-8")
    files = tuple(f for s in splits for f in s.files) + ("README.md",)
    return Layout(out, files, splits)


def _split_tables(build: Path, manifest: dict, split: str) -> Iterator[pa.Table]:
    """The rows of one split, shard after shard (each shard memory-mapped), in the shards' id order."""
    for shard in manifest["shards"]:
        with pa.memory_map(str(build / shard["file"])) as source:
            table = pa.ipc.open_stream(source).read_all()
            yield table.filter(pc.equal(table.column("split"), split))


def row_groups(tables: Iterable[pa.Table], target_bytes: int) -> Iterator[pa.Table]:
    """The rows of `tables`, regrouped into tables of about `target_bytes` (image bytes and the rest)."""
    pending: list[pa.Table] = []
    size = 0.0
    for table in tables:
        start = 0
        for end, row_bytes in enumerate(_row_bytes(table), 1):
            size += row_bytes
            if size >= target_bytes:
                pending.append(table.slice(start, end - start))
                yield pa.concat_tables(pending)
                pending, size, start = [], 0.0, end
        if start < table.num_rows:
            pending.append(table.slice(start))
    if pending:
        yield pa.concat_tables(pending)


def _row_bytes(table: pa.Table) -> list[float]:
    """Each row's size: its encoded image plus an even share of the other columns."""
    if not table.num_rows:
        return []
    images = pc.binary_length(table.column("image").combine_chunks().field("bytes")).to_pylist()
    rest = (table.nbytes - sum(images)) / table.num_rows
    return [image + rest for image in images]


def _write_split(build: Path, manifest: dict, out: Path, split: str, options: PublishOptions) -> SplitFiles:
    """Parquet files of one split; a new file starts once the current one holds `shard_bytes`."""
    schema = arrow_schema()
    written: list[Path] = []
    writer, in_file, rows = None, 0, 0
    for group in row_groups(_split_tables(build, manifest, split), options.row_group_bytes):
        if writer is None:
            written.append(out / "data" / f"{split}-{len(written):05d}.parquet.partial")
            writer = pq.ParquetWriter(written[-1], schema, write_page_index=True, use_content_defined_chunking=True)
        writer.write_table(group.cast(schema), row_group_size=group.num_rows)
        in_file += group.nbytes
        rows += group.num_rows
        if in_file >= options.shard_bytes:
            writer.close()
            writer, in_file = None, 0
    if writer is not None:
        writer.close()
    names = []
    for index, partial in enumerate(written):
        final = partial.with_name(f"{split}-{index:05d}-of-{len(written):05d}.parquet")
        partial.rename(final)
        names.append(f"data/{final.name}")
    return SplitFiles(split, tuple(names), rows, sum((out / n).stat().st_size for n in names))


def _facts(build: Path, manifest: dict, options: PublishOptions, splits: tuple[SplitFiles, ...]) -> CardFacts:
    rows = read_shards(build, ["source", "license", "modality", "regions"])
    licenses: dict[str, dict[str, int]] = {}
    for (source, licence), count in Counter(zip(rows["source"], rows["license"])).items():
        licenses.setdefault(source, {})[licence] = count
    origins = rows.select(pl.col("regions").explode().struct.field("origin")).drop_nulls()["origin"].to_list()
    rejects = pl.read_ipc_stream(build / manifest["rejects"]["file"], columns=["stage", "reason"])
    return CardFacts(
        repo_id=options.repo_id,
        manifest=manifest,
        splits=splits,
        licenses=licenses,
        modalities=dict(Counter(rows["modality"].to_list())),
        regions_by_origin=dict(Counter(origins)),
        rejects_by_reason=dict(Counter(f"{s}:{r}" for s, r in rejects.iter_rows())),
        row_group_bytes=options.row_group_bytes,
    )


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _same_content(path: Path, remote) -> bool:
    """Whether the repository's file (a RepoFile, or None) holds exactly the bytes at `path`."""
    if remote is None or remote.size != path.stat().st_size:
        return False
    data = path.read_bytes()
    if remote.lfs is not None:
        return remote.lfs.sha256 == hashlib.sha256(data).hexdigest()
    return remote.blob_id == git_blob_sha1(data)


def upload(layout: Layout, options: PublishOptions, say: Callable[[str], None] = log.info) -> None:
    """Upload the layout: missing or changed files in commits of `files_per_commit`, stale data files removed."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
    from huggingface_hub.hf_api import RepoFile

    if not get_token():
        raise PublishError("no Hugging Face token: set HF_TOKEN or run `hf auth login` first")
    api = HfApi()
    repo = {"repo_id": options.repo_id, "repo_type": "dataset"}
    call = lambda what, fn: with_retries(what, fn, options, say)  # noqa: E731
    url = call("create the repository", lambda: api.create_repo(**repo, private=options.private or None,
                                                                   exist_ok=True))
    if options.revision and options.revision != "main":
        call("create the branch", lambda: api.create_branch(**repo, branch=options.revision, exist_ok=True))
    remote = call("list the repository", lambda: {
        f.path: f for f in api.list_repo_tree(**repo, recursive=True, revision=options.revision)
        if isinstance(f, RepoFile)})
    todo = [f for f in layout.files if not _same_content(layout.folder / f, remote.get(f))]
    stale = sorted(p for p in remote if p.startswith("data/") and p not in layout.files)
    say(f"{url}: {len(layout.files) - len(todo)} files already there, {len(todo)} to upload, {len(stale)} to remove")
    batches = [todo[i:i + options.files_per_commit] for i in range(0, len(todo), options.files_per_commit)] or [[]]
    for number, batch in enumerate(batches, 1):
        operations = [CommitOperationAdd(f, str(layout.folder / f)) for f in batch]
        if number == len(batches):
            operations += [CommitOperationDelete(p) for p in stale]
        if not operations:
            continue
        call(f"commit {number}/{len(batches)}", lambda: api.create_commit(
            **repo, operations=operations, revision=options.revision,
            commit_message=f"MedRegion publish: {len(batch)} files, part {number} of {len(batches)}"))
        say(f"committed part {number} of {len(batches)} ({len(batch)} files)")


def with_retries(what: str, fn: Callable[[], T], options: PublishOptions, say: Callable[[str], None]) -> T:
    """`fn()`, tried again after transient failures (network, 408/429/5xx) with doubling waits."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    for attempt in range(options.retries + 1):
        try:
            return fn()
        except OfflineModeIsEnabled:
            raise PublishError("HF_HUB_OFFLINE is set: unset it to publish (publishing needs the network)") from None
        except Exception as exc:  # noqa: BLE001  (sorted into transient or not just below)
            status = getattr(getattr(exc, "response", None), "status_code", None)
            transient = status in RETRY_STATUS if isinstance(exc, HfHubHTTPError) else _is_network_error(exc)
            message = f"{type(exc).__name__}: {_redact(str(exc))}"
            if not transient:
                raise PublishError(f"could not {what}: {message}") from None
            if attempt == options.retries:
                raise PublishError(f"could not {what} after {attempt + 1} attempts: {message}") from None
            wait = options.backoff_s * 2**attempt
            say(f"could not {what} ({message}); retrying in {wait:.0f} s")
            time.sleep(wait)
    raise AssertionError("unreachable")


def _is_network_error(exc: Exception) -> bool:
    """A failure to reach the Hub (by class name: huggingface_hub's HTTP client is httpx or its fork httpx2)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "ConnectionError", "TimeoutError"})


def _redact(text: str) -> str:
    """`text` with the token, should a library ever echo it, replaced."""
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "<token>") if token else text
