"""`smartcustoms xray ...`: scan images, measure the model, make synthetic data, learn from
officers' decisions.

`scan`, `evaluate` and `synth` run locally (onnxruntime only, no node needed); `feedback`
and `alerts` talk to a running node; `retrain` reads the node's scan database directly and
needs PyTorch (`pip install '.[train]'`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from nodes.cliutil import (
    ApiKeyOpt,
    JsonOpt,
    MemberOpt,
    console,
    err_console,
    node_call,
    out,
    settings,
)
from oracles.xray.errors import XrayError

app = typer.Typer(
    no_args_is_help=True, help="X-ray scans: threat recognition, evaluation, feedback, retraining."
)

VERDICT_COLOURS = {"threat": "red", "uncertain": "yellow", "clear": "green"}
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="Model folder (manifest.json + ONNX); default: the active model."),
]


def _model(folder: Path | None):
    from oracles.xray.config import load_model

    return load_model(settings(), folder)


@app.command()
def scan(
    images: Annotated[list[Path], typer.Argument(help="Scan image files (PNG, JPEG, TIFF...).")],
    overlay: Annotated[
        Path | None,
        typer.Option(
            "--overlay", help="Write <name>.overlay.png with boxes for officers into this folder."
        ),
    ] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge scans; with --json one line per image:
    {"image", "sha256", "threats": [{"class", "score", "threshold", "box"}], "verdict",
    "ms", "scores", "scan", "alarm_rate", "thresholds", "review", "review_rate", ...}.
    The verdict is threat, uncertain (a class in the review band under its alert threshold:
    look at the image) or clear.

    An unreadable image, or a picture that is not a scan (error `not_a_scan`), gives
    {"image", "error", "detail"} and exit code 1 at the end.
    """
    from oracles.xray.config import xray_settings
    from oracles.xray.image import ImageLimits, load_image
    from oracles.xray.overlay import draw_overlay

    m = _model(model)
    limits = ImageLimits.from_settings(xray_settings(settings()))
    if overlay is not None:
        overlay.mkdir(parents=True, exist_ok=True)
    failed = 0
    table = Table(title=f"X-ray scans ({m.version_id})", title_justify="left")
    for col in ("image", "verdict", "threats", "ms"):
        table.add_column(col)
    for path in images:
        t0 = time.perf_counter()
        try:
            loaded = load_image(path.read_bytes(), limits)
            det = m.detect(loaded.image).require_scan()
        except (XrayError, OSError) as exc:
            failed += 1
            code = getattr(exc, "code", "unreadable_file")
            detail = getattr(exc, "detail", None) or (
                f"{path} cannot be read: {exc.strerror}"  # not "[Errno 2] ..."
                if isinstance(exc, OSError) and exc.strerror
                else str(exc)
            )
            if as_json:
                print(json.dumps({"image": str(path), "error": code, "detail": detail}))
            else:
                table.add_row(str(path), f"[red]{code}[/]", detail, "")
            continue
        ms = round((time.perf_counter() - t0) * 1000, 2)
        rec = {
            "image": str(path),
            "sha256": loaded.sha256,
            "threats": det.threats,
            "verdict": det.verdict,
            "ms": ms,
            "scores": det.scores,
            "scan": det.scan,
            "alarm_rate": det.alarm_rate,
            "thresholds": det.thresholds,
            "review": det.review,
            "review_rate": det.review_rate,
            "warnings": loaded.warnings,
            "model_version": m.version_id,
        }
        if overlay is not None:
            target = overlay / f"{path.stem}.overlay.png"
            target.write_bytes(draw_overlay(loaded.image, det.threats, det.verdict, det.review))
            rec["overlay"] = str(target)
        if as_json:
            print(json.dumps(rec))
        else:
            found = ", ".join(f"{t['class']} {t['score']:.2f}" for t in det.threats) or (
                "look: " + ", ".join(f"{r['class']} {r['score']:.2f}" for r in det.review)
                if det.review
                else "-"
            )
            colour = VERDICT_COLOURS.get(det.verdict, "green")
            table.add_row(str(path), f"[{colour}]{det.verdict}[/]", found, f"{ms:.0f}")
    if not as_json:
        console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def evaluate(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Folder with images and labels.csv (columns image, classes), or images in "
            "sub-folders named firearm, knife, clear (or handgun, shuriken, background...).",
        ),
    ],
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="FOLDER=CLASS: what a sub-folder holds when its name does not say, e.g. "
            "--label class_0=firearm --label class_3=clear (repeat for each folder).",
        ),
    ] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per class: AUC, recall at 1 % and 5 % false alarms, expected calibration error, and
    recall / false alarms at the model's thresholds, on a labelled folder of scans
    (colour or greyscale)."""
    from oracles.xray.config import xray_settings
    from oracles.xray.dataset import evaluate as run
    from oracles.xray.dataset import parse_names
    from oracles.xray.image import ImageLimits

    m = _model(model)
    names = parse_names(label or [], m.classes)
    result = run(m, data, ImageLimits.from_settings(xray_settings(settings())), names=names)

    def render(r: dict) -> None:
        table = Table(title=f"{r['n']} scans, {r['model_version']}", title_justify="left")
        for col in ("class", "positives", "AUC", "recall @1% FA", "recall @5% FA", "ECE"):
            table.add_column(col)

        def f(v, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        for c, a in r["auc"].items():
            table.add_row(
                c,
                str(r["positives"][c]),
                f(a, ".4f"),
                f(r["recall_at_1pct_false_alarm"][c], ".3f"),
                f(r["recall_at_5pct_false_alarm"][c], ".3f"),
                f(r["ece"][c], ".3f"),
            )
        console.print(table)
        for group, what in (("clean", "scans that carry nothing"), ("carrying", "scans that do")):
            v = r["verdicts"].get(group)
            if v:
                console.print(
                    f"{what}: {v['threat']:.1%} threat, {v['uncertain']:.1%} uncertain "
                    f"(look at the image), {v['clear']:.1%} clear"
                )
        if len(r["strata"]) > 1:
            st_table = Table(title="by stratum", title_justify="left")
            for col in ("stratum", "scans", "carrying", "threat", "uncertain", "clear", "refused"):
                st_table.add_column(col)
            for name, st in r["strata"].items():
                st_table.add_row(
                    name,
                    *(str(st[k]) for k in ("n", "carrying", "threat", "uncertain", "clear")),
                    str(st["not_a_scan"]),
                )
            console.print(st_table)
        fails = r["failures"]
        for kind, what, shown in (
            ("missed", "carrying a threat, no alarm", "scores"),
            ("false_alarms", "clean, judged a threat", "raised"),
        ):
            total = fails[f"{kind}_total"]
            if total:
                console.print(f"{total} {what} (first {min(total, 10)} of {total}):")
                for x in fails[kind][:10]:
                    scores = ", ".join(f"{c} {v:.3f}" for c, v in x[shown].items())
                    console.print(f"  {escape(x['image'])} \\[{escape(x['stratum'])}] {scores}")
        if r["not_a_scan"]:
            err_console.print(
                f"[yellow]{len(r['not_a_scan'])} image(s) refused as not a scan[/] "
                "(counted as no alarm): " + ", ".join(x["image"] for x in r["not_a_scan"][:10])
            )
        for e in r["errors"]:
            err_console.print(f"[yellow]skipped[/] {e['image']}: {e['error']} ({e['detail']})")
        for k in r["skipped"]:
            err_console.print(
                f"[yellow]left out[/] {k['images']} image(s) in {k['folder']}/: {k['detail']}"
            )

    out(result, as_json, render)


@app.command()
def synth(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of scans.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    seed: Annotated[int, typer.Option("--seed", help="Data set seed (same seed, same scans).")] = 1,
    size: Annotated[int, typer.Option("--size", min=64, max=2048, help="Image side.")] = 512,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16)] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Write synthetic dual-energy scans (PNG) and labels.csv (image, classes, boxes)."""
    from oracles.xray.dataset import write_synthetic

    out(write_synthetic(out_dir, n, seed, size, workers), as_json)


@app.command()
def info(model: ModelOpt = None, as_json: JsonOpt = False) -> None:
    """The active model: version, sha256 (verified), false-alarm rate and thresholds, scan
    gate threshold, recorded test figures."""
    m = _model(model)
    diff = m.check_reference()
    man = m.manifest
    out(
        {
            "model_version": m.version_id,
            "folder": str(m.folder),
            "sha256": m.sha256,
            "classes": list(m.classes),
            "alarm_rate": m.alarm_rate,
            "thresholds": m.thresholds,
            "review_rate": m.review_rate,
            "review_thresholds": m.review_thresholds,
            "scan_threshold": m.scan_threshold,
            "reference_max_diff": diff,
            "test": man.get("test", {}),
            "parent": man.get("parent"),
        },
        as_json,
    )


def _node_service(member: str | None):
    """The X-ray service over this machine's node database and content store."""
    from offchain.cas import open_store
    from offchain.db import Database
    from oracles.xray.config import load_model, xray_settings
    from oracles.xray.image import ImageLimits
    from oracles.xray.service import XrayService

    s = settings()
    member_id = member or s.members[0].id
    node_dir = s.node_dir(member_id)
    if not (node_dir / "node.sqlite").exists():
        raise XrayError(
            "no_feedback",
            f"{node_dir / 'node.sqlite'} does not exist: node "
            f"{member_id} has never run on this machine",
        )
    st = s.store
    store = (
        open_store(
            "local", root=node_dir / "cas", fsync=st.fsync, max_object_bytes=st.max_object_bytes
        )
        if st.kind == "local"
        else open_store(
            "ipfs",
            api_url=st.ipfs_api,
            timeout_s=st.ipfs_timeout_s,
            max_object_bytes=st.max_object_bytes,
        )
    )
    return XrayService(
        Database(node_dir / "node.sqlite"),
        store,
        load_model(s),
        limits=ImageLimits.from_settings(xray_settings(s)),
    )


@app.command()
def retrain(
    member: MemberOpt = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimiser steps.")] = 150,
    replay: Annotated[
        int, typer.Option("--replay", min=0, help="Synthetic scans mixed in against forgetting.")
    ] = 256,
    activate: Annotated[
        bool, typer.Option("--activate", help="Run the new version from now.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the active model on officers' confirmed / rejected alerts; write a new
    version under <home>/xray/models/ (needs pip install '.[train]')."""
    from oracles.xray.retrain import retrain as run
    from oracles.xray.train import require_torch, stderr_log

    require_torch()
    svc = _node_service(member)
    try:
        result = run(
            settings(),
            svc,
            steps=steps,
            replay=replay,
            do_activate=activate,
            log=stderr_log if not as_json else (lambda m: None),
        )
    finally:
        svc.db.close()
    out(result, as_json)
    if not as_json and not activate:
        err_console.print(f"activate with: smartcustoms xray activate {result['version']}")


@app.command("activate")
def activate_cmd(
    version: Annotated[str, typer.Argument(help="A version under <home>/xray/models/.")],
    as_json: JsonOpt = False,
) -> None:
    """Run a retrained version from now on (checked before it is recorded)."""
    from oracles.xray.config import activate as do_activate
    from oracles.xray.config import models_dir
    from oracles.xray.model import XrayModel

    folder = models_dir(settings()) / version
    if not folder.is_dir():
        raise XrayError(
            "model_missing", f"no model version {version} under {models_dir(settings())}"
        )
    m = XrayModel(folder)
    m.check_reference()
    pointer = do_activate(settings(), version, m.sha256)
    out({"active": m.version_id, "pointer": str(pointer)}, as_json)


@app.command()
def feedback(
    scan_id: Annotated[str, typer.Argument(help="Scan id (from the node's scan record).")],
    cls: Annotated[str, typer.Option("--class", help="meat, drugs, firearm or knife.")],
    confirm: Annotated[
        bool, typer.Option("--confirm/--reject", help="Threat found / false alarm.")
    ],
    note: Annotated[str, typer.Option("--note")] = "",
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An officer confirms or rejects a class on a scan (closes its open alerts)."""
    body = {"class": cls, "decision": "confirm" if confirm else "reject", "note": note}
    out(node_call(member, api_key, "POST", f"/xray/scans/{scan_id}/feedback", json=body), as_json)


@app.command()
def alerts(
    status: Annotated[
        str, typer.Option("--status", help="open, confirmed, rejected or all.")
    ] = "open",
    member: MemberOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """X-ray alerts on the node, newest first."""
    params = {} if status == "all" else {"status": status}
    out(node_call(member, api_key, "GET", "/xray/alerts", params=params), as_json)
