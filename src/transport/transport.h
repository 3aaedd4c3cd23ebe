/* transport/transport.h: the server-to-server transport (Raft messages, and
 * later forwarded requests) over TCP, default port 8300.
 *
 * One libuv loop thread drives everything: a listener, one outbound
 * connection per configured peer (reconnected with jittered exponential
 * backoff capped at one heartbeat interval), and whatever inbound connections
 * peers open to us.
 * Every connection starts with a hello in both directions (magic, protocol
 * version, cluster ID, node ID); then it carries frames (length, type,
 * CRC32C, payload). The layout is in docs/wire-format.md.
 *
 * What the network brings is never trusted: a peer that sends garbage, speaks
 * another protocol version, belongs to another cluster, or sends a frame that
 * is oversized or fails its checksum is logged and disconnected. Nothing here
 * asserts on input, and no buffer is sized from a claimed length before that
 * length is checked against the limit.
 *
 * Delivery is best effort, the way Raft wants it: xport_send either queues a
 * message on an established connection or refuses at once (CN_EAGAIN); a
 * queued message is lost if its connection breaks. Messages to one node keep
 * their order, except that a message larger than `chunk_size` (sent in
 * fragments) may be overtaken by smaller ones queued after it.
 *
 * Liveness (wire-format.md, "Keepalives"): a connection that has received
 * nothing for `idle_timeout_ms` (4 heartbeats) is presumed dead: it is reset
 * (what is queued on it, in the process or in the kernel, is dropped, not
 * delivered late) and the peer redialed. Each side sends a KEEPALIVE frame on
 * a connection on which it has written nothing for a heartbeat interval. A
 * dial that gets no answer (a dropped SYN) is abandoned after
 * `connect_timeout_ms` (2 heartbeats), not after the kernel's SYN retries.
 * Time during which our own loop did not run (a stall) is not counted
 * against peers.
 *
 * The module makes no Raft decisions: it does not know what a payload means
 * (the caller encodes with raft_msg_encode and decodes with raft_msg_decode).
 *
 * The frame codec (xport_hello_*, xport_decoder_*) is pure and usable without
 * sockets: tests and the fuzz target drive it directly. */
#ifndef CN_XPORT_H
#define CN_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define XPORT_DEFAULT_PORT 8300
#define XPORT_VERSION 2 /* 2: KEEPALIVE frames (1 was never released) */

/* Frame types. The two high bits of the type byte are fragment flags
 * (wire-format.md); a type is 1..63. */
enum xport_type {
    XPORT_RAFT_MSG = 1,     /* payload: raft_msg_encode() bytes */
    XPORT_FORWARD_REQ = 2,  /* reserved: a request forwarded to the leader */
    XPORT_FORWARD_RESP = 3, /* reserved: its answer */
    XPORT_KEEPALIVE = 4,    /* the transport's own, empty: never passed to on_frame, and
                             * xport_send refuses it */
    XPORT_SNAP_CHUNK = 5,   /* a piece of a snapshot file (server/snapstream.c) */
    XPORT_SNAP_ACK = 6,     /* its acknowledgement: flow control */
    XPORT_CLIENT_REQ = 7,   /* a client agent's request to a server (server/cl_codec.h) */
    XPORT_CLIENT_RESP = 8,  /* its answer */
    XPORT_TYPE__MAX = 8,
};

/* ---- the pure codec -------------------------------------------------------------- */

#define XPORT_MAGIC "CAIRNRPC"
#define XPORT_MAGIC_LEN 8
#define XPORT_CLUSTER_MAX 255
/* magic, u16 version, u64 node id, u8 cluster length, cluster, u32 crc32c */
#define XPORT_HELLO_MAX (XPORT_MAGIC_LEN + 2 + 8 + 1 + XPORT_CLUSTER_MAX + 4)
/* u32 payload length, u8 type, u32 crc32c(type, payload) */
#define XPORT_FRAME_HDR 9
#define XPORT_F_MORE 0x80 /* a fragment; more of the same message follow */
#define XPORT_F_LAST 0x40 /* the last fragment of a fragmented message */

struct xport_hello {
    uint16_t version;
    uint64_t node_id;
    char cluster[XPORT_CLUSTER_MAX + 1]; /* NUL-terminated, printable ASCII */
};

/* Encode our hello into out (cap >= XPORT_HELLO_MAX is always enough).
 * cluster must be 1..255 printable ASCII bytes (0x21..0x7e), node_id > 0.
 * Returns 0 and sets *len, or CN_EINVAL. */
int xport_hello_encode(const struct xport_hello *h, void *out, size_t cap, size_t *len);

/* Decode a peer's hello from the first n bytes received on a connection.
 * Returns 0 with *used set when complete; CN_EAGAIN when more bytes are
 * needed (nothing consumed; call again with more); otherwise an error with a
 * message in err (may be NULL): CN_EPROTO for a wrong magic or an unsupported
 * version (h->version is then set, so the caller can name both versions),
 * CN_ECORRUPT for a bad checksum or malformed fields. Only the version is
 * checked here, not the cluster ID or node ID (the caller's policy). */
int xport_hello_decode(const void *p, size_t n, struct xport_hello *h, size_t *used, char *err,
                       size_t errcap);

/* Write the frame header of a message (or fragment): flags are 0 or one of
 * XPORT_F_MORE / XPORT_F_LAST. payload may be NULL when len == 0. */
void xport_frame_header(uint8_t hdr[XPORT_FRAME_HDR], uint8_t type, uint8_t flags,
                        const void *payload, uint32_t len);

/* Called with each complete message (fragments reassembled). payload is
 * borrowed: valid during the call only. Return 0 to go on, non-zero to stop
 * feeding (xport_decoder_feed then returns that value). */
typedef int (*xport_frame_cb)(void *arg, uint8_t type, const void *payload, size_t len);

/* Incremental frame decoder: feed it bytes as they arrive, in any split. */
struct xport_decoder {
    size_t max_msg; /* limit on one frame's payload and on a reassembled message */
    uint8_t hdr[XPORT_FRAME_HDR];
    size_t hdr_len;
    uint32_t len, crc;
    uint8_t type;
    bool in_frame; /* header complete, payload in progress */
    char *buf;     /* payload of the current frame (grown as bytes arrive) */
    size_t buf_len, buf_cap;
    char *msg; /* reassembly of a fragmented message */
    size_t msg_len, msg_cap;
    uint8_t msg_type; /* 0: no fragmented message in progress */
    uint64_t frames;  /* frames decoded (counting fragments) */
};

/* The struct is the caller's; buffers are owned by it until
 * xport_decoder_free. max_msg > 0. */
void xport_decoder_init(struct xport_decoder *d, size_t max_msg);
void xport_decoder_free(struct xport_decoder *d);
/* Consume n bytes. Returns 0 when all were consumed; the callback's non-zero
 * value if it stopped the feed; or, with a message in err: CN_ETOOBIG (a frame
 * or reassembled message over max_msg), CN_ECORRUPT (checksum mismatch),
 * CN_EPROTO (unknown type, bad fragment sequence), CN_ENOMEM. After an error
 * the decoder is unusable except for xport_decoder_free (the connection
 * is to be closed). */
int xport_decoder_feed(struct xport_decoder *d, const void *p, size_t n, xport_frame_cb cb,
                       void *arg, char *err, size_t errcap);
/* True when the decoder sits between frames with no fragmented message open
 * (an EOF here is clean; elsewhere it truncated a frame). */
bool xport_decoder_idle(const struct xport_decoder *d);

/* ---- the transport ---------------------------------------------------------------- */

struct xport;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* A complete message from node `from` (identified by the hello of the
 * connection it came on, inbound or outbound). payload is borrowed: valid
 * during the call only. The callback may call any xport_* function,
 * including xport_stop. */
typedef void (*xport_frame_recv_cb)(void *arg, uint64_t from, uint8_t type, const void *payload,
                                    size_t len);
/* Node `id` became reachable (a first connection to or from it completed its
 * hello) or unreachable (its last such connection closed). Raft shells use
 * the down edge for raft_report_unreachable. */
typedef void (*xport_peer_state_cb)(void *arg, uint64_t id, bool up);
/* level: enum cn_log_level. NULL in the options: cn_log_write(..., "xport", ...). */
typedef void (*xport_log_cb)(void *arg, int level, const char *msg);

struct xport_options {
    const char *host;            /* bind address (numeric IPv4/IPv6); NULL: no listener */
    int port;                    /* 0 = ephemeral (see xport_port) */
    const char *cluster_id;      /* 1..255 printable ASCII bytes; peers must match */
    uint64_t node_id;            /* this server, > 0 */
    size_t max_msg;              /* largest message sent or accepted; 0 = 64 MiB; <= 2^32-1 */
    size_t chunk_size;           /* messages above it go as fragments; 0 = 1 MiB */
    size_t max_queue;            /* bytes queued per connection (see xport_send); 0 = 8 MiB */
    uint64_t heartbeat_ms;       /* keepalive interval, and the unit of the defaults below;
                                  * 0 = 50 ms (pass Raft's heartbeat interval) */
    uint64_t idle_timeout_ms;    /* nothing received for this long: the connection is
                                  * presumed dead, reset and redialed; 0 = 4 heartbeats */
    uint64_t connect_timeout_ms; /* a dial must connect within it; 0 = 2 heartbeats */
    uint64_t backoff_min_ms;     /* first reconnect delay; 0 = heartbeat / 5 */
    uint64_t backoff_max_ms;     /* cap; 0 = one heartbeat (or backoff_min_ms if larger) */
    uint64_t hello_timeout_ms;   /* a connection must complete its hello; 0 = 5 s (a hello
                                  * that arrived while our loop stalled is read first) */
    uint64_t seed;               /* backoff jitter PRNG seed; 0 = from the clock */
    /* Inbound connections from nodes that are not peers (client agents,
     * which send keepalives less often): presumed dead after this much
     * silence, and sent a keepalive after a quarter of it without a write.
     * 0 = as for peers. */
    uint64_t guest_idle_ms;
    xport_frame_recv_cb on_frame;      /* required */
    xport_peer_state_cb on_peer_state; /* may be NULL */
    void *arg;                         /* for on_frame and on_peer_state */
    xport_log_cb log;                  /* may be NULL */
    void *log_arg;
    /* TLS (docs/tls.md, "Server RPC"). tls: the context (a reference is
     * taken; NULL: plaintext only). An inbound connection whose first byte
     * is a TLS record (0x16) is served over TLS, any other is plaintext,
     * refused when tls_required. tls_outgoing: dial with TLS, verifying the
     * peer against the context's CA. tls_server_name (copied; NULL: none):
     * the name every peer's certificate must carry, in both directions
     * (verify_server_hostname), so a client certificate cannot pose as a
     * server. Without TLS the hello follows the TCP connect; with TLS it
     * follows the handshake (and the name check). */
    struct ssl_ctx_st *tls;
    bool tls_outgoing, tls_required;
    const char *tls_server_name;
};

/* Start: bind and listen on host:port (when host is set). The options and the
 * strings in them are copied. Returns 0 and *out (owned by the transport
 * until xport_stop completes), or CN_EINVAL (bad options), CN_EIO (bind or
 * listen failed: the address is named in err), CN_ENOMEM; nothing is left
 * open on error. */
int xport_start(uv_loop_t *loop, const struct xport_options *opt, struct xport **out, char *err,
                size_t errcap);
/* The port actually bound (useful with port 0); 0 without a listener. */
int xport_port(const struct xport *x);
/* Certificate reload: connections opened from now on use ctx (a reference
 * is taken; NULL is ignored); open ones keep theirs. */
void xport_set_tls(struct xport *x, struct ssl_ctx_st *ctx);

/* Add or update peer `id` at addr "host:port" (numeric IPv4, or [IPv6]:port;
 * copied). A new peer is dialed at once; a changed address closes the old
 * outbound connection and dials the new one. Returns 0, CN_EINVAL (bad id or
 * address, or id is our own), CN_ESHUTDOWN, CN_ENOMEM. */
int xport_set_peer(struct xport *x, uint64_t id, const char *addr);
/* Forget peer `id`: close its outbound connection (queued messages are
 * dropped) and stop dialing. Inbound connections from it stay until they
 * close. Returns 0 or CN_ENOTFOUND. */
int xport_remove_peer(struct xport *x, uint64_t id);

/* Queue a message (copied) for node `to`, on our outbound connection to it if
 * that completed its hello, else on its newest inbound connection. Returns:
 *  0            queued;
 *  CN_EAGAIN    no established connection, or the queue is full: at most
 *               max_queue bytes of messages up to chunk_size, plus one larger
 *               message at a time; the message is dropped and counted (Raft
 *               treats it as lost and retries);
 *  CN_ETOOBIG   len > max_msg;
 *  CN_EINVAL    bad type (0, XPORT_KEEPALIVE, above XPORT_TYPE__MAX);
 *  CN_ESHUTDOWN after xport_stop; CN_ENOMEM. */
int xport_send(struct xport *x, uint64_t to, uint8_t type, const void *payload, size_t len);

struct xport_stats {
    uint64_t msgs_sent, msgs_recv;             /* messages (a fragmented one counts once) */
    uint64_t bytes_sent, bytes_recv;           /* payload bytes */
    uint64_t drops_noconn;                     /* xport_send without an established connection */
    uint64_t drops_full;                       /* xport_send refused by the queue bound */
    uint64_t drops_closed;                     /* queued messages lost with their connection */
    uint64_t refused;                          /* hellos refused (magic, version, cluster, node) */
    uint64_t proto_errors;                     /* connections closed for a bad frame */
    uint64_t conns_up;                         /* connections currently past their hello */
    uint64_t queued_bytes;                     /* bytes queued on all connections */
    uint64_t keepalives_sent, keepalives_recv; /* KEEPALIVE frames */
    uint64_t idle_closed;   /* connections reset after idle_timeout_ms of silence */
    uint64_t dial_timeouts; /* dials abandoned after connect_timeout_ms */
};
void xport_get_stats(const struct xport *x, struct xport_stats *out);
/* Whether node `id` has an established connection (either direction). */
bool xport_peer_up(const struct xport *x, uint64_t id);

struct xport_peer_info {
    bool up;             /* xport_peer_up() */
    bool dialing;        /* our outbound connection to it is open but not yet up */
    uint64_t dials;      /* outbound connections started (the first dial included) */
    uint64_t backoff_ms; /* bound on the delay before the next redial if this one fails */
};
/* What we know of configured peer `id`. Returns 0 or CN_ENOTFOUND (not a
 * peer added with xport_set_peer; *out untouched). */
int xport_peer_info(const struct xport *x, uint64_t id, struct xport_peer_info *out);

/* Stop listening, close every connection (queued messages are dropped) and
 * timer; `done` (may be NULL) runs once every handle is closed, after which
 * the transport is freed. No callback other than `done` runs after this call
 * returns. Calling it twice is a no-op. */
void xport_stop(struct xport *x, void (*done)(void *), void *arg);

#endif
