"""Build a member's oracle instances (one per kind it runs) from the settings.

Used by the instance process (`smartcustoms oracle serve --member TW`), by tests and the
benchmark (in process).  New oracle kinds (tariff, X-ray, audit) plug in here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chain.context import Chain
from offchain import attestation as att
from offchain.db import Database
from offchain.keystore import oracle_account_name
from offchain.settings import Settings
from offchain.tariff import TariffTable
from oracles.audit.model import AuditModel
from oracles.audit.oracle import AuditOracle
from oracles.audit.settings import audit_settings
from oracles.audit.settings import model_dir as audit_model_dir
from oracles.base import OracleInstance
from oracles.clearance.oracle import ClearanceOracle
from oracles.clearance.selectivity import load_rules
from oracles.store import ResultStore
from oracles.tariff.oracle import tariff_oracle
from oracles.xray import xray_oracle
from oracles.xray.oracle import XrayOracle  # models are cached per process and folder

SEED_NAME = "clearance/selection-seed"


@lru_cache(maxsize=4)
def _tariff(folder: Path) -> TariffTable:
    return TariffTable.load(folder)


def clearance_oracle(settings: Settings, chain: Chain) -> ClearanceOracle:
    """The clearance oracle with this installation's tariff, rules and sampling seed.

    The seed is one secret of the consortium: every instance must draw the same random
    selections, so on one machine it comes from the shared keystore; in a real network the
    members exchange it out of band (it never goes on chain).
    """
    c = settings.clearance
    return ClearanceOracle(
        chain, _tariff(c.tariff_dir), load_rules(c.rules_file), chain.keys.secret(SEED_NAME)
    )


def audit_oracle(settings: Settings) -> AuditOracle | None:
    """The AUDIT oracle when a trained model exists (`smartcustoms audit train`), else None.

    Every member must run the same model directory (its version is a hash of its files).
    """
    folder = audit_model_dir(settings)
    if not (folder / "card.json").exists():
        return None
    return AuditOracle(_audit_model(folder), audit_settings(settings).select_pct)


@lru_cache(maxsize=4)
def _audit_model(folder: Path) -> AuditModel:
    return AuditModel.load(folder)


def _xray_oracle(settings: Settings) -> XrayOracle:
    """The XRAY oracle (its ONNX file hash-checked at load); requests carry the image."""
    return xray_oracle(settings)


def member_instances(
    settings: Settings, member_id: str, chain: Chain | None = None, *, store: bool = True
) -> dict[int, OracleInstance]:
    """kind -> OracleInstance for the oracles `member_id` operates."""
    chain = chain or Chain(settings)
    results = None
    if store:
        results = ResultStore(Database(settings.home / "oracles" / member_id / "results.sqlite"))
    hub = chain.attestations.address
    chain_id = chain.deployment.chain_id
    oracles = {
        att.CLEARANCE: clearance_oracle(settings, chain),
        att.TARIFF: tariff_oracle(settings),
    }
    audit = audit_oracle(settings)
    if audit is not None:
        oracles[att.AUDIT] = audit
    oracles[att.XRAY] = _xray_oracle(settings)
    return {
        int(kind): OracleInstance(
            name=member_id,
            oracle=oracle,
            account=chain.keys.account(oracle_account_name(member_id, kind.name)),
            chain_id=chain_id,
            hub_address=hub,
            store=results,
        )
        for kind, oracle in oracles.items()
    }


def instance_url(settings: Settings, member_id: str) -> str:
    ids = [m.id for m in settings.members]
    return (
        f"http://{settings.node_host}:{settings.clearance.oracle_base_port + ids.index(member_id)}"
    )
