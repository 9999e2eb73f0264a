"""Loading a manifest, XML or JSON, into the model and the form that is anchored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lxml import etree
from pydantic import ValidationError

from offchain import documents
from offchain.declarations import MAX_JSON_DEPTH
from offchain.declarations import _json_too_deep as json_too_deep
from offchain.declarations import _no_repeated_keys as no_repeated_keys
from offchain.doctypes import CARGO_MANIFEST
from offchain.errors import DocumentRejected
from offchain.manifests.errors import RULE_CODES, ManifestRejected
from offchain.manifests.model import LoadedManifest, Manifest
from offchain.manifests.xml_form import _from_xml, _xml_line, _xml_path, manifest_to_xml
from offchain.xmlsafe import XmlLimits, load_xml

MAX_REPORTED_ISSUES = 5


def load_manifest(
    body: bytes, content_type: str | None = None, *, limits: XmlLimits | None = None
) -> LoadedManifest:
    """Load an uploaded manifest, XML or JSON (by content type, else by its first byte).

    Raises `ManifestRejected`: `unsupported_media_type`, any `xmlsafe` code, `wrong_root`,
    `schema_invalid` (with line and element path), `manifest_too_large`, `invalid_json`, or
    any code of the package docstring.
    """
    limits = limits or XmlLimits()
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.endswith("xml"):
        return load_manifest_xml(body, limits)
    if kind.endswith("json"):
        return load_manifest_json(body, limits)
    if kind and kind not in ("application/octet-stream", "text/plain"):
        raise ManifestRejected(
            "unsupported_media_type",
            f"a manifest is sent as application/xml or application/json, not {kind}",
        )
    first = body.lstrip()[:1]
    if first == b"<" or body.startswith(b"\xef\xbb\xbf<"):
        return load_manifest_xml(body, limits)
    return load_manifest_json(body, limits)


def load_manifest_xml(data: bytes, limits: XmlLimits | None = None) -> LoadedManifest:
    """An XML manifest through the hardened loader and the XSD, then the model."""
    limits = limits or XmlLimits()
    try:
        prepared = documents.prepare(data, CARGO_MANIFEST, limits=limits)
    except DocumentRejected as exc:
        raise ManifestRejected(exc.code, exc.detail, line=exc.line, issues=exc.issues) from None
    # prepare() parsed and validated the same bytes; this second parse is for the model.
    root = load_xml(data, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    manifest = _validate(_from_xml(root), _xml_path, root)
    return LoadedManifest(manifest, prepared, "xml")


def load_manifest_json(
    obj: Mapping[str, Any] | str | bytes, limits: XmlLimits | None = None
) -> LoadedManifest:
    """A JSON manifest: the model first, then its XML rendering through the same schema."""
    limits = limits or XmlLimits()
    if isinstance(obj, str | bytes | bytearray):
        raw = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else bytes(obj)
        if len(raw) > limits.max_bytes:
            raise ManifestRejected(
                "manifest_too_large",
                f"the manifest is {len(raw):,} bytes; the limit is {limits.max_bytes:,} bytes",
            )
        if json_too_deep(raw, MAX_JSON_DEPTH):
            raise ManifestRejected("invalid_json", f"JSON nested more than {MAX_JSON_DEPTH} deep")
        try:
            obj = json.loads(raw, object_pairs_hook=no_repeated_keys)
        except (ValueError, RecursionError) as exc:
            raise ManifestRejected("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise ManifestRejected(
            "invalid_json", f"a manifest is a JSON object, not {type(obj).__name__}"
        )
    manifest = _validate(dict(obj), _json_path, None)
    try:
        prepared = documents.prepare(manifest_to_xml(manifest), CARGO_MANIFEST, limits=limits)
    except DocumentRejected as exc:
        raise ManifestRejected(exc.code, exc.detail, line=exc.line, issues=exc.issues) from None
    return LoadedManifest(manifest, prepared, "json")


def _validate(data: dict[str, Any], path_of: Any, root: etree._Element | None) -> Manifest:
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        issues = []
        for err in errors[:MAX_REPORTED_ISSUES]:
            loc = tuple(err["loc"])
            message = err["ctx"]["detail"] if err["type"] in RULE_CODES else err["msg"]
            message = message.removeprefix("Value error, ")
            code = err["type"] if err["type"] in RULE_CODES else "invalid_manifest"
            issues.append(
                {"code": code, "path": path_of(loc), "message": message,
                 "line": _xml_line(root, loc) if root is not None else None}
            )  # fmt: skip
        detail = "; ".join(f"{i['path'] or 'manifest'}: {i['message']}" for i in issues)
        if len(errors) > MAX_REPORTED_ISSUES:
            detail += f"; and {len(errors) - MAX_REPORTED_ISSUES} more problem(s)"
        first = issues[0]
        raise ManifestRejected(
            first["code"], detail, path=first["path"], line=first["line"], issues=issues
        ) from None


def _json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
