"""Connecting to the chain and decoding reverts into errors a person can act on."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import Web3

from chain.client import RevertDecoder, connect
from chain.context import Chain
from chain.devnet import free_port
from chain.errors import ChainError, ChainUnavailable, ContractReverted
from chain.ids import member_id_bytes
from chain.registry import ConsortiumRegistry
from offchain.settings import Settings

pytestmark = pytest.mark.contract


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


@pytest.fixture(scope="module")
def decoder(chain: Chain) -> RevertDecoder:
    return RevertDecoder({"ConsortiumRegistry": chain.artifacts["ConsortiumRegistry"].abi})


def test_connect_to_a_closed_port_says_how_to_start_the_chain(settings: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainUnavailable) as caught:
        connect(settings, rpc_url=url)
    message = str(caught.value)
    assert f"no chain answers at {url}" in message
    assert "smartcustoms devnet up" in message
    assert "SMARTCUSTOMS_CHAIN__RPC_URL" in message
    assert caught.value.code == "chain_unavailable"


def test_connect_uses_the_settings_url(settings: Settings, w3: Web3) -> None:
    assert connect(settings).eth.chain_id == settings.chain.chain_id
    dead = Settings(home=settings.home, chain={"anvil_port": free_port()})
    with pytest.raises(ChainUnavailable, match=dead.chain.rpc_url):
        connect(dead)


def test_connect_to_a_silent_endpoint_times_out_as_chain_unavailable(settings: Settings) -> None:
    quick = Settings(home=settings.home, chain={"request_timeout_s": 0.1})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(ChainUnavailable, match=f"no chain answers at {url} .*Timeout"):
            connect(quick, rpc_url=url)


class _NotAChain(http.server.BaseHTTPRequestHandler):
    """An HTTP service that is not a JSON-RPC node, e.g. a member node's API on :8000."""

    def do_POST(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"detail": "Not Found"}')

    def log_message(self, *_args: object) -> None:
        pass


def test_connect_to_an_http_service_that_is_not_a_chain(settings: Settings) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotAChain)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(ChainError, match=url):
            connect(settings, rpc_url=url)
    finally:
        server.shutdown()
        server.server_close()


def test_decodes_a_custom_error_of_the_registry(decoder: RevertDecoder) -> None:
    caller = "0x" + "12" * 20
    data = _selector("NotMemberAdmin(address,bytes32)") + encode(
        ["address", "bytes32"], [caller, member_id_bytes("SG")]
    )
    name, args = decoder.decode("0x" + data.hex())
    assert name == "NotMemberAdmin"
    assert args == {"caller": caller, "memberId": member_id_bytes("SG")}


def test_decodes_an_error_with_an_enum_argument(decoder: RevertDecoder) -> None:
    data = _selector("ProposalNotPending(uint256,uint8)") + encode(["uint256", "uint8"], [7, 1])
    assert decoder.decode(data) == ("ProposalNotPending", {"id": 7, "state": 1})


def test_decodes_error_string_and_panic(decoder: RevertDecoder) -> None:
    error = _selector("Error(string)") + encode(["string"], ["not allowed"])
    assert decoder.decode(error) == ("Error", {"reason": "not allowed"})
    panic = _selector("Panic(uint256)") + encode(["uint256"], [0x11])
    assert decoder.decode("0x" + panic.hex()) == ("Panic", {"code": 0x11})
    assert RevertDecoder().decode(panic) == ("Panic", {"code": 0x11})  # built in, no ABI needed


def test_unknown_selector_comes_back_as_hex_without_raising(decoder: RevertDecoder) -> None:
    name, args = decoder.decode(bytes.fromhex("deadbeef") + b"\x01\x02")
    assert name == "UnknownError"
    assert args == {"selector": bytes.fromhex("deadbeef"), "data": b"\x01\x02"}


@pytest.mark.parametrize("data", [None, "", "0x", b"", "Reverted 0x", {"data": "0x"}])
def test_empty_revert_data(decoder: RevertDecoder, data: object) -> None:
    assert decoder.decode(data) == ("EmptyRevert", {})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("0x1234", ("UnknownError", {"data": b"\x12\x34"})),
        ("not hex", ("EmptyRevert", {})),
        ("0xzz", ("EmptyRevert", {})),
    ],
    ids=["too-short", "text", "bad-hex"],
)
def test_junk_revert_data_never_raises(
    decoder: RevertDecoder, data: str, expected: tuple[str, dict]
) -> None:
    assert decoder.decode(data) == expected


def test_revert_data_in_the_shapes_web3_hands_out(decoder: RevertDecoder) -> None:
    data = _selector("UnknownMember(bytes32)") + member_id_bytes("XX")
    expected = ("UnknownMember", {"id": member_id_bytes("XX")})
    assert decoder.decode("Reverted 0x" + data.hex()) == expected
    assert decoder.decode({"data": "0x" + data.hex()}) == expected
    assert decoder.decode(data.hex()) == expected


def test_known_selector_with_a_malformed_payload_still_names_the_error(
    decoder: RevertDecoder,
) -> None:
    data = _selector("NotMemberAdmin(address,bytes32)") + b"\x00" * 5
    assert decoder.decode(data) == ("NotMemberAdmin", {"data": b"\x00" * 5})


def test_errors_with_tuple_arguments_are_registered() -> None:
    abi = [
        {
            "type": "error",
            "name": "BadBatch",
            "inputs": [
                {
                    "name": "items",
                    "type": "tuple[]",
                    "components": [
                        {"name": "id", "type": "uint256"},
                        {"name": "who", "type": "address"},
                    ],
                },
                {"name": "", "type": "bool"},
            ],
        }
    ]
    who = "0x" + "34" * 20
    data = _selector("BadBatch((uint256,address)[],bool)") + encode(
        ["(uint256,address)[]", "bool"], [[(1, who)], True]
    )
    name, args = RevertDecoder({"X": abi}).decode(data)
    assert name == "BadBatch"
    assert args == {"items": ((1, who),), "arg1": True}


def test_contract_reverted_shows_ids_as_text() -> None:
    exc = ContractReverted(
        "ConsortiumRegistry", "getMember", "UnknownMember", {"id": member_id_bytes("XX")}
    )
    assert str(exc) == "ConsortiumRegistry.getMember reverted: UnknownMember(id='XX')"
    raw = ContractReverted("C", "f", "Custom", {"blob": b"\x00\xff", "n": 3})
    assert str(raw) == "C.f reverted: Custom(blob=0x00ff, n=3)"


def test_a_real_revert_from_the_registry_is_decoded(registry: ConsortiumRegistry) -> None:
    with pytest.raises(ContractReverted) as caught:
        registry.member("XX")
    exc = caught.value
    assert exc.error == "UnknownMember"
    assert exc.error_args == {"id": member_id_bytes("XX")}
    assert str(exc) == "ConsortiumRegistry.getMember reverted: UnknownMember(id='XX')"
    assert exc.raw  # the undecoded data is kept for debugging
