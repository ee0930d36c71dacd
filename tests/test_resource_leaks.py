"""No socket outlives what opened it: emulators stopped while clients come and go."""

from __future__ import annotations

import gc
import os
import socket

import pytest

from g4f_lite.testing import AIEngineEmulator

FD_DIR = "/proc/self/fd"


def open_descriptors() -> set[str]:
    """The process's open file descriptors."""
    return set(os.listdir(FD_DIR))


@pytest.mark.skipif(not os.path.isdir(FD_DIR), reason="counts descriptors in /proc")
def test_an_emulator_stopped_as_clients_give_up_leaves_no_socket_open() -> None:
    # A client that connects and gives up at once (a tiny timeout) right before
    # the emulator stops used to leave the server's end of the connection open,
    # until the garbage collector found it: a ResourceWarning in whatever test
    # ran then. The collector is off so that a leak shows as a descriptor.
    gc.collect()
    gc.disable()
    try:
        before = open_descriptors()
        for _ in range(30):
            with AIEngineEmulator().run_in_thread() as site:
                for _ in range(3):
                    socket.create_connection(("127.0.0.1", site.port)).close()
        leaked = open_descriptors() - before
    finally:
        gc.enable()
    assert not leaked
