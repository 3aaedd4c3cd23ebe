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


def free_port_tcp_udp(used):
    """A loopback port free now for TCP and for UDP (gossip binds both), not
    in `used`; added to it."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            u.close()
        if p not in used:
            used.add(p)
            return p
