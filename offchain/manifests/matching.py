"""Matching a declaration's cited transport document lines against the manifest lines, and
comparing an exported line with the reported one: pure functions, attested with decisions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from offchain.manifests.fields import _plain

MATCHED, UNKNOWN, EXHAUSTED, MISMATCH = "matched", "unknown", "exhausted", "mismatch"


def _dec(value: Any) -> Decimal:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not out.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return out


def match_citations(
    item_hs_codes: Sequence[str],
    citations: Sequence[Mapping[str, Any]],
    tolerances: Mapping[str, Any],
) -> dict[str, Any]:
    """Check a declaration's cited transport document lines against the manifest lines.

    `item_hs_codes`: the declaration's items' HS codes.  Each citation is what the node
    found for one cited line: `number`, `line`, `packages`, `gross_mass_kg` (declared);
    `found` (false: no manifest at the node lists it); `manifest_line` (`packages`,
    `gross_mass_kg`, `hs_code`) and `declared_before` (`packages`, `gross_mass_kg` of earlier
    declarations); `manifest` (id, doc hash, `late`) and `pre_arrival` (the line's risk
    flags, `[{rule, channel, text}]`).  `tolerances`: `packages` (count) and `weight_pct`.

    Returns per line a status — matched, unknown, exhausted (nothing left to declare) or
    mismatch (packages beyond what is left plus the tolerance, gross mass off by more than
    the tolerance from the line's mass for those packages, an HS chapter the declaration
    does not have) — with every problem in words, and the flags selectivity reads.
    Raises ValueError on a malformed input (the oracle answers it as a bad request).
    """
    tol_packages = int(tolerances.get("packages", 0))
    tol_pct = _dec(tolerances.get("weight_pct", 0))
    chapters = {str(hs)[:2] for hs in item_hs_codes}
    out_lines = []
    flags = {"unknown": False, "exhausted": False, "packages_mismatch": False,
             "weight_mismatch": False, "hs_mismatch": False, "late": False}  # fmt: skip
    lanes: set[str] = set()
    for c in citations:
        number, line = str(c["number"]), int(c["line"])
        declared = int(c["packages"])
        declared_mass = _dec(c["gross_mass_kg"])
        entry: dict[str, Any] = {"number": number, "line": line, "packages": declared,
                                 "gross_mass_kg": _plain(declared_mass), "problems": []}  # fmt: skip
        if not c.get("found"):
            entry["status"] = UNKNOWN
            entry["problems"].append(
                f"transport document {number} line {line} is on no cargo manifest lodged here"
            )
            flags["unknown"] = True
            out_lines.append(entry)
            continue
        ml = c["manifest_line"]
        before = c.get("declared_before") or {}
        line_packages, line_mass = int(ml["packages"]), _dec(ml["gross_mass_kg"])
        before_packages = int(before.get("packages", 0))
        before_mass = _dec(before.get("gross_mass_kg", 0))
        remaining = line_packages - before_packages
        manifest = c.get("manifest") or {}
        entry.update(
            manifest_id=manifest.get("manifest_id"),
            doc_hash=manifest.get("doc_hash"),
            line_packages=line_packages,
            line_gross_mass_kg=_plain(line_mass),
            declared_before=before_packages,
            remaining_packages=max(remaining, 0),
            pre_arrival=list(c.get("pre_arrival") or []),
            late=bool(manifest.get("late")),
        )
        flags["late"] |= entry["late"]
        lanes |= {f["channel"] for f in entry["pre_arrival"] if f.get("channel") in ("C2", "C3")}
        if remaining <= 0:
            entry["status"] = EXHAUSTED
            entry["problems"].append(
                f"all {line_packages} packages of {number} line {line} were declared before"
            )
            flags["exhausted"] = True
            out_lines.append(entry)
            continue
        if declared > remaining + tol_packages:
            entry["problems"].append(
                f"declares {declared} packages; {remaining} of the line's {line_packages} are "
                f"left to declare (tolerance {tol_packages})"
            )
            flags["packages_mismatch"] = True
        if declared >= remaining:
            expected = line_mass - before_mass
        else:
            expected = line_mass * declared / line_packages
        if expected <= 0 or abs(declared_mass - expected) > expected * tol_pct / 100:
            entry["problems"].append(
                f"declares {_plain(declared_mass)} kg gross for {declared} packages; the "
                f"manifest line gives {_plain(expected.quantize(Decimal('0.001')))} kg "
                f"(tolerance {_plain(tol_pct)} %)"
            )
            flags["weight_mismatch"] = True
        hs = ml.get("hs_code")
        if hs and str(hs)[:2] not in chapters:
            entry["problems"].append(
                f"the manifest line is HS chapter {str(hs)[:2]}; the declaration's items are "
                f"chapter(s) {', '.join(sorted(chapters))}"
            )
            flags["hs_mismatch"] = True
        entry["status"] = MISMATCH if entry["problems"] else MATCHED
        out_lines.append(entry)
    return {"lines": out_lines, **flags, "pre_arrival": sorted(lanes)}


def compare_lines(
    exported: Mapping[str, Any], reported: Mapping[str, Any], weight_pct: float
) -> list[str]:
    """What differs between the exporting customs' line and the carrier's import line.

    Both are stored line records (`packages`, `gross_mass_kg`, `hs_code`, `consignee_name`,
    `containers` as `[{number, seals}]`).  Packages and containers must agree exactly (a
    container or seal that changed on the way is what a swap looks like); gross mass within
    `weight_pct`; HS chapters where both give one; consignee names ignoring case and spaces.
    """
    out = []
    if int(exported["packages"]) != int(reported["packages"]):
        out.append(f"packages: {exported['packages']} exported, {reported['packages']} reported")
    a, b = _dec(exported["gross_mass_kg"]), _dec(reported["gross_mass_kg"])
    if abs(a - b) > max(a, b) * _dec(weight_pct) / 100:
        out.append(f"gross mass: {_plain(a)} kg exported, {_plain(b)} kg reported")
    ha, hb = exported.get("hs_code"), reported.get("hs_code")
    if ha and hb and ha[:2] != hb[:2]:
        out.append(f"HS chapter: {ha[:2]} exported, {hb[:2]} reported")
    na, nb = _norm_name(exported.get("consignee_name")), _norm_name(reported.get("consignee_name"))
    if na and nb and na != nb:
        out.append(
            f"consignee: {exported['consignee_name']!r} exported, "
            f"{reported['consignee_name']!r} reported"
        )
    ca = {c["number"]: sorted(c.get("seals") or ()) for c in exported.get("containers") or ()}
    cb = {c["number"]: sorted(c.get("seals") or ()) for c in reported.get("containers") or ()}
    if set(ca) != set(cb):
        out.append(
            f"containers: {', '.join(sorted(ca)) or 'none'} exported, "
            f"{', '.join(sorted(cb)) or 'none'} reported"
        )
    else:
        for number in sorted(ca):
            if ca[number] != cb[number]:
                out.append(
                    f"seals of {number}: {', '.join(ca[number]) or 'none'} exported, "
                    f"{', '.join(cb[number]) or 'none'} reported"
                )
    return out


def _norm_name(name: Any) -> str:
    return re.sub(r"[\s.,]+", " ", str(name or "")).strip().casefold()
