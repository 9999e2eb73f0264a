"""`smartcustoms audit`: post-clearance audit selection from a declaration history.

    smartcustoms audit synth --rows 60000 --out history.csv --later later.csv
    smartcustoms audit train --data history.csv --out my-audit-model [--mapping m.toml]
    smartcustoms audit score --model my-audit-model --data later.csv --out ranked.csv
    smartcustoms audit companies --model my-audit-model --data later.csv --top 20 --json
    smartcustoms audit evaluate --model my-audit-model --data later.csv --json

(`--out` of train defaults to the model the node's AUDIT oracle uses, <home>/audit/model.)

Errors are AuditError (an OffchainError): `main()` prints them as one line and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nodes.cliutil import JsonOpt, console, err_console, esc, out, say, settings

app = typer.Typer(
    no_args_is_help=True, help="Post-clearance audit selection: train on past audits, rank risk."
)

DataOpt = Annotated[Path, typer.Option("--data", help="Declarations, CSV or Parquet.")]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="Model directory (default: <home>/audit/model)."),
]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", help="TOML column mapping (see `audit mapping`)."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Map one field to a column: --map importer=IMP_CODE "
        "(repeatable; overrides --mapping).",
    ),
]


def _model_dir(model: Path | None) -> Path:
    from oracles.audit.settings import model_dir

    return model or model_dir(settings())


def _load(model: Path | None):
    from oracles.audit.model import AuditModel

    return AuditModel.load(_model_dir(model))


def _mapping(mapping: Path | None, maps: list[str] | None, base=None):
    from oracles.audit.mapping import load_mapping

    if mapping is None and not maps:
        return base
    m = load_mapping(mapping, maps or ())
    if base is not None and mapping is None:  # flags only: change the model's own mapping
        return base.with_overrides({f: m.columns[f] for f in m.explicit})
    return m


@app.command("synth")
def synth(
    rows: Annotated[int, typer.Option("--rows", min=1, help="Declarations to generate.")],
    out_file: Annotated[Path, typer.Option("--out", help="CSV (or .parquet) file to write.")],
    seed: Annotated[int, typer.Option(help="Random seed (another seed, another world).")] = 0,
    days: Annotated[int, typer.Option(min=1, help="Days the history spans.")] = 730,
    later: Annotated[
        Path | None,
        typer.Option(
            "--later",
            help="Also write the latest part of the period here (same world, later dates): "
            "what to score and evaluate a model trained on --out with.",
        ),
    ] = None,
    later_share: Annotated[
        float, typer.Option(min=0.05, max=0.95, help="Share of the period --later gets.")
    ] = 0.25,
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic declaration history in the public layout (with fraud patterns)."""
    from oracles.audit.synth import generate

    frame = generate(rows, seed=seed, days=days)
    parts = [(out_file, frame)]
    if later is not None:
        dates = frame["Date"].astype(str)
        cut = sorted(dates)[min(len(dates) - 1, int(len(dates) * (1 - later_share)))]
        parts = [(out_file, frame[dates < cut]), (later, frame[dates >= cut])]
    files = []
    for path, part in parts:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".parquet", ".pq"):
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, index=False)
        dates = part["Date"].astype(str)
        files.append(
            {
                "file": str(path),
                "rows": len(part),
                "frauds": int(part["Fraud"].sum()),
                "first_date": dates.min() if len(part) else None,
                "last_date": dates.max() if len(part) else None,
            }
        )
    data = {
        "rows": rows,
        "seed": seed,
        "frauds": int(frame["Fraud"].sum()),
        "fraud_rate": round(float(frame["Fraud"].mean()), 4),
        "file": str(out_file),
        "files": files,
    }

    def show(d: dict) -> None:
        say(f"{d['rows']} declarations ({d['frauds']} frauds, {d['fraud_rate']:.1%}), seed "
            f"{d['seed']}:")  # fmt: skip
        for f in d["files"]:
            say(f"  {f['file']}: {f['rows']} declarations from {f['first_date']} to "
                f"{f['last_date']} ({f['frauds']} frauds)")  # fmt: skip

    out(data, as_json, show)


@app.command("mapping")
def mapping_template() -> None:
    """Print a column-mapping TOML template (the default layout) to edit."""
    from oracles.audit.mapping import MAPPING_TEMPLATE

    print(MAPPING_TEMPLATE, end="")


@app.command("train")
def train(
    data: DataOpt,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Model directory to write (default: <home>/audit/model)."),
    ] = None,
    mapping: MappingOpt = None,
    maps: MapOpt = None,
    baselines: Annotated[bool, typer.Option(help="Also fit the two baselines.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Train the risk model on past audit outcomes; writes the model directory and card."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from oracles.audit.mapping import ColumnMapping
    from oracles.audit.model import TrainConfig
    from oracles.audit.service import train_file

    target = _model_dir(out_dir)
    cols = _mapping(mapping, maps) or ColumnMapping()
    with Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("reading", total=1.0)
        model = train_file(
            data,
            target,
            mapping=cols,
            config=TrainConfig(baselines=baselines),
            progress=lambda msg, frac: bar.update(task, description=msg, completed=frac),
        )
    card = model.card
    result = {
        "model_dir": str(target),
        "model_version": model.version,
        "backend": model.backend,
        "train_seconds": card["train_seconds"],
        "rows": card["data"]["rows_used"],
        "rows_dropped": card["data"]["rows_dropped"],
        "extras_used": card["data"]["extras_used"],
        "extras_ignored": card["data"]["extras_ignored"],
        "metrics": card["metrics"],
    }
    out(result, as_json, _render_train)


def _render_train(d: dict) -> None:
    console.print(
        f"model [bold]{d['model_version']}[/] written to {d['model_dir']} "
        f"({d['rows']} declarations, {d['rows_dropped']} dropped, "
        f"{d['train_seconds']} s, scoring via {d['backend']})"
    )
    for e in d["extras_ignored"]:
        console.print(f"[dim]ignored column {esc(repr(e['column']))}: {esc(e['why'])}[/]")
    for e in d["extras_used"]:
        console.print(f"[dim]extra column {esc(repr(e['column']))} used as {esc(e['kind'])}[/]")
    _metrics_table(d["metrics"], "held-out latest period")


def _metrics_table(metrics: dict, title: str) -> None:
    table = Table(title=f"Selection quality ({title})", title_justify="left")
    for col in ("model", "precision@1%", "precision@5%", "recall@5%", "revenue@5%", "AUC"):
        table.add_column(col)
    for name, m in metrics.items():
        table.add_row(
            name,
            *(
                ("-" if m[k] is None else f"{m[k]:.3f}")
                for k in (
                    "precision_at_1pct",
                    "precision_at_5pct",
                    "recall_at_5pct",
                    "revenue_at_5pct",
                    "auc",
                )
            ),
        )
    console.print(table)


@app.command("score")
def score(
    data: DataOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Ranked CSV to write.")],
    model: ModelOpt = None,
    mapping: MappingOpt = None,
    maps: MapOpt = None,
    reasons_top: Annotated[int, typer.Option(min=0, help="Rows that get reasons.")] = 5000,
    as_json: JsonOpt = False,
) -> None:
    """Rank declarations by risk, riskiest first, with reasons in plain words."""
    from oracles.audit import service

    m = _load(model)
    prep = service.prepare_for(
        m, data, need_label=False, mapping=_mapping(mapping, maps, m.mapping)
    )
    ranked = service.score_frame(m, prep.frame, reasons_top=reasons_top)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    ranked.to_csv(out_file, index=False)
    result = {
        "rows": len(ranked),
        "file": str(out_file),
        "model_version": m.version,
        "rows_dropped": prep.report["rows_dropped"],
        "unseen": service.unseen(m, prep.frame),
        "top": ranked.head(5).to_dict("records"),
    }
    out(result, as_json, _render_score)


def _render_score(d: dict) -> None:
    console.print(
        f"{d['rows']} declarations ranked into {d['file']} (model "
        f"{d['model_version']}); rows with ids never seen in training: {d['unseen']}"
    )
    table = Table(title="Riskiest declarations", title_justify="left")
    for col in ("rank", "declaration", "importer", "score", "reasons"):
        table.add_column(col)
    for r in d["top"]:
        table.add_row(
            str(r["rank"]), r["declaration_id"], r["importer"], f"{r['score']:.3f}", r["reasons"]
        )
    console.print(table)


@app.command("companies")
def companies(
    data: DataOpt,
    model: ModelOpt = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Companies to list.")] = 20,
    by: Annotated[str, typer.Option(help="Rank by risk, revenue or frauds.")] = "risk",
    mapping: MappingOpt = None,
    maps: MapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank importers for post-clearance audit: aggregated risk, expected revenue, reasons."""
    from oracles.audit import service

    m = _load(model)
    prep = service.prepare_for(
        m, data, need_label=False, mapping=_mapping(mapping, maps, m.mapping)
    )
    ranked = service.companies(m, prep.frame, top=top, by=by)
    out(
        {"model_version": m.version, "companies": ranked} if as_json else ranked,
        as_json,
        _render_companies,
    )


def _render_companies(rows: list[dict]) -> None:
    table = Table(title="Importers for post-clearance audit", title_justify="left")
    for col in ("rank", "importer", "risk", "decl.", "exp. frauds", "exp. revenue", "findings"):
        table.add_column(col)
    for c in rows:
        table.add_row(
            str(c["rank"]),
            c["importer"],
            f"{c['risk']:.3f}",
            str(c["declarations"]),
            f"{c['expected_frauds']:.1f}",
            f"{c['expected_revenue']:,.0f}",
            f"{c['past_findings']}/{c['past_declarations']}",
        )
    console.print(table)
    for c in rows:
        console.print(f"[bold]{c['rank']}. {esc(c['importer'])}[/]")
        for r in c["reasons"]:
            console.print(f"   • {esc(r['text'])} [dim](+{r['weight']:.2f})[/]")


@app.command("evaluate")
def evaluate(
    data: DataOpt,
    model: ModelOpt = None,
    mapping: MappingOpt = None,
    maps: MapOpt = None,
    baselines: Annotated[bool, typer.Option(help="Score the baselines too.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Measure the model on labelled declarations it was not trained on (a later period)."""
    from oracles.audit import service

    m = _load(model)
    prep = service.prepare_for(m, data, need_label=True, mapping=_mapping(mapping, maps, m.mapping))
    result = service.evaluate(m, prep.frame, baselines=baselines)
    out(result, as_json, _render_evaluate)


def _render_evaluate(d: dict) -> None:
    console.print(
        f"{d['n']} declarations, {d['frauds']} frauds ({d['fraud_rate']:.1%}); "
        f"model {d['model_version']} via {d['backend']}"
    )
    _metrics_table({"oracle": d, **d.get("baselines", {})}, "this file")
