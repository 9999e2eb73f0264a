"""`smartcustoms classify ...`: HS codes for a product description, with questions.

    smartcustoms classify "frozen boneless beef cuts" [--top 5] [--json] [--answer ID ...]
    smartcustoms classify train [--data RULINGS.csv --text-col description --label-col hs_code]
    smartcustoms classify evaluate [--data FILE.csv ...] [--json]

A first argument that is not a subcommand is the description (the `predict` command), so
the plain form works; a description that is exactly a command's name is written
`classify predict "train"`.  Everything runs locally on the active model (no node needed).
With a terminal attached and without `--json`, close candidates lead to questions; with
`--json` the output carries the pending question and its options, and `--answer` gives
answers in advance (one per question, by option id).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from nodes.cliutil import JsonOpt, console, err_console, out, settings
from oracles.tariff.errors import TariffInputError

if TYPE_CHECKING:
    # typer vendors click: its groups parse with the vendored Context (not the `click`
    # package's), and typer exports no public name for that base class.
    from typer._click.core import Context


class DescriptionGroup(TyperGroup):
    """A group whose unknown first argument is the description for `predict`."""

    default_command = "predict"

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DescriptionGroup,
    no_args_is_help=True,
    help="AI tariff classification: HS code, duty rate and regulations for a description. "
    'Usage: classify "DESCRIPTION" [--top 5] [--json] [--answer ID] (the predict '
    "command), or a subcommand below.",
)

ModelDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-dir",
        help="Model folder to use (default: the active trained version, else the shipped model).",
    ),
]
DataOpt = Annotated[Path | None, typer.Option("--data", help="CSV file of labelled descriptions.")]
TextColOpt = Annotated[str, typer.Option("--text-col", help="Column holding the description.")]
LabelColOpt = Annotated[
    str, typer.Option("--label-col", help="Column holding the HS code (6-10 digits).")
]


def _service(model_dir: Path | None):
    from oracles.tariff.service import service_for

    return service_for(settings(), model_dir)


def _fail(exc: TariffInputError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": exc.code, "detail": exc.detail}))
    else:
        err_console.print(Text("error: ", style="red") + Text(f"{exc.code}: {exc.detail}"))
    raise typer.Exit(1)


def _render(result: dict[str, Any]) -> None:
    table = Table(title=f"HS candidates ({result['model_version']})", title_justify="left")
    table.add_column("#", no_wrap=True)
    table.add_column("HS", no_wrap=True)
    table.add_column("conf.", no_wrap=True)
    table.add_column("duty", no_wrap=True)
    table.add_column("regulations")
    table.add_column("description", ratio=1)
    for i, c in enumerate(result["candidates"], 1):
        duty = c["duty"] or {}
        rate = f"{duty.get('duty_pct', '?')}%" if duty else "-"
        if duty.get("specific"):
            rate += f" + {duty['specific']}"
        lines = c["hs6"] + "".join(f"\n {n['code']}" for n in c["national_lines"])
        text = c["description"]
        if result.get("language") == "zh" and c.get("description_zh_short"):
            text = f"{c['description_zh_short']}\n{text}"
        table.add_row(  # Text(): descriptions are printed literally, never as markup
            str(i),
            Text(lines),
            f"{c['confidence']:.2f}",
            Text(rate),
            Text(" ".join(r["code"] for r in c["regulations"]) or "-"),
            Text(text),
        )
    console.print(table)
    for i, c in enumerate(result["candidates"][:3], 1):
        console.print(Text(f"why #{i} {c['hs6']}: {c['explanation']}", style="dim"))
    if result.get("uncertain"):
        console.print(
            Text(
                f"uncertain (confidence {result['confidence']:.2f} < "
                f"{result['uncertain_below']:.2f}): {result.get('advice', '')}",
                style="yellow",
            )
        )


def _is_tty() -> bool:
    return sys.stdin.isatty()


def _ask(question: dict[str, Any]) -> str | None:
    """Prompt for one question; the chosen option id, or None to stop."""
    console.print(Text(f"\n{question['text']}", style="bold"))
    options = question["options"]
    for i, o in enumerate(options, 1):
        console.print(Text(f"  {i}. {o['label']}"))
    while True:
        raw = typer.prompt("Answer (number, or q to stop)", default="q").strip()
        if raw.lower() in ("q", "quit", "stop"):
            return None
        if raw.isdigit() and 1 <= int(raw) <= len(options):
            return options[int(raw) - 1]["id"]
        ids = [o["id"] for o in options]
        if raw in ids:
            return raw
        err_console.print(f"choose 1-{len(options)} or q")


@app.command()
def predict(
    description: Annotated[str, typer.Argument(help="What the goods are, in plain words.")],
    top: Annotated[int, typer.Option("--top", min=1, max=20, help="Candidates to show.")] = 5,
    answer: Annotated[
        list[str] | None,
        typer.Option(
            "--answer", "-a", help="Answer the next question with this option id (repeatable)."
        ),
    ] = None,
    model_dir: ModelDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ranked HS codes for DESCRIPTION with confidence, duty rate and regulations.

    --json prints {"candidates": [{"hs6", "description", "confidence", "duty",
    "regulations", "national_lines", "explanation"}], "question": {...} | null, ...}.
    """
    from oracles.tariff.dialogue import Dialogue
    from oracles.tariff.service import check_description

    svc = _service(model_dir)
    try:
        text = check_description(description, svc.settings.max_description_chars)
        dialogue = Dialogue.start(svc.model, text)
        for option in answer or []:
            if dialogue.pending is None:
                raise TariffInputError(
                    "no_pending_question",
                    f"--answer {option}: no question is pending ({dialogue.reason})",
                )
            dialogue.answer(dialogue.pending.id, option)
        interactive = _is_tty() and not as_json
        while interactive and dialogue.pending is not None:
            _render(svc.render(dialogue, top))
            choice = _ask(dialogue.pending.to_json())
            if choice is None:
                dialogue.stop()
                break
            dialogue.answer(dialogue.pending.id, choice)
        result = svc.render(dialogue, top)
    except TariffInputError as exc:
        _fail(exc, as_json)
        return
    out(result, as_json, _render)
    if not as_json and result["question"]:
        q = result["question"]
        console.print(
            Text(f"\nQuestion {q['id']}: ", style="bold")
            + Text(
                f"{q['text']} — rerun with --answer " + " | ".join(o["id"] for o in q["options"])
            )
        )


@app.command()
def train(
    data: DataOpt = None,
    text_col: TextColOpt = "description",
    label_col: LabelColOpt = "hs_code",
    activate: Annotated[
        bool, typer.Option("--activate/--no-activate", help="Make the new version the active one.")
    ] = True,
    model_root: Annotated[
        Path | None,
        typer.Option(
            "--model-root", help="Where versions are written (default: <home>/tariff/models)."
        ),
    ] = None,
    chapters: Annotated[
        str,
        typer.Option(
            "--chapters", help="Only these HS chapters, comma-separated (quick experiments)."
        ),
    ] = "",
    retrieval_only: Annotated[
        bool,
        typer.Option(
            "--retrieval-only",
            help="Skip the network (no PyTorch needed; faster, less accurate on real listings).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a new model version on the shipped data (plus your rulings with --data).

    Your rulings are split like the shipped ones: 65 % train, 15 % tune the weights and the
    "uncertain" threshold, 20 % held out (evaluate on it). The network needs PyTorch
    (pip install '.[train]'). The shipped model is never overwritten: the version goes to
    <home>/tariff/models/<version> and, unless --no-activate, becomes the active one.
    """
    from dataclasses import replace

    from oracles.tariff.train import TrainConfig

    config = TrainConfig(
        chapters=tuple(c.strip().zfill(2) for c in chapters.split(",") if c.strip()),
        network=not retrieval_only,
    )
    svc = _service(None)
    if model_root is not None:
        svc.settings = replace(svc.settings, model_root=model_root)
    log = (lambda m: None) if as_json else (lambda m: err_console.print(Text(m, style="dim")))
    try:
        result = svc.train_file(
            data, text_col, label_col, activate=activate, log=log, config=config
        )
    except TariffInputError as exc:
        _fail(exc, as_json)
        return
    out(
        result,
        as_json,
        lambda r: console.print(
            Text(
                f"model {r['model_version']} written to {r['model_dir']} "
                f"({r['rulings']} rulings, {r['skipped']} rows skipped)"
                + (", now active" if r["active"] else "")
            )
        ),
    )


@app.command()
def evaluate(
    data: DataOpt = None,
    text_col: TextColOpt = "description",
    label_col: LabelColOpt = "hs_code",
    dialogue: Annotated[
        bool,
        typer.Option("--dialogue", help="Also simulate a truthful user answering the questions."),
    ] = False,
    model_dir: ModelDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy on a labelled CSV (default: the shipped held-out set).

    --json prints {"n", "hs2_acc", "hs4_acc", "hs6_acc", "top5_hs2", "top5_hs4", "top5_hs6",
    "acc_at_50", "acc_at_80", "coverage_at_90", "ece", "answered", "answered_accuracy",
    "accusable", "accusable_accuracy", "p50_ms", "p95_ms", "per_s", "skipped", ...};
    labels of 6-10 digits are compared on their first 2/4/6.  `answered`: rows the model
    asserts (not "uncertain"); `accusable`: rows the TARIFF oracle is sure enough of to call
    a different declared code a mismatch (the model's stricter `accuse_below`).
    """
    from oracles.tariff.evaluate import DEFAULT_HELDOUT

    svc = _service(model_dir)
    try:
        result = svc.evaluate_file(data or DEFAULT_HELDOUT, text_col, label_col, dialogue)
    except TariffInputError as exc:
        _fail(exc, as_json)
        return

    def show(r: dict[str, Any]) -> None:
        table = Table(title=f"{r['n']} descriptions ({r['model_version']})", title_justify="left")
        for col in ("level", "top-1", "top-5"):
            table.add_column(col)
        for k in (2, 4, 6):
            table.add_row(f"HS{k}", f"{r[f'hs{k}_acc']:.1%}", f"{r[f'top5_hs{k}']:.1%}")
        console.print(table)
        console.print(
            f"answering only the surest half: {r['acc_at_50']:.1%} right; surest 80 %: "
            f"{r['acc_at_80']:.1%}; {r['coverage_at_90']:.0%} answerable at 90 % accuracy; "
            f"calibration error {r['ece']:.3f}"
        )
        console.print(
            f"asserted (not uncertain): {r['answered']:.0%}, "
            f"{_share(r['answered_accuracy'])} right; sure enough for the oracle to call a "
            f"mismatch: {r['accusable']:.0%}, {_share(r['accusable_accuracy'])} right"
        )
        console.print(
            f"p95 {r['p95_ms']} ms, {r['per_s']} descriptions/s; {r['skipped']} rows skipped"
        )
        for p in r["problems"]:
            err_console.print(Text(p, style="yellow"))

    out(result, as_json, show)


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"
