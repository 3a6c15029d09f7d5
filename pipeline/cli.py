"""The `medregion` command line."""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.config import ConfigError, DetectorTrainingOptions, PublishOptions, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Build region-level medical image-text corpora.")
console = Console()
PUBLISH = PublishOptions(repo_id="")  # the defaults of `publish`
TRAINING = DetectorTrainingOptions()  # the defaults of `train-detector`


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)  # one line, however long
    raise typer.Exit(2)


def _reporting_input_errors(command):
    """`command` with a missing, unreadable or damaged input (a file not there or not permitted, an Arrow or
    Parquet file cut short, JSON that does not parse, a setting the environment lacks) reported as one `error:`
    line and exit 2, instead of a traceback."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        import polars as pl
        import pyarrow as pa

        try:
            return command(*args, **kwargs)
        except (OSError, pa.ArrowException, pl.exceptions.PolarsError, json.JSONDecodeError, UnicodeDecodeError,
                ConfigError) as exc:
            _fail(f"{type(exc).__name__}: {exc}" if not isinstance(exc, ConfigError) else str(exc))

    return run


def _require_build(folder: Path) -> None:
    if not (folder / "manifest.json").exists():
        _fail(f"{folder} holds no manifest.json: not a finished build")


def _table(title: str, header: tuple[str, ...], rows) -> Table:
    table = Table(title=title, title_justify="left")
    for name in header:
        table.add_column(name)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row))
    return table


@app.command()
@_reporting_input_errors
def build(
    config: Path = typer.Argument(Path("configs/sample.yaml"), help="YAML build config"),
    output: Optional[str] = typer.Option(None, help="output folder or URL (overrides the config)"),
    n: Optional[int] = typer.Option(None, help="studies in the sample source (overrides its options.n)"),
    ray_address: Optional[str] = typer.Option(None, help="join this Ray cluster instead of starting one"),
    num_cpus: Optional[int] = typer.Option(None, help="CPUs for a local Ray"),
    stats: Optional[Path] = typer.Option(None, help="write the build's timings and inputs per Ray node here (JSON)"),
    fresh: bool = typer.Option(False, "--fresh", help="build from scratch: remove a finished corpus or an "
                               "interrupted build's work in the output first (input files changed in place)"),
) -> None:
    """Build (or resume) a corpus: shards, manifest.json and rejects.arrow under the output folder."""
    from pipeline.build import build as run_build
    from pipeline.executor import StageFailures

    cfg = _override(load_config(config), output, n, ray_address, num_cpus)
    started = time.perf_counter()
    columns = (TextColumn("[bold]building"), BarColumn(), MofNCompleteColumn(), TextColumn("inputs"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("build", total=None)
        try:
            result = run_build(cfg, lambda done, total: progress.update(task, completed=int(done), total=int(total)),
                               fresh=fresh)
        except (ConfigError, StageFailures) as exc:
            progress.update(task, visible=False)  # the error alone, not a bar left under it
            progress.stop()
            _fail(str(exc))
        except KeyboardInterrupt:
            progress.stop()
            console.print("[yellow]interrupted[/yellow]: the parts written so far are kept; the same command "
                          "resumes from them", soft_wrap=True)
            raise typer.Exit(130) from None
    if stats:
        stats.write_text(json.dumps(result.stats, indent=2, sort_keys=True) + "\n")
    if result.reused:
        console.print("[yellow]already built[/yellow] from this config and these inputs (their paths, texts and "
                      "local files' sizes and times): nothing to do; --fresh builds again.")
    _print_build(result.output, result.manifest, time.perf_counter() - started)


def _override(cfg, output, n, ray_address, num_cpus):
    if output:
        cfg = dataclasses.replace(cfg, output=output)
    if n is not None:
        sources = tuple(dataclasses.replace(s, options={**s.options, "n": n}) if s.connector == "sample" else s
                        for s in cfg.sources)
        cfg = dataclasses.replace(cfg, sources=sources)
    if ray_address or num_cpus:
        ray_cfg = dataclasses.replace(cfg.ray, address=ray_address or cfg.ray.address,
                                      num_cpus=num_cpus or cfg.ray.num_cpus)
        cfg = dataclasses.replace(cfg, ray=ray_cfg)
    return cfg


def _print_build(output: str, manifest: dict, seconds: float) -> None:
    totals = manifest["totals"]
    console.print(f"[green]built[/green] {totals['rows']} rows in {len(manifest['shards'])} shards, "
                  f"{totals['rejects']} rejects, from {totals['inputs']} inputs in {seconds:.1f} s")
    shown = escape(output)
    shards = f"{shown}/shards/" if manifest["shards"] else "none: every input was rejected"
    console.print(f"shards:   {shards}\nmanifest: {shown}/manifest.json\nrejects:  {shown}/rejects.arrow")
    _print_inspect(output)


def _print_inspect(folder: str) -> None:
    from pipeline.inspect import summarize

    summary = summarize(folder)
    console.print(_table("rows per source", ("source", "inputs", "rows", "rejects"),
                         [(s, c["inputs"], c["rows"], c["rejects"]) for s, c in summary.by_source.items()]))
    console.print(_table("rows per split", ("split", "rows"), summary.by_split.items()))
    console.print(_table("rows per modality", ("modality", "rows"), summary.by_modality.items()))
    regions = summary.regions_per_image
    console.print(f"regions per image: mean {regions['mean']:.2f}, max {regions['max']}, "
                  f"{regions['with_regions']:.0%} of images have regions; by origin {summary.regions_by_origin}")
    console.print(_table("rejects by reason", ("stage:reason", "inputs"), summary.rejects_by_reason.items()))


@app.command()
@_reporting_input_errors
def inspect(
    folder: Path = typer.Argument(..., help="a build's output folder"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Summarise a shard folder: rows per source, split and modality, regions per image, rejects by reason."""
    _require_build(folder)
    if as_json:
        from pipeline.inspect import summarize

        print(json.dumps(dataclasses.asdict(summarize(folder)), indent=2, sort_keys=True))
    else:
        _print_inspect(str(folder))


@app.command()
@_reporting_input_errors
def verify(folder: Path = typer.Argument(..., help="a build's output folder")) -> None:
    """Check every shard against the manifest (sha256, size, rows, schema) and the accounting; exit 1 on a mismatch."""
    from pipeline.verify import verify as run_verify

    result = run_verify(str(folder))
    for problem in result.problems:
        console.print(f"[red]mismatch:[/red] {escape(problem)}", soft_wrap=True)
    if not result.ok:
        console.print(f"[red]{escape(str(folder))} fails verify[/red]: {len(result.problems)} problems", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]ok[/green]: {result.shards} shards, {result.rows} rows, {result.rejects} rejects; "
                  f"inputs = rows + rejects for all {result.sources} sources")


@app.command()
@_reporting_input_errors
def report(
    folder: Path = typer.Argument(..., help="a build's output folder"),
    output: Optional[Path] = typer.Option(None, help="the HTML file to write (default FOLDER/report.html)"),
    truth: Optional[Path] = typer.Option(None, help="a truth file (the sample's truth.jsonl) for alignment and ROI "
                                         "metrics"),
    gallery: int = typer.Option(12, help="images in the gallery"),
) -> None:
    """Write a build's quality report: one self-contained HTML page with plots and a gallery."""
    from pipeline.report import write_report

    _require_build(folder)
    path = write_report(folder, output or folder / "report.html", truth, gallery)
    console.print(f"[green]report[/green] {escape(str(path))}")


@app.command()
@_reporting_input_errors
def publish(
    folder: Path = typer.Argument(..., help="a build's output folder (it must pass verify)"),
    repo_id: str = typer.Option(..., help="the Hub dataset repository, ORG/NAME"),
    out: Optional[Path] = typer.Option(None, help="where the Hub layout is written (default FOLDER-hub; its data/ and "
                                       "README.md are replaced)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="write the layout only, upload nothing"),
    private: bool = typer.Option(False, "--private", help="create the repository private"),
    revision: Optional[str] = typer.Option(None, help="the branch to commit to (created when missing)"),
    shard_mb: float = typer.Option(PUBLISH.shard_bytes / 2**20, help="target size of one Parquet file, MB"),
    row_group_mb: float = typer.Option(PUBLISH.row_group_bytes / 2**20, help="target size of one row group, MB"),
    retries: int = typer.Option(PUBLISH.retries, help="further attempts of a Hub call after a network or server error"),
) -> None:
    """Publish a build to the Hugging Face Hub as Parquet with a dataset card (token from HF_TOKEN or login)."""
    from pipeline.publish import PublishError
    from pipeline.publish import publish as run_publish

    options = PublishOptions(repo_id, private, revision, int(shard_mb * 2**20), int(row_group_mb * 2**20), retries)
    folder = folder.resolve()  # "." has no name to put "-hub" after
    try:
        layout = run_publish(folder, out or folder.with_name(folder.name + "-hub"), options, dry_run,
                             lambda message: console.print(message, markup=False))
    except PublishError as exc:
        _fail(str(exc))
    action = "wrote" if dry_run else "published"
    console.print(f"[green]{action}[/green] {sum(s.rows for s in layout.splits)} rows in "
                  f"{len(layout.files) - 1} Parquet files + README.md ({escape(str(layout.folder))})")


def _load_for_export(config: Path, n: Optional[int]):
    return _override(load_config(config), None, n, None, None)


@app.command("export-yolo")
@_reporting_input_errors
def export_yolo(
    config: Path = typer.Argument(Path("configs/sample.yaml"), help="YAML build config"),
    out: Path = typer.Option(Path("out/yolo"), help="dataset folder (images/, labels/, data.yaml)"),
    val_fraction: float = typer.Option(0.15, help="share of patients held out for validation"),
    seed: int = typer.Option(0, help="seed of the patient split"),
    n: Optional[int] = typer.Option(None, help="studies in the sample source (overrides its options.n)"),
    classes: str = typer.Option("findings", help="the class set: findings (the sample's lesions) or anatomy (lungs)"),
    modalities: str = typer.Option("", help="keep only images of these modalities, comma-separated (e.g. CR,DX)"),
    views: str = typer.Option("", help="keep only images of these views, comma-separated (e.g. PA,AP)"),
) -> None:
    """Export the box-annotated images of a config's sources as a YOLO dataset (split by patient)."""
    from pipeline.yolo_dataset import export_from_config
    from schemas.labels import CLASS_SETS

    if classes not in CLASS_SETS:
        _fail(f"--classes must be one of {sorted(CLASS_SETS)}, got {classes!r}")
    data_yaml = export_from_config(_load_for_export(config, n), out, val_fraction, seed, CLASS_SETS[classes],
                                   _words(modalities), _words(views))
    console.print(f"[green]exported[/green] {escape(str(data_yaml))}")


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(",") if word.strip())


def _settings(settings: list[str]) -> dict:
    """KEY=NUMBER settings -> {key: number} (an int when it is one), for ultralytics' training arguments."""
    out = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        try:
            number = float(value)
        except ValueError:
            _fail(f"--set takes KEY=NUMBER (e.g. fliplr=0), got {setting!r}")
        out[key.strip()] = int(number) if number.is_integer() and "." not in value else number
    return out


@app.command("train-detector")
@_reporting_input_errors
def train_detector(
    config: Path = typer.Argument(Path("configs/sample.yaml"), help="YAML build config"),
    data: Optional[Path] = typer.Option(None, help="an exported data.yaml to train on instead of exporting"),
    dataset: Path = typer.Option(Path("out/yolo"), help="where the exported dataset goes"),
    out: Path = typer.Option(Path("out/detector"), help="folder for the weights, MODEL_CARD.md and the run"),
    name: str = typer.Option(TRAINING.name, help="weights file name (without .pt)"),
    model: str = typer.Option(TRAINING.model, help="model yaml (random init) or a local checkpoint"),
    epochs: int = typer.Option(TRAINING.epochs),
    imgsz: int = typer.Option(TRAINING.imgsz),
    batch: int = typer.Option(TRAINING.batch),
    device: str = typer.Option(TRAINING.device, help="cpu, 0, 0,1, ..."),
    minutes: Optional[float] = typer.Option(None, help="train for this long (the epochs are fitted into it)"),
    workers: int = typer.Option(TRAINING.workers, help="data-loading processes"),
    val_fraction: float = typer.Option(0.15, help="share of patients held out for validation"),
    seed: int = typer.Option(TRAINING.seed, help="seed of the patient split and of training"),
    n: Optional[int] = typer.Option(None, help="studies in the sample source (overrides its options.n)"),
    settings: list[str] = typer.Option([], "--set", help="an ultralytics training setting, KEY=NUMBER, repeatable: "
                                       "augmentation (fliplr=0 where sides matter), nbs (nominal batch), ..."),
) -> None:
    """Train a YOLO detector on a config's box-annotated sources; write weights and a model card."""
    import shlex
    import sys

    from pipeline.detector_training import train_detector as train
    from pipeline.yolo_dataset import export_from_config

    data = data or export_from_config(_load_for_export(config, n), dataset, val_fraction, seed)
    command = shlex.join(["medregion", *sys.argv[1:]])
    result = train(data, out, model, epochs, imgsz, batch, device, name, seed, command, minutes, workers,
                   _settings(settings))
    console.print(f"[green]trained[/green] {escape(str(result.weights))} in {result.seconds:.0f} s: mAP50 "
                  f"{result.map50:.3f} on {result.val_images} held-out images; card {escape(str(result.card))}")


@app.command("eval-alignment")
@_reporting_input_errors
def eval_alignment(
    folder: Path = typer.Argument(..., help="a build's output folder"),
    truth: Path = typer.Argument(..., help="the truth file (the sample's truth.jsonl)"),
) -> None:
    """Precision and recall of the build's description-to-region links against a truth file."""
    from pipeline.evaluation.alignment import evaluate

    _require_build(folder)
    metrics = evaluate(folder, truth)
    console.print(_table("alignment", ("metric", "value"),
                         ((k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in metrics.items())))


@app.command("eval-rois")
@_reporting_input_errors
def eval_rois(
    folder: Path = typer.Argument(..., help="a build's output folder"),
    truth: Path = typer.Argument(..., help="truth.jsonl of the sample source (or any file in its format)"),
    iou: float = typer.Option(0.5, help="IoU a proposal needs to recall a true box"),
    match_label: bool = typer.Option(False, "--match-label", help="a proposal must also have the true label"),
) -> None:
    """ROI recall of the detector's proposals on the studies the source does not annotate."""
    from pipeline.evaluation.rois import record_regions, roi_recall, truth_regions
    from pipeline.inspect import read_shards

    _require_build(folder)
    rows = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
    records = read_shards(folder, ["source_id", "acquisition", "regions"]).to_dicts()
    result = roi_recall(record_regions(records), truth_regions(rows), iou, match_label)
    console.print(f"ROI recall at IoU {iou}: {result.recalled}/{result.total} = "
                  f"{result.recalled / max(1, result.total):.3f} over {result.images} images "
                  f"({result.missing} images with true boxes had no row)")
    console.print(_table("by label", ("label", "recalled", "total"), ((k, *v) for k, v in result.by_label.items())))


@app.command("eval-reports")
@_reporting_input_errors
def eval_reports(
    statements: Optional[Path] = typer.Option(None, help="hand-checked set (tests/data/report_statements.jsonl)"),
    real: Optional[Path] = typer.Option(None, help="the real collections folder (default ../shared/data/real)"),
    negex: Optional[Path] = typer.Option(None, help="NegEx test kit (default tests/data/negex/...)"),
) -> None:
    """The report parser on real text: its statements against the hand-checked set, and negation on the NegEx test
    kit with the project's termset beside negspacy's stock en_clinical."""
    from connectors.tables import SourceLayoutError
    from pipeline.evaluation import negation, report_statements

    try:
        scores = report_statements.evaluate(statements or report_statements.STATEMENTS, real or report_statements.REAL)
    except (FileNotFoundError, SourceLayoutError) as exc:
        _fail(str(exc))
    fields = [f for f in next(iter(scores.values())).__dict__]
    console.print(_table("report statements (hand-checked)", ("source", *fields),
                         ((source, *(f"{v:.3f}" if isinstance(v, float) else v for v in s.__dict__.values()))
                          for source, s in scores.items())))
    negated = negation.compare_termsets(negation.load_kit(negex or negation.NEGEX_KIT))
    console.print(_table("negation (NegEx test kit, Negated = positive class)",
                         ("termset", "cases", "negated", "precision", "recall", "f1", "accuracy"),
                         ((name, s.cases, s.negated, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}",
                           f"{s.accuracy:.3f}") for name, s in negated.items())))


# Training (training/cli.py): the commands parse arguments and call training.train / training.evaluate.
from training.cli import eval_run, train_run  # noqa: E402

app.command("train")(_reporting_input_errors(train_run))
app.command("eval")(_reporting_input_errors(eval_run))


if __name__ == "__main__":
    app()
