"""engines.ports: who listens on a port, read from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from engines.ports import listeners, listening_inodes, socket_inodes


def test_a_listening_socket_is_found_with_its_process() -> None:
    with socket.socket() as server, socket.socket(socket.AF_INET6) as other:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert listening_inodes(port) == set()  # bound, not listening yet
        server.listen(1)
        (inode,) = listening_inodes(port)
        assert inode in socket_inodes(os.getpid())
        assert listeners(port, [os.getpid()]) == [os.getpid()]
        assert listeners(port) == [os.getpid()]  # every process on the host
        other.bind(("::1", 0))
        other.listen(1)
        assert listeners(other.getsockname()[1], [os.getpid()]) == [os.getpid()]  # tcp6 too


def test_another_process_is_not_a_listener_of_the_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert listeners(port, [child.pid]) == []
        finally:
            child.kill()
            child.wait()
    assert listeners(port, [os.getpid()]) is None and listeners(port) is None  # closed: nobody listens
