"""Deploying the contracts once, and recognising a deployment we can reuse.

Why idempotent: `make run` is run again and again.  The deployment is recorded in
`var/deployments/devnet.json` with each contract's address and a hash of the bytecode it
was built from; a later start reuses it when the chain still holds that code and the
sources have not changed, and redeploys (saying why) otherwise — e.g. when the chain state
was wiped or a contract was edited.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from chain.client import RevertDecoder, chain_errors
from chain.compiler import ContractArtifact, all_abis, compile_contracts
from chain.errors import ChainError
from chain.ids import member_id_bytes, role_id
from chain.sender import TxSender
from offchain.attestation import Kind
from offchain.hexbytes import hex0x
from offchain.keystore import (
    DEPLOYER,
    Keystore,
    member_admin_name,
    oracle_account_name,
    role_account_name,
)
from offchain.settings import Settings

DEPLOY_ORDER = (
    "ConsortiumRegistry",
    "DocumentRegistry",
    "PermitRegistry",
    "AttestationHub",
    "TransportLedger",
)

Progress = Callable[[str], None]


@dataclass
class DeployedContract:
    address: str
    tx: str
    block: int
    artifact_hash: str


@dataclass
class Deployment:
    """What is deployed where, on which chain; the content of devnet.json."""

    chain_id: int
    rpc_url: str
    deployed_at: str
    deployer: str
    contracts: dict[str, DeployedContract] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ChainError(
                f"{name} is not in this deployment; run `smartcustoms deploy`"
            ) from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        data = dict(data)
        data["contracts"] = {k: DeployedContract(**v) for k, v in data["contracts"].items()}
        return cls(**data)


def artifact_hash(artifact: ContractArtifact) -> str:
    return hex0x(keccak(hexstr=artifact.bytecode))


def load_deployment(path: Path) -> Deployment | None:
    if not path.exists():
        return None
    try:
        return Deployment.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChainError(
            f"{path} is not a valid deployment record ({exc}); delete it to redeploy"
        ) from exc


def save_deployment(path: Path, deployment: Deployment) -> None:
    """Write atomically: an interrupted deploy never leaves half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        json.dump(deployment.to_json(), fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def reusable(
    w3: Web3, deployment: Deployment, artifacts: dict[str, ContractArtifact]
) -> str | None:
    """None when `deployment` can be reused on `w3`, else the reason it cannot."""
    with chain_errors():
        chain_id = w3.eth.chain_id
    if chain_id != deployment.chain_id:
        return f"recorded for chain id {deployment.chain_id}, chain has {chain_id}"
    for name in DEPLOY_ORDER:
        rec = deployment.contracts.get(name)
        if rec is None:
            return f"{name} missing from the record"
        if rec.artifact_hash != artifact_hash(artifacts[name]):
            return f"{name} changed since it was deployed"
        with chain_errors():
            code = w3.eth.get_code(Web3.to_checksum_address(rec.address))
        if len(code) == 0:
            return f"no code at {name}'s address {rec.address} (chain state was reset?)"
    return None


def fund_dev_accounts(w3: Web3, addresses: list[str], wei: int) -> bool:
    """Top up accounts on anvil; False on chains without `anvil_setBalance` (Besu: genesis)."""
    for addr in addresses:
        with chain_errors():
            resp = w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [addr, hex(wei)])
        if "error" in resp:
            return False
    return True


def genesis_args(settings: Settings, keys: Keystore) -> tuple[int, list, list]:
    """Constructor arguments of ConsortiumRegistry from the configured members."""
    members, grants = [], []
    for m in settings.members:
        admin = keys.account(member_admin_name(m.id)).address
        x25519 = bytes(keys.box_key(m.id).public_key)
        members.append((member_id_bytes(m.id), m.name, admin, x25519))
        for role in m.roles:
            account = keys.account(role_account_name(m.id, role)).address
            grants.append((role_id(role), account, member_id_bytes(m.id)))
    return settings.chain.voting_period_s, members, grants


def all_dev_accounts(settings: Settings, keys: Keystore) -> list[str]:
    addrs: list[str] = [keys.account(DEPLOYER).address]
    for m in settings.members:
        addrs.append(keys.account(member_admin_name(m.id)).address)
        addrs += [keys.account(role_account_name(m.id, r)).address for r in m.roles]
    return addrs


def ensure_deployed(
    settings: Settings,
    w3: Web3,
    *,
    force: bool = False,
    progress: Progress = lambda _msg: None,
) -> tuple[Deployment, bool]:
    """The deployment to use, and whether it was reused rather than made now."""
    artifacts = compile_contracts(settings)
    keys = Keystore(settings.keys_dir)
    existing = load_deployment(settings.deployment_file)
    if existing is not None and not force:
        why = reusable(w3, existing, artifacts)
        if why is None:
            progress(f"reusing deployment from {existing.deployed_at}")
            return existing, True
        progress(f"redeploying: {why}")
    deployment = deploy(settings, w3, artifacts, keys, progress=progress)
    save_deployment(settings.deployment_file, deployment)
    return deployment, False


def deploy(
    settings: Settings,
    w3: Web3,
    artifacts: dict[str, ContractArtifact],
    keys: Keystore,
    *,
    progress: Progress = lambda _msg: None,
) -> Deployment:
    """Deploy every contract and register the members' nodes."""
    decoder = RevertDecoder(all_abis(artifacts))
    funded = fund_dev_accounts(w3, all_dev_accounts(settings, keys), settings.chain.dev_funding_wei)
    progress(
        "funded development accounts"
        if funded
        else "chain has no anvil_setBalance; accounts must be funded in genesis"
    )
    deployer = TxSender(
        w3, keys.account(DEPLOYER), decoder, receipt_timeout_s=settings.chain.receipt_timeout_s
    )
    with chain_errors():
        chain_id = w3.eth.chain_id
    deployment = Deployment(
        chain_id=chain_id,
        rpc_url=settings.chain.rpc_url,
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        deployer=deployer.address,
    )

    def deploy_one(name: str, *args: Any) -> ChecksumAddress:
        art = artifacts[name]
        address, rc = deployer.deploy(art.abi, art.bytecode, *args)
        deployment.contracts[name] = DeployedContract(
            address=address,
            tx=Web3.to_hex(rc["transactionHash"]),
            block=rc["blockNumber"],
            artifact_hash=artifact_hash(art),
        )
        decoder.name_contract(address, name)
        progress(f"{name} at {address}")
        return address

    registry_address = deploy_one("ConsortiumRegistry", *genesis_args(settings, keys))
    registry = w3.eth.contract(address=registry_address, abi=artifacts["ConsortiumRegistry"].abi)
    for m in settings.members:
        admin = TxSender(w3, keys.account(member_admin_name(m.id)), decoder)
        admin.transact(
            registry.functions.addNode(member_id_bytes(m.id), bytes.fromhex(keys.enode_id(m.id)))
        )
        deployment.members[m.id] = {
            "name": m.name,
            "admin": admin.address,
            "enode": keys.enode_id(m.id),
            "accounts": {r: keys.account(role_account_name(m.id, r)).address for r in m.roles},
        }
    progress(f"registered {len(settings.members)} members and their nodes")

    deploy_one("DocumentRegistry", registry.address)
    deploy_one("PermitRegistry", registry.address)
    deploy_one("TransportLedger", registry.address)
    kinds = [int(k) for k in Kind]
    hub_address = deploy_one(
        "AttestationHub", registry.address, kinds, [settings.clearance.quorum] * len(kinds)
    )
    hub = w3.eth.contract(address=hub_address, abi=artifacts["AttestationHub"].abi)
    for m in settings.members:
        if "ORACLE_OPERATOR" not in m.roles:
            continue
        operator = TxSender(w3, keys.account(role_account_name(m.id, "ORACLE_OPERATOR")), decoder)
        operator.send_many(
            [
                hub.functions.registerOracle(
                    keys.account(oracle_account_name(m.id, k.name)).address, int(k)
                )
                for k in Kind
            ]
        )
        deployment.members[m.id]["oracles"] = {
            k.name: keys.account(oracle_account_name(m.id, k.name)).address for k in Kind
        }
    progress("registered each member's oracle signers (one per kind)")
    return deployment
