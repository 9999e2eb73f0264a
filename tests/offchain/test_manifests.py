"""Cargo manifests: XML and JSON forms, the checks beyond the schema, hostile input, the
plausibility of arrival, and the matching of a declaration's cited lines (issue #18)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from offchain.manifests import (
    EXHAUSTED,
    MATCHED,
    MISMATCH,
    UNKNOWN,
    ManifestRejected,
    check_arrival,
    compare_lines,
    container_check_digit,
    is_late,
    load_manifest,
    load_manifest_json,
    load_manifest_xml,
    manifest_to_xml,
    match_citations,
)
from offchain.settings import REPO_ROOT
from offchain.xmlsafe import XmlLimits

EXAMPLES = REPO_ROOT / "examples" / "manifests"
SEA_XML = (EXAMPLES / "sea-import-sgsin-twkel.xml").read_bytes()
AIR_JSON = json.loads((EXAMPLES / "air-import-nzakl-twtpe.json").read_text())


def air(**fields) -> dict:
    return {**json.loads(json.dumps(AIR_JSON)), **fields}


def rejected(body, content_type=None, limits=None) -> ManifestRejected:
    with pytest.raises(ManifestRejected) as caught:
        load_manifest(body, content_type, limits=limits)
    return caught.value


# -- loading ----------------------------------------------------------------------------------


def test_the_xml_example_loads_with_its_lines_and_hash():
    loaded = load_manifest(SEA_XML, "application/xml")
    m = loaded.manifest
    assert (loaded.form, m.type, m.loading_port, m.discharge_port) == (
        "xml",
        "IM",
        "SGSIN",
        "TWKEL",
    )
    assert [line.key for line in m.lines] == [("XSOL250412001", 1), ("XSOL250412002", 1),
                                              ("XSOL250412003", 1)]  # fmt: skip
    assert m.lines[0].containers[0].seals == ("SG2025041201",)
    assert m.lines[1].hs_code is None and m.lines[2].hs_code == "390210"
    assert loaded.doc_hash.startswith("0x") and len(loaded.doc_hash) == 66
    assert loaded.prepared.summary["item_count"] == 3


def test_formatting_does_not_change_the_hash_but_content_does():
    base = load_manifest_xml(SEA_XML).doc_hash
    reindented = SEA_XML.replace(b"\n      ", b"\n  ").replace(b"<!-- An arrival", b"<!-- Arrival")
    assert load_manifest_xml(reindented).doc_hash == base
    changed = SEA_XML.replace(b"<Quantity>46</Quantity>", b"<Quantity>47</Quantity>").replace(
        b"<PackageQuantity>966", b"<PackageQuantity>967"
    )
    assert load_manifest_xml(changed).doc_hash != base


def test_json_and_its_xml_rendering_are_the_same_manifest_and_hash():
    from_json = load_manifest_json(json.dumps(AIR_JSON).encode())
    from_xml = load_manifest_xml(manifest_to_xml(from_json.manifest))
    assert from_json.manifest == from_xml.manifest
    assert from_json.doc_hash == from_xml.doc_hash
    assert from_json.manifest.lines[1].gross_mass_kg == from_xml.manifest.lines[1].gross_mass_kg


def test_the_form_is_sniffed_without_a_content_type():
    assert load_manifest(SEA_XML).form == "xml"
    assert load_manifest(json.dumps(AIR_JSON).encode()).form == "json"


def test_another_media_type_is_415():
    err = rejected(SEA_XML, "text/csv")
    assert (err.code, err.http_status) == ("unsupported_media_type", 415)


# -- hostile and malformed input ----------------------------------------------------------


@pytest.mark.parametrize(
    "body, code, status",
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CargoManifest/>',
         "xml_forbidden_dtd", 400),
        (b'<CargoManifest xmlns="urn:smartcustoms:doc:cargo-manifest:1">&xxe;</CargoManifest>',
         "xml_entity", 400),
        (b'<?xml version="1.0"?><?xml-stylesheet href="x"?><CargoManifest/>',
         "xml_forbidden_pi", 400),
        ('<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"), "xml_not_utf8", 400),
        (b"<CargoManifest><unclosed></CargoManifest>", "xml_malformed", 400),
        (b"<a>" * 100 + b"</a>" * 100, "xml_too_deep", 400),
        (b'<CertificateOfOrigin xmlns="urn:smartcustoms:doc:certificate-of-origin:1"/>',
         "wrong_root", 422),
    ],
)  # fmt: skip
def test_hostile_or_malformed_xml_is_refused_by_the_hardened_loader(body, code, status):
    err = rejected(body, "application/xml")
    assert (err.code, err.http_status) == (code, status)


def test_billion_laughs_never_reaches_the_parser():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(f'<!ENTITY lol{i} "{"&lol;" * 10}">'.encode() for i in range(1, 9))
        + b"]><CargoManifest>&lol8;</CargoManifest>"
    )
    assert rejected(bomb, "application/xml").code == "xml_forbidden_dtd"


def test_a_too_large_upload_is_413_before_parsing():
    limits = XmlLimits(max_bytes=1024, max_depth=64)
    assert rejected(SEA_XML, "application/xml", limits).http_status == 413
    err = rejected(json.dumps(AIR_JSON).encode(), "application/json", limits)
    assert (err.code, err.http_status) == ("manifest_too_large", 413)


def test_schema_errors_name_the_line_and_element():
    bad = SEA_XML.replace(b"<TypeCode>PL</TypeCode>", b"<TypeCode>pallet</TypeCode>")
    err = rejected(bad, "application/xml")
    assert err.code == "schema_invalid" and err.http_status == 422
    assert "/CargoManifest/Lines/Line[1]/Packages/TypeCode" in err.detail and err.line


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"{not json", b'{"manifest_id": "A", "manifest_id": "B"}', b"[" * 5000],
)
def test_bad_json_is_400(body):
    err = rejected(body, "application/json")
    assert (err.code, err.http_status) == ("invalid_json", 400)


def test_a_wrong_container_check_digit_is_refused_with_the_right_digit():
    bad = SEA_XML.replace(b"SOLU1234560", b"SOLU1234561")
    err = rejected(bad, "application/xml")
    assert err.code == "invalid_container" and "should be 0" in err.detail
    assert err.path == "/CargoManifest/Lines/Line[1]/Containers/Container[1]/ID"
    assert container_check_digit("CSQU305438") == 3  # the ISO 6346 example


@pytest.mark.parametrize(
    "change, code, path",
    [
        ({"loading_port": "XXAKL"}, "invalid_country", "loading_port"),
        ({"loading_port": "nzakl"}, "invalid_location", "loading_port"),
        ({"discharge_port": "NZAKL"}, "same_port", ""),
        ({"departure": "2025-04-16T09:30:00+12:00"}, "invalid_dates", ""),
        ({"arrival": "2025-04-15T17:45:00"}, "invalid_datetime", "arrival"),
        ({"totals": {"line_count": 2, "packages": 86, "gross_mass_kg": "1642.5"}},
         "totals_mismatch", ""),
    ],
)  # fmt: skip
def test_checks_beyond_the_schema(change, code, path):
    err = rejected(json.dumps(air(**change)).encode(), "application/json")
    assert err.code == code, err.detail
    assert (err.path or "").startswith(path)
    assert err.http_status == 422


def test_a_transport_document_line_twice_is_refused():
    doc = air()
    doc["lines"][1]["transport_document"] = dict(doc["lines"][0]["transport_document"])
    err = rejected(json.dumps(doc).encode(), "application/json")
    assert err.code == "duplicate_line" and "999-12345675 line 1" in err.detail


@pytest.mark.parametrize(
    "line_change",
    [{"hs_code": "02"}, {"hs_code": 20230}, {"packages": 0}, {"package_type": "carton"},
     {"consignee": {"name": "X", "country": "TW", "id": "1"}}],
)  # fmt: skip
def test_a_malformed_line_is_refused_with_its_path(line_change):
    doc = air()
    doc["lines"][0].update(line_change)
    err = rejected(json.dumps(doc).encode(), "application/json")
    assert err.path.startswith("lines[0]") and err.http_status == 422


# -- plausibility when lodged --------------------------------------------------------------


def test_arrival_window_and_lateness():
    m = load_manifest_json(air()).manifest
    arrival = m.arrival
    check_arrival(m, now=arrival - timedelta(days=10), ahead_days=90, age_days=30)
    with pytest.raises(ManifestRejected) as far:
        check_arrival(m, now=arrival - timedelta(days=91), ahead_days=90, age_days=30)
    assert far.value.code == "arrival_too_far"
    with pytest.raises(ManifestRejected) as old:
        check_arrival(m, now=arrival + timedelta(days=31), ahead_days=90, age_days=30)
    assert old.value.code == "arrival_too_old"
    assert not is_late(m, arrival - timedelta(minutes=1))
    assert is_late(m, arrival + timedelta(minutes=1))
    assert is_late(m, arrival - timedelta(hours=1), lead_h=2)
    assert arrival.astimezone(UTC) == datetime(2025, 4, 15, 9, 45, tzinfo=UTC)


# -- matching -----------------------------------------------------------------------------

LINE = {"packages": 46, "gross_mass_kg": "4450", "hs_code": "8482"}
TOLERANCES = {"packages": 0, "weight_pct": "5"}


def citation(packages=46, mass="4450", before=(0, "0"), **extra) -> dict:
    return {
        "number": "XSOL250412001", "line": 1, "packages": packages, "gross_mass_kg": mass,
        "found": True, "manifest": {"manifest_id": "MF-1", "doc_hash": "0x" + "11" * 32},
        "manifest_line": {**LINE, **extra.pop("line", {})},
        "declared_before": {"packages": before[0], "gross_mass_kg": before[1]}, **extra,
    }  # fmt: skip


def test_a_full_match():
    out = match_citations(["848210", "848340"], [citation()], TOLERANCES)
    (line,) = out["lines"]
    assert line["status"] == MATCHED and line["problems"] == []
    assert line["remaining_packages"] == 46 and line["manifest_id"] == "MF-1"
    assert not any(out[k] for k in ("unknown", "exhausted", "packages_mismatch",
                                    "weight_mismatch", "hs_mismatch"))  # fmt: skip


def test_an_unknown_line():
    out = match_citations(["848210"], [{**citation(), "found": False}], TOLERANCES)
    assert out["lines"][0]["status"] == UNKNOWN and out["unknown"] is True


def test_a_fully_declared_line_is_exhausted():
    out = match_citations(["848210"], [citation(before=(46, "4450"))], TOLERANCES)
    assert out["lines"][0]["status"] == EXHAUSTED and out["exhausted"] is True


def test_split_declarations_match_their_share():
    first = match_citations(["848210"], [citation(packages=20, mass="1934.8")], TOLERANCES)
    assert first["lines"][0]["status"] == MATCHED
    rest = match_citations(
        ["848210"], [citation(packages=26, mass="2515.2", before=(20, "1934.8"))], TOLERANCES
    )
    assert rest["lines"][0]["status"] == MATCHED


@pytest.mark.parametrize(
    "cite, flag",
    [
        (citation(packages=47), "packages_mismatch"),
        (citation(mass="4700"), "weight_mismatch"),
        (citation(line={"hs_code": "3902"}), "hs_mismatch"),
    ],
)
def test_mismatches_beyond_tolerance_are_each_named(cite, flag):
    out = match_citations(["848210"], [cite], TOLERANCES)
    assert out["lines"][0]["status"] == MISMATCH and out[flag] is True
    assert len(out["lines"][0]["problems"]) == 1


def test_within_tolerance_is_a_match():
    loose = {"packages": 1, "weight_pct": "10"}
    out = match_citations(["848210"], [citation(packages=47, mass="4700")], loose)
    assert out["lines"][0]["status"] == MATCHED


def test_pre_arrival_lanes_and_lateness_carry_over():
    flags = [{"rule": "WATCHLIST-IMPORTER", "channel": "C3", "text": "x"},
             {"rule": "MF-LATE", "channel": "C2", "text": "y"}]  # fmt: skip
    cite = citation(pre_arrival=flags)
    cite["manifest"]["late"] = True
    out = match_citations(["848210"], [cite], TOLERANCES)
    assert out["pre_arrival"] == ["C2", "C3"] and out["late"] is True


def test_malformed_findings_raise_value_error():
    with pytest.raises(ValueError):
        match_citations(["848210"], [citation(mass="NaN")], TOLERANCES)


def test_compare_lines_names_every_difference():
    exported = {"packages": 46, "gross_mass_kg": "4450", "hs_code": "8482",
                "consignee_name": "Formosa Precision Spindle Co., Ltd.",
                "containers": [{"number": "SOLU1234560", "seals": ["SG1"]}]}  # fmt: skip
    same = {**exported, "consignee_name": "FORMOSA PRECISION SPINDLE CO LTD"}
    assert compare_lines(exported, same, 5) == []
    swapped = {**exported, "containers": [{"number": "SOLU1234560", "seals": ["SG9"]}],
               "packages": 40}  # fmt: skip
    diffs = compare_lines(exported, swapped, 5)
    assert any(d.startswith("packages") for d in diffs)
    assert any(d.startswith("seals of SOLU1234560") for d in diffs)
