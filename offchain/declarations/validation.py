"""From pydantic's errors to `DeclarationRejected`: the first code, up to five issues, each
with its JSON path or XML element path and line.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from pydantic import ValidationError

from offchain.declarations.errors import RULE_CODES, DeclarationRejected
from offchain.declarations.model import Declaration
from offchain.declarations.paths import _xml_line

MAX_REPORTED_ISSUES = 5


def _validate(
    data: dict[str, Any], path_of: Any, root: etree._Element | None = None
) -> Declaration:
    try:
        return Declaration.model_validate(data)
    except ValidationError as exc:
        raise _rejection(exc, path_of, root) from None


def _rejection(
    exc: ValidationError, path_of: Any, root: etree._Element | None
) -> DeclarationRejected:
    errors = exc.errors(include_url=False, include_input=False)
    issues = []
    for err in errors[:MAX_REPORTED_ISSUES]:
        loc = tuple(err["loc"])
        message = err["ctx"]["detail"] if err["type"] in RULE_CODES else err["msg"]
        message = message.removeprefix("Value error, ")
        issues.append(
            {"code": _code_of(err["type"]), "path": path_of(loc), "message": message,
             "line": _xml_line(root, loc) if root is not None else None}
        )  # fmt: skip
    first = issues[0]
    detail = "; ".join(f"{i['path'] or 'declaration'}: {i['message']}" for i in issues)
    if len(errors) > MAX_REPORTED_ISSUES:
        detail += f"; and {len(errors) - MAX_REPORTED_ISSUES} more problem(s)"
    return DeclarationRejected(
        first["code"], detail, path=first["path"], line=first["line"], issues=issues
    )


def _code_of(pydantic_type: str) -> str:
    return pydantic_type if pydantic_type in RULE_CODES else "invalid_declaration"
