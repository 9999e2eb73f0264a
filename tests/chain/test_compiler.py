"""Compiling through the solc-js bridge, with a cache keyed by everything that changes output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import chain.compiler as compiler
from chain.compiler import ContractArtifact, cache_key, compile_contracts
from chain.errors import CompileError
from offchain.settings import Settings

HEADER = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
COUNTER = (
    HEADER
    + """
contract Counter {
    uint256 public count;
    event Bumped(uint256 count);
    function bump() external { count += 1; emit Bumped(count); }
    function idle() external pure { uint256 unused; } // a warning, which must not fail
}
"""
)
TOKEN = (
    HEADER
    + """
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract Token is ERC20 { constructor() ERC20("Token", "TOK") { _mint(msg.sender, 1000); } }
"""
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ContractArtifact]]:
    """A project dir with Counter.sol, compiled once for the module (a compile takes seconds)."""
    root = tmp_path_factory.mktemp("built")
    (root / "contracts").mkdir()
    (root / "contracts" / "Counter.sol").write_text(COUNTER)
    return root, compile_contracts(Settings(home=root / "var"), contracts_dir=root / "contracts")


@pytest.fixture
def project(tmp_path: Path, built: tuple[Path, dict[str, ContractArtifact]]) -> Path:
    """A private copy of the built project, its compile cache included."""
    shutil.copytree(built[0], tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def home(project: Path) -> Settings:
    return Settings(home=project / "var")


@pytest.fixture
def contracts(project: Path) -> Path:
    return project / "contracts"


def test_compiles_to_artifacts_with_abi_and_bytecode(
    built: tuple[Path, dict[str, ContractArtifact]],
) -> None:
    artifacts = built[1]
    assert set(artifacts) == {"Counter"}
    counter = artifacts["Counter"]
    assert counter.source == "contracts/Counter.sol"
    assert {item.get("name") for item in counter.abi} >= {"count", "bump", "Bumped"}
    assert counter.bytecode.startswith("0x6080") and len(counter.bytecode) > 100
    assert counter.deployed_bytecode.startswith("0x") and len(counter.deployed_bytecode) > 100
    assert counter.bytecode != counter.deployed_bytecode


def test_second_compile_comes_from_the_cache(
    home: Settings,
    contracts: Path,
    built: tuple[Path, dict[str, ContractArtifact]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [cached] = home.build_dir.glob("contracts-*.json")
    mtime = cached.stat().st_mtime_ns

    def no_solc(*_args: object) -> None:
        raise AssertionError("solc ran although the sources did not change")

    monkeypatch.setattr(compiler, "_run_solc", no_solc)
    second = compile_contracts(home, contracts_dir=contracts)
    assert second == built[1]
    assert all(isinstance(a, ContractArtifact) for a in second.values())
    assert cached.stat().st_mtime_ns == mtime
    assert [p.name for p in home.build_dir.iterdir()] == [cached.name]  # no temp files left

    with pytest.raises(AssertionError, match="solc ran"):
        compile_contracts(home, contracts_dir=contracts, force=True)


def test_changing_a_source_changes_the_cache_key(home: Settings, contracts: Path) -> None:
    sources = {"contracts/Counter.sol": COUNTER}
    edited = {"contracts/Counter.sol": COUNTER.replace("+= 1", "+= 2")}
    renamed = {"contracts/Other.sol": COUNTER}
    assert cache_key(sources) == cache_key(dict(sources))
    assert len({cache_key(sources), cache_key(edited), cache_key(renamed)}) == 3

    before = compile_contracts(home, contracts_dir=contracts)  # from the cache
    (contracts / "Counter.sol").write_text(COUNTER.replace("+= 1", "+= 2"))
    after = compile_contracts(home, contracts_dir=contracts)
    assert after["Counter"].bytecode != before["Counter"].bytecode
    assert len(list(home.build_dir.glob("contracts-*.json"))) == 2


def test_compiler_settings_are_part_of_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    sources = {"contracts/Counter.sol": COUNTER}
    before = cache_key(sources)
    monkeypatch.setitem(compiler.COMPILER_SETTINGS, "optimizer", {"enabled": False})
    assert cache_key(sources) != before


@pytest.mark.parametrize(
    "prefix", ["", "// 税關 — ünïcödé comment\n// another line\n"], ids=["ascii", "multibyte"]
)
def test_syntax_error_names_file_line_and_type(
    home: Settings, contracts: Path, prefix: str
) -> None:
    lines = [*HEADER.splitlines(), *prefix.splitlines(), "contract Bad {", "    uint256 x = ;", "}"]
    (contracts / "Bad.sol").write_text("\n".join(lines) + "\n")
    bad_line = lines.index("    uint256 x = ;") + 1
    with pytest.raises(CompileError) as caught:
        compile_contracts(home, contracts_dir=contracts)
    [problem] = caught.value.problems
    assert problem.startswith(f"contracts/Bad.sol:{bad_line}: ParserError: ")
    assert "Expected" in problem
    assert str(caught.value).startswith("Solidity compilation failed:\n")
    assert len(list(home.build_dir.iterdir())) == 1  # only the cache of the good sources


def test_type_error_is_reported_and_warnings_are_not(home: Settings, contracts: Path) -> None:
    (contracts / "Typed.sol").write_text(
        HEADER + "contract Typed {\n    function f() external pure returns (bool) {\n"
        '        return "text";\n    }\n}\n'
    )
    with pytest.raises(CompileError) as caught:
        compile_contracts(home, contracts_dir=contracts)
    # Counter.sol's warning is not among the problems
    assert [p.split(": ")[:2] for p in caught.value.problems] == [
        ["contracts/Typed.sol:5", "TypeError"]
    ]


def test_openzeppelin_import_resolves(home: Settings, contracts: Path) -> None:
    (contracts / "Token.sol").write_text(TOKEN)
    artifacts = compile_contracts(home, contracts_dir=contracts)
    assert {"Counter", "Token"} <= set(artifacts)
    assert "ERC20" not in artifacts  # only our sources' contracts are artifacts
    assert any(item.get("name") == "transfer" for item in artifacts["Token"].abi)


def test_missing_npm_package_says_to_run_npm_ci(
    home: Settings, contracts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "node_modules"
    empty.mkdir()
    monkeypatch.setattr(compiler, "NODE_MODULES", empty)
    with pytest.raises(CompileError) as caught:
        compile_contracts(home, contracts_dir=contracts)
    [problem] = caught.value.problems
    assert str(empty / "solc" / "package.json") in problem
    assert "npm package solc is missing" in problem
    assert "npm ci" in problem


def test_empty_contracts_dir_is_an_error(home: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(CompileError, match="no Solidity sources found"):
        compile_contracts(home, contracts_dir=empty)
