/* gossip/net.h: the gossip core (gossip.h) on a libuv loop: UDP on the
 * serf_lan port for probes and gossip, TCP on the same port for push/pull
 * (joins and anti-entropy), one timer at the core's next deadline, optional
 * encryption (AES-GCM, Consul's `encrypt` key), and subscribers that hear
 * every membership event. All on the loop thread.
 *
 * Frames on TCP: u32 little-endian length, then the message (sealed when a
 * keyring is set, gossip/crypt.h); one request and one reply per
 * connection. Datagrams: the packet itself (sealed when a keyring is set).
 * Sealed with the keyring's primary key, opened with any of its keys; with
 * a keyring, a plain message is dropped and counted (drop_key) unless
 * verify_incoming is off, and plain ones are sent while verify_outgoing is
 * off (Consul's encrypt_verify_incoming/outgoing). The keyring changes with
 * keyring queries (gossip_net_keyring_query) and is then written to
 * keyring_file (off the loop). */
#ifndef CN_GOSSIP_NET_H
#define CN_GOSSIP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "gossip/gossip.h"

struct gossip_net;

struct gossip_net_options {
    const char *bind_addr; /* UDP and TCP listen address */
    int port;              /* 0: an ephemeral port (tests) */
    const char *advertise; /* the address others reach us on */
    const char *node_name;
    const char *cluster; /* the datacenter */
    const uint8_t *tags;
    size_t tags_len;
    const struct gossip_keyring *keyring;  /* NULL or empty: no encryption (copied) */
    bool verify_incoming, verify_outgoing; /* with a keyring: Consul's encrypt_verify_* */
    const char *keyring_file;              /* NULL: changes are not persisted */
    const struct gossip_config *tuning;    /* timings; NULL: memberlist's LAN defaults */
};

int gossip_net_start(uv_loop_t *loop, const struct gossip_net_options *o, struct gossip_net **out,
                     char *err, size_t errcap);
/* Close every handle (pending join callbacks get CN_ESHUTDOWN); the memory
 * goes once they closed, so the loop must run afterwards. NULL ok. */
void gossip_net_stop(struct gossip_net *n);
int gossip_net_port(const struct gossip_net *n);
/* The member list (read it, do not keep pointers across loop iterations). */
const struct gossip *gossip_net_core(const struct gossip_net *n);

/* Join through "host[:port]" (a name is resolved; no port: default_port).
 * cb(arg, 0, "") once the push/pull answer arrived, or cb(arg, rc, why). */
typedef void (*gossip_net_join_cb)(void *arg, int rc, const char *why);
int gossip_net_join(struct gossip_net *n, const char *addr, int default_port, gossip_net_join_cb cb,
                    void *arg);
/* Graceful leave: announce, then cb once the announcement went out or after
 * max_wait_ms. */
void gossip_net_leave(struct gossip_net *n, uint64_t max_wait_ms, void (*cb)(void *arg), void *arg);
bool gossip_net_leaving(const struct gossip_net *n);
/* gossip_force_leave on the member list (CN_ENOTFOUND, CN_EINVAL for self). */
int gossip_net_force_leave(struct gossip_net *n, const char *name, bool prune);

/* Membership events (after the core applied them), to every subscriber in
 * order of subscription; at most 8. The event is borrowed for the call. A
 * callback may read the member list (gossip_net_core, gossip_net_servers)
 * but must not join, leave or force-leave from inside the call (the core's
 * update is being handed out): defer those to a timer or the next event. */
typedef void (*gossip_net_event_cb)(void *arg, const struct gossip_event *e);
int gossip_net_subscribe(struct gossip_net *n, gossip_net_event_cb cb, void *arg);
void gossip_net_unsubscribe(struct gossip_net *n, gossip_net_event_cb cb, void *arg);

/* ---- for client agents: the servers of the pool ------------------------------
 * Alive (or suspect) members tagged role=consul of our datacenter (tag dc),
 * with their server RPC address: the member's address and its "port" tag. */
struct gossip_server {
    char name[GOSSIP_NAME_MAX + 1];
    char addr[GOSSIP_HOST_MAX + 8]; /* "host:port" of the server RPC port */
    char id[40];                    /* the "id" tag (node UUID), may be "" */
};
/* Returns how many (may exceed cap; out may be NULL with cap 0). */
size_t gossip_net_servers(const struct gossip_net *n, struct gossip_server *out, size_t cap);
/* Is this event about a server (role=consul, our dc)? Subscribers use it to
 * follow gossip_net_servers' list: JOIN/UPDATE add or refresh, FAILED, LEFT
 * and REAP remove. */
bool gossip_net_is_server_event(const struct gossip_net *n, const struct gossip_event *e);

/* ---- keyring queries (Consul's keyring operations over serf queries) ----
 * Start one (op: enum gossip_qop, codec.h; key NULL for a list; relay 0..5):
 * cb(arg, 0, done) once every member alive at the start answered or the
 * query timed out (done borrowed for the call), or cb(arg, CN_ESHUTDOWN,
 * NULL) when the pool stops first. CN_EINVAL, CN_EAGAIN (8 in flight). */
typedef void (*gossip_net_query_cb)(void *arg, int rc, const struct gossip_query_done *done);
int gossip_net_keyring_query(struct gossip_net *n, uint8_t op, const struct gossip_key *key,
                             unsigned relay, gossip_net_query_cb cb, void *arg);
/* This member's keyring (n == 0: no encryption). */
const struct gossip_keyring *gossip_net_keyring(const struct gossip_net *n);

struct gossip_net_stats {
    struct gossip_stats core;
    uint64_t drop_key;      /* undecryptable, or plaintext while verifying incoming */
    uint64_t stream_errors; /* push/pull connections that failed */
};
void gossip_net_get_stats(const struct gossip_net *n, struct gossip_net_stats *out);

/* Consul's `encrypt`: base64 of 16, 24 or 32 bytes. 0 and *len, or CN_EINVAL. */
int gossip_key_decode(const char *b64, uint8_t out[32], size_t *len);
/* `cairn keygen`: base64 of 32 random bytes (45 bytes with the NUL). */
int gossip_key_generate(char out[64]);

#endif
