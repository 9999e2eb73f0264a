"""`chain/bin/solc`: a `solc`-compatible front of npm solc-js that py-solc-x can drive."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import solcx
from solcx.wrapper import get_solc_version

from chain.compiler import NODE_MODULES, SOLC_SHIM

SMALL = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Small { function one() external pure returns (uint256) { return 1; } }
"""


def _input(sources: dict[str, str], outputs: list[str] | None = None) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": {"outputSelection": {"*": {"*": outputs or ["abi", "evm.bytecode.object"]}}},
    }


def _shim(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SOLC_SHIM), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_version_is_understood_by_py_solc_x() -> None:
    npm_version = json.loads((NODE_MODULES / "solc" / "package.json").read_text())["version"]
    version = get_solc_version(SOLC_SHIM, with_commit_hash=True)
    assert version.release[:2] == (0, 8)
    assert version.base_version == npm_version
    assert version.local is not None and version.local.startswith("commit.")
    out = _shim("--version").stdout
    assert f"Version: {npm_version}+commit." in out
    assert "Emscripten" not in out


def test_standard_json_compiles_a_small_contract() -> None:
    done = _shim("--standard-json", stdin=json.dumps(_input({"Small.sol": SMALL})))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("{")
    small = json.loads(done.stdout)["contracts"]["Small.sol"]["Small"]
    assert small["abi"][0]["name"] == "one"
    assert len(small["evm"]["bytecode"]["object"]) > 100
    int(small["evm"]["bytecode"]["object"], 16)


def test_py_solc_x_compiles_through_the_shim() -> None:
    out = solcx.compile_standard(_input({"Small.sol": SMALL}), solc_binary=SOLC_SHIM)
    assert "Small" in out["contracts"]["Small.sol"]


def test_output_larger_than_a_pipe_buffer_is_complete() -> None:
    fns = "\n".join(
        f"    function f{i}(uint256 x) external pure returns (uint256) {{ return x * {i + 2}; }}"
        for i in range(30)
    )
    sources = {
        f"C{n}.sol": f"// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        f"contract C{n} {{\n{fns}\n}}\n"
        for n in range(12)
    }
    outputs = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]
    done = _shim("--standard-json", stdin=json.dumps(_input(sources, outputs)))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.encode()) > 64 * 1024 * 2
    contracts = json.loads(done.stdout)["contracts"]
    assert sorted(contracts) == sorted(sources)
    assert all(len(contracts[f"C{n}.sol"][f"C{n}"]["abi"]) == 30 for n in range(12))


def test_input_larger_than_a_pipe_buffer_compiles_every_time() -> None:
    """solc.js reads stdin with readFileSync, which dies with EAGAIN when a pipe runs dry.

    Once the input outgrew the 64 KiB pipe buffer that happened about half the time, so the
    shim must hand solc-js a file; the failure is a race, hence several attempts at once.
    """
    padding = "// " + "padding " * 10 + "\n"
    big = SMALL.replace("contract Small", padding * 3000 + "contract Small")
    standard_input = json.dumps(_input({"Big.sol": big}))
    assert len(standard_input) > 3 * 64 * 1024
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda _: _shim("--standard-json", stdin=standard_input), range(6)))
    failures = [r.stderr.strip().splitlines()[:8] for r in runs if r.returncode != 0]
    assert failures == [], f"{len(failures)} of {len(runs)} compiles failed: {failures[0]}"
    assert all("Small" in json.loads(r.stdout)["contracts"]["Big.sol"] for r in runs)


def test_imports_resolve_from_base_path_and_node_modules(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Base.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract Base {}\n"
    )
    main = (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        'import {Base} from "lib/Base.sol";\n'
        'import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";\n'
        "contract Main is Base { function s() external pure returns (string memory) "
        "{ return Strings.toString(uint256(7)); } }\n"
    )
    done = _shim(
        "--standard-json",
        "--base-path",
        str(tmp_path),
        stdin=json.dumps(_input({"Main.sol": main})),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert not [e for e in out.get("errors", []) if e["severity"] == "error"], out["errors"]
    assert out["contracts"]["Main.sol"]["Main"]["evm"]["bytecode"]["object"]


@pytest.mark.parametrize("args", [[], ["--bin", "x.sol"], ["--optimize", "--abi", "x.sol"]])
def test_unsupported_command_lines_exit_2_with_a_message(args: list[str]) -> None:
    done = _shim(*args)
    assert done.returncode == 2
    assert "only --version and --standard-json are supported" in done.stderr
    assert done.stdout == ""


def _fake_solcjs(tmp_path: Path, body: str) -> dict[str, str]:
    script = tmp_path / "solc.js"
    script.write_text(body)
    return {"SMARTCUSTOMS_SOLCJS": str(script)}


def test_banner_lines_before_the_json_are_stripped(tmp_path: Path) -> None:
    env = _fake_solcjs(
        tmp_path,
        """
        let input = "";
        process.stdin.on("data", (d) => { input += d; });
        process.stdin.on("end", () => {
          process.stdout.write(">>> Cannot retry compilation with SMT because there are no SMT solvers available.\\n");
          process.stdout.write("another banner line\\n");
          process.stdout.write(JSON.stringify({echo: JSON.parse(input).language}));
          process.exit(0);
        });
    """,
    )
    done = _shim("--standard-json", stdin=json.dumps({"language": "Solidity"}), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": "Solidity"}


def test_non_json_output_is_reported_with_a_failing_exit_code(tmp_path: Path) -> None:
    env = _fake_solcjs(tmp_path, 'console.log("internal compiler error"); process.exit(3);')
    done = _shim("--standard-json", stdin="{}", env=env)
    assert done.returncode == 3
    assert "internal compiler error" in done.stderr
    assert done.stdout == ""


def test_missing_solcjs_says_how_to_install_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "solc.js"
    done = _shim("--version", env={"SMARTCUSTOMS_SOLCJS": str(missing)})
    assert done.returncode == 2
    assert str(missing) in done.stderr
    assert "npm ci" in done.stderr
