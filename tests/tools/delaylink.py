#!/usr/bin/env python3
"""tests/tools/delaylink.py: a transparent Ethernet relay that delays every
frame by a fixed time, the `tc netem delay` this machine lacks.

    delaylink.py IF_A IF_B DELAY_MS

Run inside a network namespace holding two interfaces (veth ends, no
addresses): each frame received on one is sent on the other DELAY_MS later,
in order. Frames are read and written with AF_PACKET and PACKET_VNET_HDR, so
offloaded frames (TSO/GSO segments larger than the MTU, checksums left for
the device) pass through as the kernel handed them over: the header is
copied unchanged and the kernel segments and checksums on the way out.

Prints "ready" on stdout once both sockets are bound; exits on SIGTERM.
Loss is not this tool's job (nftables does that: numgen random).
"""
import collections
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
MAX_FRAME = 65536 + 64


def open_if(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((name, ETH_P_ALL))
    s.setblocking(False)
    return s


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: delaylink.py IF_A IF_B DELAY_MS")
    a, b = open_if(sys.argv[1]), open_if(sys.argv[2])
    delay = float(sys.argv[3]) / 1e3
    peer = {a: b, b: a}
    queue = collections.deque()  # (due, out socket, frame): due times never decrease
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, out, frame = queue.popleft()
            try:
                out.send(frame)
            except OSError:
                pass  # the far end is gone or full: a lost frame, as on a wire
        timeout = max(0.0, queue[0][0] - now) if queue else 0.5
        try:
            ready, _, _ = select.select([a, b], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for s in ready:
            while True:
                try:
                    frame, addr = s.recvfrom(MAX_FRAME)
                except OSError:
                    break  # nothing more now, or the link went down (it may come back)
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own send on this interface
                queue.append((now + delay, peer[s], frame))


if __name__ == "__main__":
    main()
