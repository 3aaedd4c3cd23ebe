/* transport/liveness.c: the timers: the sweep and the peers' redials.
 *
 * Liveness: one sweep timer (every half heartbeat) sends KEEPALIVE frames on
 * connections with nothing written for a heartbeat, resets connections that
 * have received nothing for idle_timeout_ms, and abandons dials and hellos
 * past their deadlines. Silence is counted in our loop's time, so that a
 * stall of our own is not blamed on the peers (see xport__sweep_cb).
 *
 * Redials: a peer whose connection closed is dialed again after a jittered,
 * doubling delay (see xport__peer_schedule). */
#include <poll.h>

#include "base/log.h"
#include "transport/transport_int.h"

#define GRACE_SWEEPS 3 /* see xport__sweep_cb */

/* xorshift64*: jitter only. */
static uint64_t rng_next(struct xport *x)
{
    x->rng ^= x->rng >> 12;
    x->rng ^= x->rng << 25;
    x->rng ^= x->rng >> 27;
    return x->rng * 2685821657736338717ull;
}

static void peer_timer_cb(uv_timer_t *t)
{
    struct xport_peer *p = t->data;
    if (!p->removed && !p->x->stopping && !p->conn)
        xport__peer_dial(p);
}

/* Retry after a jittered delay in [b/2, b], then double b up to the cap:
 * peers that went down together do not all redial in step. */
void xport__peer_schedule(struct xport_peer *p)
{
    struct xport *x = p->x;
    uint64_t b = p->backoff_ms;
    uint64_t delay = b / 2 + rng_next(x) % (b / 2 + 1);
    p->backoff_ms = b * 2 > x->opt.backoff_max_ms ? x->opt.backoff_max_ms : b * 2;
    uv_timer_start(&p->timer, peer_timer_cb, delay, 0);
}

/* Whether the kernel holds news for this connection that the loop has not
 * delivered yet: bytes or EOF to read, or the outcome of a connect. */
static bool io_pending(struct xconn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = c->state == CS_CONNECTING ? POLLOUT : POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* The sweep: keepalives out, and the deadlines (connect, hello, silence).
 *
 * A deadline is meant for the peer, not for us: when our own loop stalled (a
 * long callback, a loaded machine), the peer's bytes (its hello, its
 * keepalives, the outcome of a connect) may already sit unread in the
 * socket, and libuv runs timers before polling for I/O, so this sweep would
 * see the deadline passed before the read callback sees the bytes. Such a
 * connection gets the next I/O pass first. Counted in sweeps, not in time (a
 * stall may last any time), and only a few: a peer trickling its hello byte
 * by byte cannot hold the socket for long.
 *
 * And silence is measured in our loop's time: one sweep counts at most two
 * periods of it. A sweep that comes later than that means our loop stalled
 * or crawled, and a peer could not have been heard meanwhile (its bytes
 * would be waiting, see above, but the peer itself may have stalled with us,
 * as when both share a machine that was descheduled): the excess does not
 * count towards anyone's silence or dial. So a stalled loop stretches the
 * timeouts instead of blaming the peers, and a slow one still finds a dead
 * peer, within idle_timeout_ms / (2 periods) sweeps (4 by default). */
void xport__sweep_cb(uv_timer_t *t)
{
    struct xport *x = t->data;
    uint64_t now = xport__now_ms();
    uint64_t gap = now - x->last_sweep;
    uint64_t stall = gap > 2 * x->sweep_ms ? gap - 2 * x->sweep_ms : 0;
    x->last_sweep = now;
    if (stall >= x->opt.idle_timeout_ms / 2)
        xport__log(x, CN_LOG_DEBUG,
                   "our loop stalled for %llu ms: peers' silence meanwhile not counted",
                   (unsigned long long)stall);
    char w[128];
    for (struct xconn *c = x->conns, *n; c && !x->stopping; c = n) {
        n = c->next;
        if (c->closing)
            continue;
        if (c->state == CS_CONNECTING) {
            c->connect_deadline += stall;
            if (now < c->connect_deadline)
                continue;
            if (c->grace < GRACE_SWEEPS && io_pending(c)) {
                c->grace++;
                continue;
            }
            x->st.dial_timeouts++;
            xport__log(x, CN_LOG_DEBUG, "connect to node %llu at %s: no answer within %llu ms",
                       (unsigned long long)c->node_id, c->addr,
                       (unsigned long long)x->opt.connect_timeout_ms);
            xport__conn_close(c);
            continue;
        }
        c->last_recv = c->last_recv + stall < now ? c->last_recv + stall : now;
        bool guest = x->opt.guest_idle_ms && c->state == CS_UP && xport__is_guest(x, c);
        uint64_t idle = guest ? x->opt.guest_idle_ms : x->opt.idle_timeout_ms;
        uint64_t hb = guest ? x->opt.guest_idle_ms / 4 : x->opt.heartbeat_ms;
        bool silent = now - c->last_recv >= idle;
        bool late = c->state == CS_HELLO && now >= c->hello_deadline;
        if ((silent || late) && c->grace < GRACE_SWEEPS && io_pending(c)) {
            c->grace++;
            continue;
        }
        if (silent) {
            /* The peer is gone (a partition, a crash, a stopped process):
             * reset, so nothing queued reaches it late, and redial. */
            x->st.idle_closed++;
            xport__log(x, c->state == CS_UP ? CN_LOG_INFO : CN_LOG_DEBUG,
                       "closing the connection with %s: nothing received for %llu ms",
                       xport__who(c, w, sizeof(w)), (unsigned long long)(now - c->last_recv));
            xport__conn_close_how(c, true);
            continue;
        }
        if (late) {
            xport__log(x, CN_LOG_WARN, "closing the connection with %s: no hello within %llu ms",
                       xport__who(c, w, sizeof(w)), (unsigned long long)x->opt.hello_timeout_ms);
            xport__conn_close(c);
            continue;
        }
        if (c->state == CS_UP && now - c->last_sent >= hb)
            xport__send_keepalive(c);
    }
}
