"""The stage contract: one definition of a pipeline step, its resources, and what every step gets for free.

A `Stage` declares its name, the resources a worker needs (`Resources`), its batch size, `setup()` for heavy
state (a model, a spaCy pipeline: built once per worker process and reused) and `process(batch, state)`, which
turns the batch's live rows into output rows. The base does the rest, the same way on Ray and in one process:
- reject pass-through: rows that an earlier stage rejected skip `process` and keep their reject columns;
- row isolation: when `process` raises, the batch is retried row by row and each row that still raises becomes
  a reject of this stage, reason `internal_error:<ExceptionType>`, with a detail that depends on the code
  alone (where it raised), never on the message (which may quote report text) or on memory addresses;
- timing: the stage's wall and CPU seconds go to the rows' `seconds` column (pipeline.stats);
- node stamping, for a stage that sets `stamps_node` (decode: where an input was read).
A `Filter` is a stage whose `check(row)` returns a `QualityIssue` for a row to reject, or None.
"""
from __future__ import annotations

import pickle
import traceback
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from annotators.quality import QualityIssue
from pipeline.stats import StageClock, add_seconds, stamp_node
from schemas.typed_config import ConfigError
from schemas.work import BOOKKEEPING, INTERNAL_ERROR, REJECT_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TASK_MEMORY = 1024**3  # what one task reserves: decoding a large radiograph or volume (at most 1 task per GiB)
_IDENTITY = ("id", "source", "source_id", *(f.name for f in BOOKKEEPING))


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage reserves. `actors` > 0 runs the stage in a pool of that many actors (its
    state set up once per actor); 0 runs it as tasks (state set up once per worker process).

    Consecutive task stages with equal resources run fused, one task carrying a block of inputs through all of
    them (pipeline.executor): by default every stage does, so on a CPU-only node a row is decoded, detected,
    parsed, encoded and written in the process that read it, and each CPU runs one such chain. A stage with other
    resources (a GPU detector's actor pool) splits the chain there."""

    cpus: float = 1.0
    memory: int = TASK_MEMORY  # bytes per task or actor; 0: Ray's default
    gpus: float = 0.0
    actors: int = 0


class Stage(ABC):
    """One step of the build; subclasses hold only settings (they are pickled to workers), state comes from
    `setup`."""

    name: ClassVar[str]  # the timer, and the reject stage of rows it fails on
    output_schema: ClassVar[pa.Schema | None] = None  # None: the input's schema
    stamps_node: ClassVar[bool] = False
    resources: Resources = Resources()
    batch_size: int | None = 64  # rows per call; None: whole blocks

    def setup(self) -> Any:
        """Heavy state for `process` (default none)."""
        return None

    @abstractmethod
    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        """The output rows of `batch`'s rows, none of which is a reject."""

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.run(batch, prepared(self))

    def run(self, batch: pa.Table, state: Any) -> pa.Table:
        clock = StageClock()
        schema = self.output_schema or batch.schema
        with clock(self.name):
            live = live_rows(batch)
            if pc.all(live).as_py() is not False:
                out = self._isolated(batch, state, schema)
            else:
                passed = batch.filter(pc.invert(live))
                passed = passed if passed.schema.equals(schema) else conform(_identity(passed), schema)
                out = _in_input_order(self._isolated(batch.filter(live), state, schema), passed, live)
        out = add_seconds(out, clock.seconds)
        return stamp_node(out) if self.stamps_node else out

    def _isolated(self, batch: pa.Table, state: Any, schema: pa.Schema) -> pa.Table:
        if batch.num_rows == 0:
            return schema.empty_table()
        try:
            return conform(self.process(batch, state), schema)
        except Exception as exc:  # noqa: BLE001 - one row's failure must not cost the build
            if batch.num_rows > 1:
                return pa.concat_tables([self._isolated(batch.slice(i, 1), state, schema)
                                         for i in range(batch.num_rows)])
            reason = INTERNAL_ERROR + type(exc).__name__
            return conform(as_rejects(batch, self.name, [(reason, where_raised(exc))]), schema)


class Filter(Stage):
    """A stage that rejects rows: `check` reads `columns` of one row and names what is wrong with it."""

    reject_stage: ClassVar[str] = "quality"
    columns: ClassVar[tuple[str, ...]]

    @abstractmethod
    def check(self, row: dict) -> QualityIssue | None:
        """Why `row` leaves the corpus, or None to keep it."""

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        issues = [self.check(row) for row in batch.select(list(self.columns)).to_pylist()]
        return reject_where(batch, self.reject_stage, issues)


def live_rows(batch: pa.Table) -> pa.ChunkedArray:
    """True for the rows no stage has rejected."""
    return pc.equal(pc.fill_null(batch.column("reject_reason"), ""), "")


def _identity(rows: pa.Table) -> pa.Table:
    """The columns a reject row keeps from any stage's schema: its identity and bookkeeping."""
    return rows.select([name for name in _IDENTITY if name in rows.schema.names])


def as_rejects(rows: pa.Table, stage: str, reasons: Sequence[tuple[str, str]]) -> pa.Table:
    """`rows` as reject rows of `stage` (reason, detail per row): their identity and bookkeeping columns."""
    kept = _identity(rows)
    for name, values in zip(REJECT_COLUMNS, ([stage] * len(reasons), *zip(*reasons))):
        kept = kept.set_column(kept.schema.get_field_index(name), name, pa.array(list(values), pa.string()))
    return kept


def _in_input_order(done: pa.Table, passed: pa.Table, live: pa.ChunkedArray) -> pa.Table:
    """The rows of live inputs (`done`, in order, one or more per input) and the passed rejects, merged back
    into the inputs' order."""
    inputs = live.to_pylist()
    if done.num_rows != sum(inputs):  # a stage that makes several rows of an input (decode) keeps them together
        return pa.concat_tables([done, passed])
    place, next_live, next_passed = [], 0, len(done)
    for is_live in inputs:
        place.append(next_live if is_live else next_passed)
        next_live, next_passed = next_live + is_live, next_passed + (not is_live)
    return pa.concat_tables([done, passed]).take(place)


def reject_where(batch: pa.Table, stage: str, issues: Sequence[QualityIssue | None]) -> pa.Table:
    """`batch` with the rows that have an issue turned into rejects of `stage`, in their places."""
    bad = [i for i, issue in enumerate(issues) if issue]
    if not bad:
        return batch
    good = pa.array([i for i, issue in enumerate(issues) if not issue], pa.int64())  # typed: it may be empty
    rejects = conform(as_rejects(batch.take(bad), stage, [(issues[i].reason, issues[i].detail) for i in bad]),
                      batch.schema)
    place = {row: k for k, row in enumerate(good.to_pylist() + bad)}
    return pa.concat_tables([batch.take(good), rejects]).take([place[i] for i in range(batch.num_rows)])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: those it has, cast; the others null."""
    if table.schema.equals(schema):
        return table
    names = set(table.schema.names)
    columns = [table.column(f.name).cast(f.type) if f.name in names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def where_raised(exc: BaseException) -> str:
    """`<Type> in <file>:<line> (<function>)` at the innermost frame of this project's code (else the innermost
    frame): a function of the code and the input alone."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(ROOT) and ".venv" not in f.filename]
    frame = (ours or frames)[-1] if frames else None
    if frame is None:
        return type(exc).__name__
    path = Path(frame.filename).resolve()
    where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    return f"{type(exc).__name__} in {where}:{frame.lineno} ({frame.name})"


class StageSetupError(ConfigError):
    """A stage could not be set up in a worker (its model does not load, its device is not there)."""


_STATES: OrderedDict[bytes, Any] = OrderedDict()
MAX_STATES = 8  # states kept per worker process, the least recently used dropped first (a build has a few)


def prepared(stage: Stage) -> Any:
    """The state of `stage` in this process, set up on first use and kept for every later batch (Ray tasks get
    a fresh copy of the stage each time, so state is keyed by the stage's settings). Stages without a `setup` of
    their own have none to keep: they take no place among the states."""
    if type(stage).setup is Stage.setup:
        return None
    key = pickle.dumps(stage)
    if key in _STATES:
        _STATES.move_to_end(key)
    else:
        try:
            _STATES[key] = stage.setup()
        except Exception as exc:  # weights that are no model, a device this node lacks: the config, not a row
            raise StageSetupError(f"stage {stage.name}: {type(exc).__name__}: {exc}") from exc
        while len(_STATES) > MAX_STATES:
            _STATES.popitem(last=False)
    return _STATES[key]
