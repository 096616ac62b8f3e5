"""`smsc_shared`: one SMSC for the session, its simulated world reset before each test.

Both tests find the handset as configured, change it and record the server they got: whichever
runs second proves the reset and that the server was the same.
"""

from __future__ import annotations

import pytest

from smsc.embed import ThreadedSmsc

SEEN_PORTS: list[int] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_the_shared_server_reset(smsc_shared: ThreadedSmsc, run: int) -> None:
    handset = smsc_shared.run_sync(smsc_shared.embedded.simulation.handset, "4915100000002")
    assert handset.state == "online"
    smsc_shared.set_handset("4915100000002", state="offline")
    SEEN_PORTS.append(smsc_shared.smpp_port)
    assert len(set(SEEN_PORTS)) == 1
