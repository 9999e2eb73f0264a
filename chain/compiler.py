"""Compile the Solidity contracts through solc-js, with a cache keyed by source hash.

Why a bridge: native solc cannot be downloaded here, so `chain/bin/solc` (a
`solc`-compatible front for npm's solc-js) is handed to py-solc-x.  A compile costs a few
seconds, so its output is cached under `var/build/` by a hash of every input that can
change the bytecode: our sources, the OpenZeppelin version, the compiler version and the
compiler settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from chain.errors import CompileError
from offchain.settings import REPO_ROOT, Settings, get_settings

CONTRACTS_DIR = REPO_ROOT / "contracts"
NODE_MODULES = REPO_ROOT / "node_modules"
SOLC_SHIM = REPO_ROOT / "chain" / "bin" / "solc"

# One place for compiler settings; brownie-config.yaml mirrors them for brownie users.
COMPILER_SETTINGS: dict[str, Any] = {
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


@dataclass(frozen=True)
class ContractArtifact:
    """What deployment and facades need of one compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


def _package_version(package: str) -> str:
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.exists():
        raise CompileError(
            [f"{manifest}: npm package {package} is missing; run `npm ci` (or `make setup`)"]
        )
    return json.loads(manifest.read_text())["version"]


def _sources(contracts_dir: Path) -> dict[str, str]:
    files = sorted(contracts_dir.rglob("*.sol"))
    if not files:
        raise CompileError([f"{contracts_dir}: no Solidity sources found"])
    return {str(p.relative_to(contracts_dir.parent)): p.read_text() for p in files}


def cache_key(sources: dict[str, str]) -> str:
    """Hash of everything that determines the compiler output."""
    h = hashlib.sha256()
    h.update(_package_version("solc").encode())
    h.update(_package_version("@openzeppelin/contracts").encode())
    h.update(json.dumps(COMPILER_SETTINGS, sort_keys=True).encode())
    for path, text in sorted(sources.items()):
        h.update(path.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:32]


def compile_contracts(
    settings: Settings | None = None,
    *,
    contracts_dir: Path = CONTRACTS_DIR,
    force: bool = False,
) -> dict[str, ContractArtifact]:
    """All contracts under `contracts/`, by name; compiled once per source change."""
    settings = settings or get_settings()
    sources = _sources(contracts_dir)
    key = cache_key(sources)
    cache = settings.build_dir / f"contracts-{key}.json"
    if cache.exists() and not force:
        return _load(cache)
    output = _run_solc(sources, contracts_dir.parent)
    artifacts = _collect(output, sources)
    _store(cache, artifacts)
    return artifacts


def _run_solc(sources: dict[str, str], base: Path) -> dict[str, Any]:
    standard_input = {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": COMPILER_SETTINGS,
    }
    try:
        output = solcx.compile_standard(
            standard_input,
            solc_binary=SOLC_SHIM,
            base_path=str(base),
            allow_paths=[str(base), str(NODE_MODULES)],
        )
    except SolcError as exc:
        try:
            output = json.loads(exc.stdout_data or "")  # none when solc printed nothing
        except ValueError:
            raise CompileError([str(exc)]) from exc
        problems = _problems(output, sources, severity="error") or [str(exc)]
        raise CompileError(problems) from exc
    problems = _problems(output, sources, severity="error")
    if problems:
        raise CompileError(problems)
    return output


def _problems(output: dict[str, Any], sources: dict[str, str], severity: str) -> list[str]:
    """Compiler diagnostics as `file:line: Type: message` lines."""
    lines = []
    for err in output.get("errors", []):
        if err.get("severity") != severity:
            continue
        loc = err.get("sourceLocation") or {}
        file = loc.get("file", "<solc>")
        line = _line_of(file, loc.get("start", -1), sources)
        where = f"{file}:{line}" if line else file
        lines.append(f"{where}: {err.get('type', 'Error')}: {err.get('message', '').strip()}")
    return lines


def _line_of(file: str, offset: int, sources: dict[str, str]) -> int | None:
    if offset is None or offset < 0:
        return None
    text = sources.get(file)
    if text is None:
        candidate = REPO_ROOT / file
        if not candidate.exists():
            candidate = NODE_MODULES / file.removeprefix("node_modules/")
        if not candidate.exists():
            return None
        text = candidate.read_text()
    return text.encode()[:offset].count(b"\n") + 1


def _collect(output: dict[str, Any], sources: dict[str, str]) -> dict[str, ContractArtifact]:
    artifacts: dict[str, ContractArtifact] = {}
    for path in sources:
        for name, data in output.get("contracts", {}).get(path, {}).items():
            artifacts[name] = ContractArtifact(
                name=name,
                source=path,
                abi=data["abi"],
                bytecode="0x" + data["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
            )
    return artifacts


def _store(cache: Path, artifacts: dict[str, ContractArtifact]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({n: a.__dict__ for n, a in artifacts.items()})
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
    os.replace(tmp, cache)


def _load(cache: Path) -> dict[str, ContractArtifact]:
    return {n: ContractArtifact(**a) for n, a in json.loads(cache.read_text()).items()}


def all_abis(artifacts: dict[str, ContractArtifact]) -> dict[str, list[dict[str, Any]]]:
    return {n: a.abi for n, a in artifacts.items()}
