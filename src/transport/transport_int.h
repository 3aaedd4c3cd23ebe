/* transport/transport_int.h: private to src/transport/. The structs that
 * transport.c (start/stop, options, stats, the peer table), conn.c (a
 * connection's life) and liveness.c (the sweep and redial timers) share, and
 * the functions one of them calls in another. The comments on each group of
 * fields say which file writes them. */
#ifndef CN_TRANSPORT_INT_H
#define CN_TRANSPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "tls/tls.h"
#include "transport/transport.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_IOV 64
#define ADDR_MAX 64

enum conn_state { CS_CONNECTING, CS_HELLO, CS_UP };

struct xmsg; /* a queued message: conn.c's own */

struct xconn {
    /* conn.c */
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct xport *x;
    struct xport_peer *peer; /* outbound: its peer (NULL once detached; transport.c too) */
    struct xconn *prev, *next;
    uint64_t node_id; /* outbound: expected; inbound: from the hello */
    /* conn.c sets them; liveness.c moves the deadlines and last_recv on past
     * a stall of our own loop, and counts grace */
    uint64_t hello_deadline;   /* xport__now_ms() */
    uint64_t connect_deadline; /* outbound, while CS_CONNECTING */
    uint64_t last_recv;        /* bytes last arrived (or the connection opened) */
    uint64_t last_sent;        /* a write last started */
    unsigned grace;            /* sweeps that found it late but with input waiting */
    /* conn.c */
    enum conn_state state;
    bool outbound, closing, writing;
    bool dropped; /* the queue was counted in drops_closed */
    /* TLS: the connection's state (NULL: plaintext); sniff: inbound, its
     * first byte decides TLS or plaintext; hello_sent: ours went out (with
     * TLS only after the handshake) */
    struct tls_conn *tls;
    bool sniff, hello_sent;
    char addr[ADDR_MAX]; /* the remote address, for logs */
    uint8_t hello_out[XPORT_HELLO_MAX];
    uint8_t hello_in[XPORT_HELLO_MAX];
    size_t hello_out_len, hello_in_len;
    struct xport_decoder dec;
    struct xmsg *qhead, *qtail; /* small messages, in order */
    size_t qbytes;
    struct xmsg *large; /* the one message being sent in fragments */
    /* conn.c: the batch in flight */
    uv_buf_t bufs[MAX_IOV];
    uint8_t frag_hdr[XPORT_FRAME_HDR];
    unsigned w_small;
    uint32_t w_frag;
};

struct xport_peer {
    /* transport.c */
    struct xport_peer *next;
    struct xport *x;
    uint64_t id;
    char addr[ADDR_MAX];
    struct sockaddr_storage sa;
    uv_timer_t timer; /* started by liveness.c */
    /* conn.c (transport.c detaches conn) */
    struct xconn *conn;
    /* reset by transport.c and conn.c (a connection came up), doubled by
     * liveness.c */
    uint64_t backoff_ms; /* the next delay's upper bound */
    /* conn.c */
    uint64_t dials;
    /* transport.c */
    bool removed;
    /* conn.c */
    bool warned; /* a refusal was logged at WARN since the last success */
};

struct xport {
    /* transport.c */
    uv_loop_t *loop;
    struct xport_options opt;
    char cluster[XPORT_CLUSTER_MAX + 1];
    uv_tcp_t listener;
    bool listening;
    uv_timer_t sweep;
    uint64_t sweep_ms;
    uint64_t last_sweep; /* liveness.c too */
    int port;
    /* conn.c */
    struct xconn *conns;
    /* transport.c */
    struct xport_peer *peers;
    uint64_t rng; /* liveness.c draws from it */
    /* transport.c and conn.c (connections) */
    int handles; /* open handles (listener, sweep, conns, peer timers) */
    /* transport.c */
    bool stopping;
    void (*done)(void *);
    void *done_arg;
    /* the counters: conn.c most, liveness.c its timeouts */
    struct xport_stats st;
    /* conn.c: every read lands here */
    char rbuf[READ_BUF_SIZE];
    /* transport.c: written once at start */
    size_t hello_len;
    uint8_t hello[XPORT_HELLO_MAX];
    uint8_t keepalive[XPORT_FRAME_HDR]; /* the frame, written from here */
    /* transport.c: TLS settings (opt.tls is replaced by xport_set_tls) */
    char tls_name[256]; /* "" : no name check */
};

/* Milliseconds on the monotonic clock, read afresh: uv_now() is the time the
 * loop cached at the start of its iteration, which lags behind after a long
 * callback and would make a new connection's hello deadline early. */
static inline uint64_t xport__now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* transport.c */
void xport__log(struct xport *x, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xport__maybe_finish_stop(struct xport *x);

/* conn.c */
struct xconn *xport__find_up(struct xport *x, uint64_t id);
void xport__conn_close_how(struct xconn *c, bool reset);
void xport__conn_close(struct xconn *c);
void xport__send_keepalive(struct xconn *c);
const char *xport__who(struct xconn *c, char *b, size_t cap);
void xport__peer_dial(struct xport_peer *p);
void xport__on_connection(uv_stream_t *server, int status);

/* liveness.c */
void xport__peer_schedule(struct xport_peer *p);
void xport__sweep_cb(uv_timer_t *t);

/* An inbound connection from a node that is not a peer (transport.c). */
bool xport__is_guest(struct xport *x, const struct xconn *c);

#endif
