"""Helpers the Python bench scripts share (stdlib only; run with
/usr/bin/python3). A script run as bench/NAME.py finds this module next to
it (Python puts the script's folder first on sys.path)."""

import socket


def free_port():
    """A loopback TCP port free now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
