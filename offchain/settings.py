"""The one settings object of Smart Customs.

Every tunable lives here, read (in order of precedence) from `SMARTCUSTOMS_*` environment
variables, then from a TOML file (`SMARTCUSTOMS_CONFIG`, default `smartcustoms.toml` in the
working directory if present), then the embedded defaults below, which run the whole
consortium on one machine.

Why one object: a deployment that moves from the embedded anvil to a Besu network, or
from `var/` to a mounted volume, changes a file or two variables, not code.
Nested sections are set from the environment with `__`, e.g.
`SMARTCUSTOMS_CHAIN__RPC_URL=http://10.0.0.5:8545`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from offchain.dates import DateWindow
from offchain.errors import CodedError

REPO_ROOT = Path(__file__).resolve().parents[1]

ROLE_NAMES = ("ISSUER", "VERIFIER", "ORACLE_OPERATOR", "AUDITOR", "PERMIT_AGENCY")


class MemberConfig(BaseModel):
    """A customs administration of the consortium and the roles its accounts receive at genesis."""

    id: str = Field(min_length=1, max_length=31, pattern=r"^[A-Z][A-Z0-9_-]*$")
    name: str
    api_port: int = Field(ge=1, le=65535)
    roles: list[str] = Field(default_factory=lambda: list(ROLE_NAMES))
    url: str = ""  # where other nodes reach this member's node; empty: node_host:api_port

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - set(ROLE_NAMES))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; known roles: {list(ROLE_NAMES)}")
        return roles


def _default_members() -> list[MemberConfig]:
    return [
        MemberConfig(id="TW", name="Taiwan Customs Administration", api_port=8000),
        MemberConfig(id="SG", name="Singapore Customs", api_port=8001),
        MemberConfig(id="NZ", name="New Zealand Customs Service", api_port=8002),
    ]


class ChainSettings(BaseModel):
    """Where the chain is and how we talk to it."""

    rpc_url: str = ""  # empty: the embedded anvil at anvil_host:anvil_port
    chain_id: int = 31337
    anvil_host: str = "127.0.0.1"
    anvil_port: int = 8545
    anvil_state_interval_s: int = 2
    request_timeout_s: float = 10.0
    receipt_timeout_s: float = 60.0
    voting_period_s: int = 7 * 24 * 3600
    event_page_blocks: int = 2_000
    dev_funding_wei: int = 10_000 * 10**18

    @model_validator(mode="after")
    def _default_rpc_url(self) -> ChainSettings:
        if not self.rpc_url:
            self.rpc_url = f"http://{self.anvil_host}:{self.anvil_port}"
        return self


class DocumentSettings(BaseModel):
    """Trade documents: limits on what is accepted, batching, delivery."""

    max_xml_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_xml_depth: int = Field(64, ge=4, le=255)  # libxml2 stops at 256 levels
    max_batch: int = Field(1024, ge=1, le=1024)  # DocumentRegistry.MAX_BATCH_SIZE
    batch_interval_s: float = Field(2.0, gt=0)
    delivery_base_s: float = Field(1.0, gt=0)
    delivery_cap_s: float = Field(300.0, gt=0)
    envelope_max_skew_s: int = Field(300, ge=5)


class DateSettings(BaseModel):
    """How far from today (UTC) a date the rules rely on may lie (see offchain.dates).

    Checked when a declaration is lodged (every date in it), when a trade document is
    submitted (every date element of its schema) and when a device fix is ingested (its
    timestamp); never when something is verified later.
    """

    future_days: int = Field(1, ge=0, le=366)  # a day ahead of UTC is today in Auckland
    declaration_max_age_days: int = Field(30, ge=0, le=36_500)  # dated on acceptance
    document_max_age_days: int = Field(3650, ge=0, le=36_500)  # certificates, invoices, lists
    # A bonded trip's deadline is at most 30 days after its start, so no fix of a trip
    # started today can be older; a unit sends what it buffered out of coverage later.
    device_fix_max_age_days: int = Field(30, ge=0, le=36_500)

    @property
    def declarations(self) -> DateWindow:
        return DateWindow(self.future_days, self.declaration_max_age_days)

    @property
    def documents(self) -> DateWindow:
        return DateWindow(self.future_days, self.document_max_age_days)

    @property
    def device_fixes(self) -> DateWindow:
        return DateWindow(self.future_days, self.device_fix_max_age_days)


class StoreSettings(BaseModel):
    """Where encrypted documents live: a local content-addressed directory, or IPFS (Kubo)."""

    kind: str = Field("local", pattern="^(local|ipfs)$")
    fsync: bool = True
    max_object_bytes: int = 16 * 1024 * 1024
    ipfs_api: str = "http://127.0.0.1:5001"
    ipfs_timeout_s: float = 30.0


class ClearanceSettings(BaseModel):
    """Automated clearance: the tariff table, the selectivity rules, oracle quorums."""

    tariff_dir: Path = REPO_ROOT / "data" / "tariff"
    rules_file: Path = REPO_ROOT / "data" / "selectivity" / "rules.toml"
    quorum: int = Field(2, ge=1)  # initial k of every oracle kind at deployment
    oracle_timeout_s: float = Field(10.0, gt=0)
    oracle_base_port: int = Field(8100, ge=1, le=65000)  # instance i of `make run` on base+i
    # Oracles asked (and attested on chain) before the clearance decision; their results feed
    # selectivity.  A kind that is unavailable is reported in the decision, not fatal.
    oracles: list[str] = Field(default_factory=lambda: ["TARIFF", "AUDIT", "XRAY"])

    @field_validator("oracles")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        allowed = {"TARIFF", "AUDIT", "XRAY"}
        bad = sorted(set(v) - allowed)
        if bad:
            raise ValueError(f"clearance.oracles: {bad} are not among {sorted(allowed)}")
        return v


class TransportSettings(BaseModel):
    """Bonded trips: the MQTT broker, zones and corridors, rule thresholds, event anchoring."""

    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    ingest: bool = True  # nodes subscribe to their trips' events (off: API only)
    zones_file: Path = REPO_ROOT / "data" / "zones" / "zones.geojson"
    corridors_file: Path = REPO_ROOT / "data" / "zones" / "corridors.geojson"
    max_speed_kmh: float = Field(200.0, gt=0)  # implied speed above this: GPS jump / spoofing
    stop_speed_kmh: float = Field(3.0, ge=0)
    long_stop_min: float = Field(30.0, gt=0)
    signal_lost_min: float = Field(10.0, gt=0)
    anchor_every_events: int = Field(256, ge=1)  # anchor a trip's events at this many ...
    anchor_interval_s: float = Field(30.0, gt=0)  # ... or when the oldest waits this long
    tick_s: float = Field(1.0, gt=0)  # how often silent trips and anchoring are checked


class TariffSettings(BaseModel):
    """The AI tariff classifier (oracles/tariff): model choice, dialogue sessions, limits.

    Trained versions go to `<home>/tariff/models/<version>`; `model_dir` pins one folder
    (else the version `<home>/tariff/models/CURRENT` names, else the shipped model).
    """

    model_dir: Path | None = None
    session_ttl_s: float = Field(900.0, gt=0)  # an unanswered dialogue expires after this
    max_sessions: int = Field(10_000, ge=1)
    max_description_chars: int = Field(5_000, ge=10)
    max_top: int = Field(20, ge=1, le=100)
    mismatch_confidence: float = Field(0.5, ge=0, le=1)  # flag a declared code only then
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024)


class AuditSettings(BaseModel):
    """Post-clearance audit selection (oracles/audit): the model and request limits.

    Model directories hold scikit-learn pickles: load only those your administration made.
    """

    model_dir: Path | None = None  # None: <home>/audit/model
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    select_pct: float = Field(5.0, gt=0, le=100)  # share of declarations selected for audit
    reasons_top: int = Field(5000, ge=0)  # rows that get reasons when scoring a file


class XraySettings(BaseModel):
    """X-ray threat recognition (oracles/xray): model choice and upload limits."""

    model_config = ConfigDict(protected_namespaces=())
    model_dir: Path | None = None  # None: <home>/xray/models/active.json, else the shipped model
    model_sha256: str | None = Field(None, pattern="^[0-9a-fA-F]{64}$")  # pin a model file
    max_upload_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_side: int = Field(8192, ge=64, le=30000)
    max_pixels: int = Field(40_000_000, ge=4096)  # the decompression-bomb guard
    threads: int = Field(2, ge=1, le=64)
    # false-alarm rate the alert thresholds are chosen for (None: the model's default, 5 %)
    alarm_rate: float | None = Field(None, gt=0, lt=1)
    # scores between the alert thresholds and those of this looser rate make a scan
    # "uncertain" (an officer looks at the image); None: the model's default (10 %), 0: none
    review_rate: float | None = Field(None, ge=0, lt=1)


class ManifestSettings(BaseModel):
    """Advance cargo information: cargo manifests and matching declarations against them.

    A manifest lodged less than `late_lead_h` hours before its arrival (0: after arrival) is
    accepted but flagged late; arrivals further than `max_arrival_ahead_days` ahead or
    `max_arrival_age_days` back are refused.  A declaration's cited line matches when its
    packages do not exceed what is left of the line by more than `packages_tolerance` and
    its gross mass is within `weight_tolerance_pct` of the line's mass for those packages.
    Lines not fully declared `undeclared_after_days` after arrival are listed for officers.
    `member_countries` maps a member id to its ISO country where the id is not one (export
    manifests are forwarded to the member of the port of discharge's country).
    """

    max_lines: int = Field(9999, ge=1, le=9999)
    late_lead_h: float = Field(0.0, ge=0, le=24 * 30)
    max_arrival_ahead_days: int = Field(90, ge=1, le=366)
    max_arrival_age_days: int = Field(30, ge=0, le=3650)
    packages_tolerance: int = Field(0, ge=0, le=1_000_000)
    weight_tolerance_pct: float = Field(5.0, ge=0, le=100)
    undeclared_after_days: int = Field(3, ge=0, le=365)
    partner_sync_s: float = Field(2.0, gt=0)  # received export manifests are read in this often
    member_countries: dict[str, str] = Field(default_factory=dict)


class PaymentSettings(BaseModel):
    """Duties payable: payment orders, the payment gateway's signed callbacks, guarantees.

    `currency` empty: the tariff table's currency (what duties are computed in).  Callbacks
    are refused when signed more than `callback_max_skew_s` from the node's clock; their
    nonces are kept twice that long.  The gateway stand-in (`smartcustoms gateway serve`,
    started by `make run`) listens on `gateway_host:gateway_port` and signs as `gateway_id`.
    """

    currency: str = Field("", pattern="^([A-Z]{3})?$")
    due_days: int = Field(10, ge=0, le=365)
    callback_max_skew_s: int = Field(300, ge=5, le=3600)
    max_callback_payments: int = Field(1000, ge=1, le=10_000)
    gateway_id: str = Field("stand-in", pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8200, ge=1, le=65535)
    gateway_timeout_s: float = Field(30.0, gt=0)

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"


class Settings(BaseSettings):
    """Settings of a Smart Customs installation (one machine or one node)."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTCUSTOMS_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    home: Path = REPO_ROOT / "var"
    chain: ChainSettings = ChainSettings()
    members: list[MemberConfig] = Field(default_factory=_default_members)
    node_host: str = "127.0.0.1"
    documents: DocumentSettings = DocumentSettings()
    dates: DateSettings = DateSettings()
    store: StoreSettings = StoreSettings()
    clearance: ClearanceSettings = ClearanceSettings()
    transport: TransportSettings = TransportSettings()
    tariff: TariffSettings = TariffSettings()
    audit: AuditSettings = AuditSettings()
    xray: XraySettings = XraySettings()
    manifests: ManifestSettings = ManifestSettings()
    payments: PaymentSettings = PaymentSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is chosen when settings are built, not at import, so a process (or a
        # test) can point SMARTCUSTOMS_CONFIG at another file before reading settings.
        toml_file = os.environ.get("SMARTCUSTOMS_CONFIG", "smartcustoms.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[MemberConfig]) -> list[MemberConfig]:
        ids = [m.id for m in members]
        ports = [m.api_port for m in members]
        if not members:
            raise ValueError("at least one member is needed")
        if len(set(ids)) != len(ids):
            raise ValueError(f"member ids must be unique, got {ids}")
        if len(set(ports)) != len(ports):
            raise ValueError(f"member api ports must be unique, got {ports}")
        return members

    # Paths derived from `home`, so moving the state is one setting.
    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def deployment_file(self) -> Path:
        return self.home / "deployments" / "devnet.json"

    @property
    def build_dir(self) -> Path:
        return self.home / "build"

    @property
    def chain_dir(self) -> Path:
        return self.home / "chain"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    def node_dir(self, member_id: str) -> Path:
        return self.home / "nodes" / member_id

    def node_url(self, member_id: str) -> str:
        """Base URL of a member's node, as other nodes and the CLI reach it."""
        m = self.member(member_id)
        return m.url.rstrip("/") if m.url else f"http://{self.node_host}:{m.api_port}"

    def member(self, member_id: str) -> MemberConfig:
        """The configured member, or a clear error naming the ones that exist."""
        for m in self.members:
            if m.id == member_id:
                return m
        known = ", ".join(m.id for m in self.members)
        raise UnknownMemberError(f"unknown member id {member_id!r}; configured members: {known}")


class UnknownMemberError(CodedError, LookupError):
    """A member id that is not part of the configured consortium."""

    code = "unknown_member"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
