"""The shared chain rewind (tests/conftest.py): the state goes back, the clock does not.

anvil's evm_revert sets its clock back to the restored head block, so blocks after a long
rewound module lagged the wall clock by the module's duration and AttestationHub refused
later tests' attestations as `IssuedInFuture`.  `snapshot` and every module-wide rewind go
through `rewinding`, which catches the clock up; this checks it with a real anvil.
"""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.contract

LAG_S = 3  # long enough that a clock left behind shows in whole-second block times


def test_a_rewind_restores_the_state_and_catches_the_clock_up(w3, rewinding):
    probe = "0x" + os.urandom(20).hex()
    with rewinding():
        w3.provider.make_request("anvil_setBalance", [probe, hex(10**18)])
        assert w3.eth.get_balance(w3.to_checksum_address(probe)) == 10**18
        head = w3.eth.get_block("latest").timestamp
        while time.time() < head + LAG_S:  # what anvil's revert would turn its clock back by
            time.sleep(0.1)
    assert w3.eth.get_balance(w3.to_checksum_address(probe)) == 0
    now = int(time.time())
    w3.provider.make_request("evm_mine", [])
    # One second of slack: block times are whole seconds of the clock anvil was set to.
    assert w3.eth.get_block("latest").timestamp >= now - 1
