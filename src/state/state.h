/* state/state.h: the replicated state machine: catalog (nodes, services,
 * checks) and KV. It is the single source of truth: every change arrives as an
 * encoded command applied at a Raft log index (state_apply), and every item
 * remembers that index as CreateIndex/ModifyIndex.
 *
 * Pure: no I/O, no clock, no locks, no randomness. Driven only by the loop
 * thread. Read functions hand out borrowed pointers that stay valid until the
 * next state_apply/state_restore (KV reads fill a struct state_kv view whose
 * pointers are borrowed that way). All allocation goes through cn_malloc; an
 * out-of-memory error during apply leaves the state unchanged (commands are
 * all-or-nothing).
 *
 * Commands are built with the state_cmd_* encoders (cmd.c) and carried through
 * the log as opaque bytes; state_apply decodes and rejects malformed bytes
 * with CN_ECORRUPT without changing anything. */
#ifndef CN_STATE_H
#define CN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct state;

/* ---- values ------------------------------------------------------------ */

struct state_pair { /* one entry of a string map (Meta, TaggedAddresses) */
    char *k;
    char *v;
};
struct state_map { /* sorted by k, unique keys */
    size_t n;
    struct state_pair *items;
};

/* Free every key and value of m (owned by m) and empty it. */
void state_map_clear(struct state_map *m);

struct state_taddr { /* service TaggedAddresses entry */
    char *name;
    char *address;
    int port;
};

struct state_node {
    char *name; /* "Node" */
    char *id;   /* "ID": UUID or "" */
    char *address;
    struct state_map tagged_addresses; /* "lan" -> ip, ... */
    struct state_map meta;
    uint64_t create_index, modify_index;
};

/* Connect: one upstream of a proxy (Consul's structs.Upstream, the fields
 * cairn keeps; the rest is refused by the decoders). NULL strings = "". */
struct state_upstream {
    char *dest_type; /* "service" (Consul's default, stored as given: "" or "service") */
    char *dest_name;
    char *datacenter; /* "" = the local one (others are refused) */
    char *local_bind_address;
    int local_bind_port;
    char *config; /* the opaque Config object as JSON text, or "" / NULL: none */
};

/* Connect: a proxy's configuration (Kind "connect-proxy"; Consul's
 * structs.ConnectProxyConfig). All zero for any other service. */
struct state_proxy {
    char *dest_name, *dest_id;
    char *local_address;
    int local_port;
    struct state_upstream *ups;
    size_t nups;
    char *config; /* the opaque Config object as JSON text, or "" / NULL: none */
};

#define STATE_KIND_CONNECT_PROXY "connect-proxy"

struct state_service {
    char *node; /* node name */
    char *id;
    char *service; /* the service name ("Service" in catalog JSON) */
    char *kind;    /* "" for typical services */
    char **tags;
    size_t ntags;
    char *address;
    int port;
    struct state_map meta;
    struct state_taddr *taddrs;
    size_t ntaddrs;
    int weight_passing, weight_warning; /* default 1, 1 */
    bool enable_tag_override;
    uint64_t create_index, modify_index;
    /* Connect (command version 3, snapshot version 5; zero before). */
    struct state_proxy proxy;
    bool connect_native;
};

/* Check status strings are exactly Consul's: "passing", "warning", "critical"
 * ("maintenance" is only a DNS/UI view, never stored). */
struct state_check {
    char *node;
    char *check_id;
    char *name;
    char *status;
    char *notes;
    char *output;
    char *service_id;   /* "" for node checks */
    char *service_name; /* "" for node checks */
    char *type;         /* "ttl", "http", "tcp", "" ... */
    /* Definition (what a check runner needs; what Consul echoes in Definition) */
    int64_t interval_ns, timeout_ns, ttl_ns, deregister_after_ns;
    char *http;        /* URL or "" */
    char *method;      /* "" = GET */
    char *tcp;         /* host:port or "" */
    char *header_json; /* raw JSON object map[string][]string, or "" */
    char *body;
    bool tls_skip_verify;
    uint64_t create_index, modify_index;
    /* Agent-only definition fields: local/ runs the check with them; they are
     * not replicated (the catalog's copies hold 0/NULL). NULL strings = "". */
    int success_before_passing, failures_before_warning, failures_before_critical;
    char *tls_server_name;
    char *udp;  /* UDP checks: host:port */
    char *grpc; /* gRPC checks: host:port[/service] */
    bool grpc_use_tls;
    char *alias_node, *alias_service;
    char **args; /* script checks: argv, nargs entries */
    size_t nargs;
    char *h2ping; /* H2PING checks: host:port */
    bool h2ping_use_tls;
};

/* Check types cairn records (state_check.type); the decoders refuse the rest
 * (Docker, H2PING, OS service) rather than storing a check
 * nothing will ever run. */
#define STATE_CHECK_TTL "ttl"
#define STATE_CHECK_HTTP "http"
#define STATE_CHECK_TCP "tcp"
#define STATE_CHECK_SCRIPT "script" /* run only with -enable-local-script-checks */
#define STATE_CHECK_ALIAS "alias"
#define STATE_CHECK_UDP "udp"
#define STATE_CHECK_GRPC "grpc"
#define STATE_CHECK_H2PING "h2ping"

/* ---- value helpers (values.c) ---------------------------------------------
 * For structs whose strings and arrays the caller owns (cn_malloc'd): what the
 * api/ decoders build and the agent's local/ registrations keep. */

/* Free every string/array the struct owns (not the struct) and zero it.
 * NULL strings are fine (a partly filled struct clears). NULL ok. */
void state_node_clear(struct state_node *n);
void state_service_clear(struct state_service *v);
void state_proxy_clear(struct state_proxy *p);
void state_check_clear(struct state_check *c);
/* Deep copies: every string duplicated, NULL strings become "". 0 or
 * CN_ENOMEM; on error dst is zeroed (nothing left allocated). */
int state_service_copy(struct state_service *dst, const struct state_service *src);
int state_check_copy(struct state_check *dst, const struct state_check *src);
/* Packed deep copies (pack.c): the copy's strings and arrays in one block
 * the caller allocates. With block NULL, the bytes src needs (dst unused);
 * else dst's pointers point into block (8-byte aligned, at least that many
 * bytes) and dst is freed with the block, never with state_*_clear. NULL
 * strings become "" as state_*_copy makes them (the agent-only check fields
 * stay NULL). Returns the bytes used. The catalog's records and the agent's
 * local copies (local/) are such blocks. */
size_t state_service_pack(struct state_service *dst, const struct state_service *src, char *block);
size_t state_check_pack(struct state_check *dst, const struct state_check *src, char *block);

/* True for "passing", "warning", "critical". */
bool state_check_status_valid(const char *s);
/* Consul's check output cap (agent/check.go CheckBufSize): longer output
 * becomes "<first 4096 bytes> ... (captured 4096 of N bytes)". Returns a new
 * string (cn_free) or NULL on out of memory. */
#define STATE_CHECK_OUTPUT_MAX 4096
char *state_check_output_truncate(const char *s);

/* A view of one KV entry, filled by state_kv_get and built per visit by the
 * scans: the struct itself is the caller's (or, in a scan callback, only
 * valid during the call); key, value and session point into the state and
 * stay valid until the next state_apply/state_restore. */
struct state_kv {
    const char *key; /* NUL-terminated */
    size_t key_len;
    const uint8_t *value; /* may be NULL when value_len == 0 */
    size_t value_len;
    uint64_t flags;
    uint64_t create_index, modify_index, lock_index;
    const char *session; /* NULL when not locked */
};

/* ---- lifecycle ---------------------------------------------------------- */

struct state *state_new(void); /* NULL on OOM */
void state_free(struct state *s);

/* Tables, for indexes and change notifications. */
enum state_table {
    STATE_T_KV = 0,
    STATE_T_NODES,      /* node rows; key = node name */
    STATE_T_SERVICES,   /* service instances; key = service name */
    STATE_T_CHECKS,     /* health checks; key = node name */
    STATE_T_SESSIONS,   /* sessions; key = session ID */
    STATE_T_EVENTS,     /* user events (event.c); key = event name; not in snapshots */
    STATE_T_QUERIES,    /* prepared queries (query.c); key = query ID */
    STATE_T_INTENTIONS, /* service intentions (intention.c); key = destination */
    STATE_T_CA,         /* the Connect CA record (ca.c); key = "ca" */
    STATE_T_ACL,        /* ACL tokens, policies, roles (acl.c); key = ID */
    STATE_T_COORDS,     /* network coordinates (coord.c); key = node name */
    STATE_T_CONFIG,     /* proxy-defaults, service-defaults entries (config.c); key = kind */
    STATE_T__COUNT
};

/* Called synchronously from state_apply for every item a command changed,
 * after the change is visible: (STATE_T_KV, key) per KV key set or deleted;
 * (STATE_T_NODES, node) when a node row or anything on the node changed;
 * (STATE_T_SERVICES, name) when an instance of `name`, its checks, a
 * node-level check on a node running it, or that node's row changed
 * (health/service views show node data);
 * (STATE_T_CHECKS, node) when a check on that node changed;
 * (STATE_T_SESSIONS, id) when a session was created or invalidated.
 * The key pointer is only valid during the call. May be called several times
 * for the same key in one command. */
typedef void (*state_change_cb)(void *arg, enum state_table t, const char *key, uint64_t index);
void state_set_change_cb(struct state *s, state_change_cb cb, void *arg);

/* ---- commands ----------------------------------------------------------- */

enum state_cmd_type {
    STATE_CMD_NOOP = 0,     /* leader no-op; bumps nothing but the applied index */
    STATE_CMD_KV_TXN = 1,   /* one or more KV ops, all-or-nothing */
    STATE_CMD_REGISTER = 2, /* catalog register: node [+ service] [+ checks] */
    STATE_CMD_DEREGISTER = 3,
    STATE_CMD_CHECK_STATUS = 4, /* update one check's status/output */
    /* Forget KV tombstones with ModifyIndex <= N (proposed periodically by the
     * leader, like Consul's tombstone GC). Changes no table index and notifies
     * nothing; state_kv_prefix_index may drop for prefixes that only held
     * reaped tombstones. */
    STATE_CMD_KV_REAP = 5,
    /* Sessions (session.c). CREATE validates the node and checks (Consul's
     * texts) and fails with CN_EINVAL; DESTROY invalidates (releases or, with
     * behavior "delete", deletes the keys it holds and starts their
     * lock-delay) and is ok = false for an unknown session; RENEW (a renewal
     * made through a follower, which cannot reach the leader's timers
     * otherwise) records the index in the session (renew_index) and is
     * CN_ENOTFOUND for an unknown one. */
    STATE_CMD_SESSION_CREATE = 6,
    STATE_CMD_SESSION_DESTROY = 7,
    STATE_CMD_SESSION_RENEW = 8,
    /* A user event (event.c): appended to the ring of the most recent
     * STATE_EVENTS_MAX events; CN_EINVAL for a malformed ID or empty name. */
    STATE_CMD_EVENT_FIRE = 9,
    /* Prepared queries (query.c): create or update one, delete one. */
    STATE_CMD_QUERY_SET = 10,
    STATE_CMD_QUERY_DELETE = 11,
    /* /v1/txn Node, Service and Check operations (cattxn.c), all-or-nothing. */
    STATE_CMD_CAT_TXN = 12,
    /* Service intentions (intention.c): create by ID, update by ID, upsert by
     * (source, destination); delete by ID or by name. */
    STATE_CMD_INTENTION_SET = 13,
    STATE_CMD_INTENTION_DELETE = 14,
    /* The Connect CA (ca.c): the whole CA record, replaced. */
    STATE_CMD_CA_SET = 15,
    /* A snapshot restore carried by the log (restore.c, PUT /v1/snapshot):
     * CHUNKs (restore id, sequence number from 0, total length, bytes) are
     * staged in memory; COMMIT (id, total length) replaces the whole state by
     * the staged encoding at its own index: every ModifyIndex (entries,
     * names, tables) becomes the commit's and every other index above it is
     * lowered to it, so X-Consul-Index never goes backwards and every parked
     * blocking query sees a change. A chunk out of sequence, a COMMIT
     * that does not match, or a staged encoding that does not decode is
     * CN_EINVAL and changes nothing (staging dropped). Chunks and a COMMIT
     * change no table index. */
    STATE_CMD_RESTORE_CHUNK = 16,
    STATE_CMD_RESTORE_COMMIT = 17,
    /* ACL tokens, policies and roles (acl.c). */
    STATE_CMD_ACL_SET = 18,
    STATE_CMD_ACL_DELETE = 19,
    STATE_CMD_ACL_BOOTSTRAP = 20,
    /* Network coordinates (coord.c): a batch of (node, segment, coordinate)
     * as the leader collected them (Consul's CoordinateBatchUpdate). */
    STATE_CMD_COORD_BATCH = 21,
    /* ACL replication (acl.c): a secondary datacenter's leader applies a
     * batch of the primary's objects: deletes, then upserts, all or none. */
    STATE_CMD_ACL_REPLICATE = 22,

    /* A service-intentions config entry (intention.c): the intentions of one
     * destination replaced as a whole, or deleted, optionally only if the
     * entry's ModifyIndex is still the one given (Consul's ?cas=). */
    STATE_CMD_INTENTION_ENTRY = 23,
    /* A proxy-defaults or service-defaults config entry (config.c): upserted
     * or deleted, optionally only if its ModifyIndex is the one given. */
    STATE_CMD_CONFIG_ENTRY = 24,
};

/* KV verbs, as /v1/txn names them (Consul api-docs/txn.mdx). A plain PUT is a
 * txn with one SET (or CAS with ?cas=); DELETE is DELETE / DELETE_CAS /
 * DELETE_TREE. */
enum state_kv_verb {
    STATE_KV_SET = 0,
    STATE_KV_CAS,              /* index: 0 = must not exist, else ModifyIndex must equal */
    STATE_KV_GET,              /* fails the txn if missing */
    STATE_KV_GET_OR_EMPTY,     /* never fails */
    STATE_KV_GET_TREE,         /* all keys under prefix */
    STATE_KV_CHECK_INDEX,      /* fails unless ModifyIndex == index */
    STATE_KV_CHECK_NOT_EXISTS, /* fails if the key exists */
    STATE_KV_DELETE,
    STATE_KV_DELETE_CAS,    /* fails unless ModifyIndex == index */
    STATE_KV_DELETE_TREE,   /* key is a prefix */
    STATE_KV_CHECK_SESSION, /* fails unless held by `session` */
    /* ?acquire= / ?release= (kvsLockTxn / kvsUnlockTxn). Lock: CN_EINVAL
     * "missing session" / "invalid session \"<id>\"" for an absent or unknown
     * session; CN_ECONFLICT "failed to lock key ..., lock is already held"
     * when another session holds it; else sets value, flags and Session,
     * LockIndex + 1 unless the session already held it. Unlock: CN_ECONFLICT
     * unless the session holds it; clears Session, keeps LockIndex.
     * Lock-delay is not checked here: it is wall-clock time, checked by the
     * proposer (state_kv_lock_delay) as Consul's KVS endpoint does. */
    STATE_KV_LOCK,
    STATE_KV_UNLOCK,
    STATE_KV__COUNT
};

struct state_kv_op {
    enum state_kv_verb verb;
    const char *key;
    const void *value;
    size_t value_len;
    uint64_t flags;
    uint64_t index;
    const char *session; /* may be NULL */
};

/* Encoders append one command to `out`. Inputs are borrowed. Return 0,
 * CN_ENOMEM, or CN_EINVAL (e.g. zero ops, more than STATE_TXN_MAX_OPS). */
#define STATE_TXN_MAX_OPS 128
int state_cmd_kv_txn(struct cn_buf *out, const struct state_kv_op *ops, size_t nops);

struct state_register {
    struct state_node node; /* name, id, address, tagged_addresses, meta */
    bool skip_node_update;
    struct state_service *service; /* NULL: none; service->node is ignored (= node.name) */
    struct state_check *checks;    /* check->node ignored; service_name filled by apply */
    size_t nchecks;
};
int state_cmd_register(struct cn_buf *out, const struct state_register *r);
/* Free what a caller-built register owns: the node's strings, the service
 * (struct included), every check and the checks array; zero it. NULL ok. */
void state_register_clear(struct state_register *r);
/* service_id and check_id may be NULL: NULL both = remove the node and all on it. */
int state_cmd_deregister(struct cn_buf *out, const char *node, const char *service_id,
                         const char *check_id);
int state_cmd_check_status(struct cn_buf *out, const char *node, const char *check_id,
                           const char *status, const char *output);
int state_cmd_noop(struct cn_buf *out);
int state_cmd_kv_reap(struct cn_buf *out, uint64_t index);

/* A session (Consul's structs.Session). Durations in ns; `ttl` is the text
 * the client gave ("" = no TTL), echoed as Consul echoes it. */
#define STATE_SESSION_ID_MAX 128
struct state_session {
    char *id; /* UUID, chosen by the proposer */
    char *name;
    char *node;
    char *behavior; /* "release" or "delete" */
    char *ttl;
    int64_t ttl_ns;
    int64_t lock_delay_ns;
    char **node_checks;
    size_t n_node_checks;
    char **service_checks; /* check IDs on the node (Consul's ServiceChecks[].ID) */
    size_t n_service_checks;
    uint64_t create_index, modify_index;
    uint64_t renew_index; /* last SESSION_RENEW applied (0: none) */
};
void state_session_clear(struct state_session *v);
int state_cmd_session_create(struct cn_buf *out, const struct state_session *v);
int state_cmd_session_destroy(struct cn_buf *out, const char *id);
int state_cmd_session_renew(struct cn_buf *out, const char *id);

/* Type of an encoded command, or -1 if empty/unknown. */
int state_cmd_type(const void *cmd, size_t len);

/* ---- apply -------------------------------------------------------------- */

/* A KV pair in a result. It and the strings it points to belong to the
 * state_result (one allocation, released by state_result_free). */
struct state_kv_copy {
    char *key;
    uint8_t *value; /* NULL when has_value == false */
    size_t value_len;
    bool has_value; /* Consul returns Value:null for write verbs */
    uint64_t flags, create_index, modify_index, lock_index;
    char *session;
};

#define STATE_ERR_MAX 400 /* an error text's bytes with its NUL (longer ones are cut) */
struct state_txn_error {
    uint32_t op_index;
    char what[STATE_ERR_MAX];
};

/* ---- catalog transactions (cattxn.c) -----------------------------------------
 * /v1/txn Node, Service and Check operations (Consul's state/txn.go txnNode,
 * txnService, txnCheck; api-docs/txn.mdx). Every op runs in order and sees
 * the earlier ones; every failure is reported (errors[] with its op index and
 * Consul's text) and any failure undoes the whole command (CN_ECONFLICT).
 * get, set and cas give the item as it is after the op; deletes give nothing.
 * cas and delete-cas compare `index` with the item's ModifyIndex (cas with
 * index 0: the item must not exist). Texts: `node "n" doesn't exist`,
 * `service "s" on node "n" doesn't exist`, `check "c" on node "n" doesn't
 * exist`, `failed to set node "n", index is stale`, `failed to delete node
 * "n", index is stale` (service and check alike), `Missing node
 * registration` for a service or check on an unknown node, and the
 * registration errors of REGISTER. */
enum state_cat_kind { STATE_CAT_NODE = 1, STATE_CAT_SERVICE, STATE_CAT_CHECK };
enum state_cat_verb {
    STATE_CAT_SET = 0,
    STATE_CAT_CAS,
    STATE_CAT_GET,
    STATE_CAT_DELETE,
    STATE_CAT_DELETE_CAS,
    STATE_CAT__COUNT
};
struct state_cat_op {
    enum state_cat_kind kind;
    enum state_cat_verb verb;
    uint64_t index;               /* cas, delete-cas: the expected ModifyIndex */
    struct state_node node;       /* NODE: the node; SERVICE: node.name names the node */
    struct state_service service; /* SERVICE (service.node ignored) */
    struct state_check check;     /* CHECK: check.node names the node */
};
/* Inputs borrowed. 0, CN_ENOMEM, CN_EINVAL (no ops, more than
 * STATE_TXN_MAX_OPS, a bad kind or verb). */
int state_cmd_cat_txn(struct cn_buf *out, const struct state_cat_op *ops, size_t nops);
/* One result: deep copies (owned by the state_result), the member of `kind`. */
struct state_cat_result {
    enum state_cat_kind kind;
    struct state_node node;
    struct state_service service;
    struct state_check check;
};

struct state_result {
    /* 0 = applied; CN_ECONFLICT = a txn check/cas failed and nothing changed
     * (errors[] says which op); CN_ENOTFOUND = check_status of an unknown
     * check (nothing changed); CN_EINVAL = semantically invalid command
     * (e.g. service on unknown node w/o address; errors[0].what says why);
     * CN_ECORRUPT = undecodable. Deregistering an unknown node/service/check
     * is rc 0 with ok = false (Consul's deregister is a no-op success). */
    int rc;
    /* For a one-op KV txn the boolean Consul returns for PUT/DELETE; for a
     * multi-op txn rc == 0; for register true; for deregister whether
     * anything was found. */
    bool ok;
    struct state_kv_copy *results;
    size_t nresults;
    struct state_txn_error *errors;
    size_t nerrors;
    /* CAT_TXN results, in op order (get/set/cas ops only) */
    struct state_cat_result *cat;
    size_t ncat;
};

void state_result_init(struct state_result *r);
void state_result_free(struct state_result *r);

/* Apply one committed command at log index `index` (must be greater than the
 * last applied index; NOOPs included). `res` may be NULL. Returns res->rc or,
 * for CN_ENOMEM, leaves the state unchanged and returns CN_ENOMEM (the caller
 * treats that as fatal: a replica cannot skip a committed entry).
 * CN_ECONFLICT/CN_ENOTFOUND/CN_EINVAL are normal outcomes, not failures: the
 * entry still counts as applied. CN_ECORRUPT changes nothing, not even the
 * applied index; an index not above it is CN_EINVAL, also without change.
 * `res` must be initialized (state_result_init); earlier contents are freed. */
int state_apply(struct state *s, uint64_t index, const void *cmd, size_t len,
                struct state_result *res);

uint64_t state_last_index(const struct state *s); /* last applied log index */

/* ---- indexes ------------------------------------------------------------- */

/* Highest index that changed `t` (including deletions); 0 if never. */
uint64_t state_table_index(const struct state *s, enum state_table t);
/* Highest index that changed anything visible through service `name` (incl.
 * deregistration of its last instance, and node checks of its nodes). */
uint64_t state_service_index(const struct state *s, const char *name);
/* Highest index that changed node `name` or anything on it. */
uint64_t state_node_index(const struct state *s, const char *name);

/* ---- KV reads ------------------------------------------------------------ */

/* True if `key` is live; then fills *out (may be NULL: existence check). */
bool state_kv_get(const struct state *s, const char *key, struct state_kv *out);
/* Visit live keys starting with `prefix` ("" = all) in byte order; cost is
 * O(log n + matches), never a walk of the whole store. cb returns nonzero to
 * stop; its `kv` is built for that one call (copy the struct to keep it).
 * Returns the number visited. */
typedef int (*state_kv_visit_cb)(void *arg, const struct state_kv *kv);
size_t state_kv_scan(const struct state *s, const char *prefix, state_kv_visit_cb cb, void *arg);
/* Visit keys > `after` (exclusive; NULL = from the start of prefix) under prefix;
 * lets ?keys&separator= skip a whole rolled-up subtree in O(log n). */
size_t state_kv_scan_from(const struct state *s, const char *prefix, const char *after,
                          state_kv_visit_cb cb, void *arg);
/* Highest ModifyIndex under prefix, counting deleted keys (tombstones) so the
 * index never goes backwards after a delete; 0 if nothing ever lived there. */
uint64_t state_kv_prefix_index(const struct state *s, const char *prefix);
size_t state_kv_count(const struct state *s);

/* ---- catalog reads ------------------------------------------------------- */

const struct state_node *state_node_get(const struct state *s, const char *name);
/* The node a client names, as Consul's lower-cased node index finds it: the
 * exact name, else the first node whose name equals it ignoring ASCII case
 * (an index of the state, O(log n)). For read paths (HTTP, DNS): the write
 * path matches names exactly. NULL when none. */
const struct state_node *state_node_lookup(const struct state *s, const char *name);
/* All in a stable order: nodes by name; services by (node, id); checks by
 * (node, check_id). cb returns nonzero to stop. */
typedef int (*state_node_cb)(void *arg, const struct state_node *n);
typedef int (*state_service_cb)(void *arg, const struct state_service *svc);
typedef int (*state_check_cb)(void *arg, const struct state_check *c);
void state_nodes_foreach(const struct state *s, state_node_cb cb, void *arg);
void state_services_foreach(const struct state *s, state_service_cb cb, void *arg); /* all */
/* Instances of service `name`, ordered by (node, id); O(instances). */
void state_service_instances(const struct state *s, const char *name, state_service_cb cb,
                             void *arg);
/* Connect-capable instances for destination `name`: proxies whose
 * Proxy.DestinationServiceName is name, and Connect-native instances of name,
 * ordered by (node, id); O(all instances). Their changes move
 * state_service_index(name) and fire the watches of name (STATE_T_SERVICES). */
void state_connect_instances(const struct state *s, const char *name, state_service_cb cb,
                             void *arg);
void state_node_services(const struct state *s, const char *node, state_service_cb cb, void *arg);
const struct state_service *state_service_get(const struct state *s, const char *node,
                                              const char *service_id);
void state_checks_foreach(const struct state *s, state_check_cb cb, void *arg);
/* Checks on `node`: node-level checks and service checks, by check_id. */
void state_node_checks(const struct state *s, const char *node, state_check_cb cb, void *arg);
/* Checks that health/service shows for one instance: the node's node-level
 * checks then the instance's own checks. */
void state_instance_checks(const struct state *s, const struct state_service *svc,
                           state_check_cb cb, void *arg);
/* All checks attached to instances of service `name`. */
void state_service_checks(const struct state *s, const char *name, state_check_cb cb, void *arg);
const struct state_check *state_check_get(const struct state *s, const char *node,
                                          const char *check_id);

/* ---- sessions ------------------------------------------------------------ */

const struct state_session *state_session_get(const struct state *s, const char *id);
typedef int (*state_session_cb)(void *arg, const struct state_session *v);
/* All sessions by ID, or those of one node by ID. cb returns nonzero to stop. */
void state_sessions_foreach(const struct state *s, state_session_cb cb, void *arg);
void state_node_sessions(const struct state *s, const char *node, state_session_cb cb, void *arg);
size_t state_session_count(const struct state *s);
/* The keys session `id` holds (acquired), in key order; cb returns nonzero
 * to stop. O(log n + held). */
typedef int (*state_key_cb)(void *arg, const char *key);
void state_session_held_keys(const struct state *s, const char *id, state_key_cb cb, void *arg);
/* Highest renew_index of any session ever (0: none): the leader's TTL timers
 * rescan when it moves. */
uint64_t state_session_renew_index(const struct state *s);
/* Lock-delay of `key`: true if an invalidation at log index *index started a
 * lock-delay of *delay_ns for it (entries stay until KV_REAP passes their
 * index; the caller compares with the time it saw that index applied). */
bool state_kv_lock_delay(const struct state *s, const char *key, uint64_t *index,
                         int64_t *delay_ns);

/* ---- user events (event.c) ------------------------------------------------
 * Consul's user events (agent/user_event.go) travel by gossip; cairn has none
 * yet, so an event is a log entry (EVENT_FIRE) and every server keeps the
 * STATE_EVENTS_MAX most recent in a ring, as each Consul agent keeps its last
 * 256 (agent.eventBuf). The ring is agent memory, not replicated data: it is
 * not in snapshots, and a snapshot restore keeps the ring as it was (Consul's
 * agents keep their buffer whatever happens to Raft). Filters are regular
 * expressions the reader applies (api/event.c), as the receiving agent does. */
#define STATE_EVENTS_MAX 256
#define STATE_EVENT_ID_LEN 36 /* a UUID: 8-4-4-4-12 hex digits */
struct state_event {
    char *id; /* UUID chosen by the proposer */
    char *name;
    uint8_t *payload; /* NULL when payload_len == 0 (Consul's "Payload": null) */
    size_t payload_len;
    char *node_filter, *service_filter, *tag_filter; /* "" = none */
    uint64_t ltime; /* the log index it was applied at (Consul: serf's Lamport time) */
};
/* Inputs borrowed; payload may be NULL with payload_len 0. 0, CN_ENOMEM or
 * CN_EINVAL (NULL id or name). */
int state_cmd_event_fire(struct cn_buf *out, const struct state_event *e);
/* Visit the ring oldest first; cb returns nonzero to stop. Borrowed events. */
typedef int (*state_event_cb)(void *arg, const struct state_event *e);
void state_events_foreach(const struct state *s, state_event_cb cb, void *arg);
size_t state_event_count(const struct state *s);

/* ---- prepared queries (query.c) ----------------------------------------------
 * Consul's prepared queries (agent/consul/state/prepared_query.go). The state
 * keeps what its rules need (ID, name, session, whether it is a template) and
 * the definition as opaque bytes the API layer writes and reads (its JSON), as
 * it keeps KV values. Rules, with Consul's texts (CN_EINVAL; a missing query
 * on update or delete is CN_ENOTFOUND):
 *   - update/delete: the ID must exist: "Cannot modify non-existent prepared
 *     query: '<id>'";
 *   - a name may not equal another query's ID ("name '<n>' aliases an
 *     existing query ID") nor another query's name ("name '<n>' aliases an
 *     existing query name"); one template with an empty name at most ("a query
 *     template with an empty name already exists");
 *   - a session must exist ("invalid session \"<id>\""), and its invalidation
 *     deletes the queries bound to it (inside the same command). */
struct state_query {
    char *id;
    char *name; /* "" = none */
    char *session;
    bool is_template;
    uint8_t *def; /* opaque definition (api/query.c: JSON) */
    size_t def_len;
    uint64_t create_index, modify_index;
};
/* op: 0 create (ID must be new), 1 update. Inputs borrowed. 0, CN_ENOMEM, CN_EINVAL. */
int state_cmd_query_set(struct cn_buf *out, int op, const struct state_query *q);
int state_cmd_query_delete(struct cn_buf *out, const char *id);
const struct state_query *state_query_get(const struct state *s, const char *id);
/* By name: the query named exactly `name` (templates included), else NULL. */
const struct state_query *state_query_by_name(const struct state *s, const char *name);
/* The template whose name is the longest prefix of `name` (an empty name
 * matches everything), or NULL (Consul's name_prefix_match resolution). */
const struct state_query *state_query_template_match(const struct state *s, const char *name);
typedef int (*state_query_cb)(void *arg, const struct state_query *q);
void state_queries_foreach(const struct state *s, state_query_cb cb, void *arg); /* by ID */
size_t state_query_count(const struct state *s);

/* ---- service intentions (intention.c) -----------------------------------------
 * Consul's intentions (agent/structs/intention.go; stored as service-intentions
 * config entries since 1.9): at most one per (source, destination) service
 * pair, either of which may be the wildcard "*". The state keeps one namespace
 * ("default"). Rules, with Consul's texts (CN_EINVAL; a missing ID on update or
 * delete is CN_ENOTFOUND):
 *   - create by ID: the pair must be free ("duplicate intention found: ALLOW
 *     default/web => default/db (ID: ...)");
 *   - update by ID: "Cannot modify non-existent intention: '<id>'"; moving it
 *     onto another intention's pair is a duplicate;
 *   - upsert by pair (Consul 1.9+): keeps the ID and creation time of the
 *     pair's intention, else has neither;
 *   - delete by ID: "Cannot delete non-existent intention: '<id>'"; by pair:
 *     nothing there is success.
 * Precedence is derived from the names (state_intention_precedence). */
struct state_intention {
    const char *id; /* "" = none (upserted by name) */
    const char *source, *destination;
    const char *action;             /* "allow" | "deny" */
    const char *description;        /* "" = none */
    const char *meta;               /* a JSON object's text, "" = none (api/intention.c) */
    int64_t created_ns, updated_ns; /* wall clock of the leader's proposal; 0 = none */
    int precedence;
    uint64_t create_index, modify_index;
};
enum state_ixn_op { STATE_IXN_CREATE = 0, STATE_IXN_UPDATE = 1, STATE_IXN_UPSERT = 2 };
/* x->updated_ns is the write's time; id, created and indexes of x are set by
 * the rules above. Inputs borrowed. 0, CN_ENOMEM or CN_EINVAL. */
int state_cmd_intention_set(struct cn_buf *out, int op, const struct state_intention *x);
/* By id when id is non-empty, else by (source, destination). */
int state_cmd_intention_delete(struct cn_buf *out, const char *id, const char *source,
                               const char *destination);
const struct state_intention *state_intention_get(const struct state *s, const char *source,
                                                  const char *destination);
const struct state_intention *state_intention_by_id(const struct state *s, const char *id);
typedef int (*state_intention_cb)(void *arg, const struct state_intention *x);
/* By (destination, source), bytewise; cb returns nonzero to stop. */
void state_intentions_foreach(const struct state *s, state_intention_cb cb, void *arg);
size_t state_intention_count(const struct state *s);
/* A service-intentions config entry (Consul 1.9+) is a view of the
 * intentions of one destination: its CreateIndex the lowest create index of
 * them, its ModifyIndex the highest modify index (0, 0: no entry). Every
 * write that removes an intention of a destination (a delete, an update by
 * ID moving it elsewhere) gives the destination's remaining intentions the
 * write's index, so that ModifyIndex moves with every change of the entry,
 * as all intentions of a Consul entry share its index. */
void state_intention_entry_index(const struct state *s, const char *destination,
                                 uint64_t *create_index, uint64_t *modify_index);
#define STATE_IXN_ENTRY_MAX 1024 /* sources per entry */
struct state_ixn_source {
    const char *source, *action, *description;
};
/* The entry of destination replaced by srcs[0..n) (n >= 1), or deleted (del,
 * n = 0): pairs not named are deleted; a pair kept keeps its ID, creation and
 * Meta; every intention written gets the write's index. With cas, only if
 * the entry's ModifyIndex is still cas_index (0: there is no entry);
 * otherwise nothing changes and res->ok is false. Inputs borrowed. 0,
 * CN_ENOMEM or CN_EINVAL (an empty name, an action not allow/deny, too many
 * sources, a repeated source). */
int state_cmd_intention_entry(struct cn_buf *out, const char *destination, bool del, bool cas,
                              uint64_t cas_index, int64_t now_ns,
                              const struct state_ixn_source *srcs, size_t n);
/* Consul's precedence of a (source, destination) pair: 9, 8, 6 or 5. */
int state_intention_precedence(const char *source, const char *destination);

/* ---- the Connect CA (ca.c) ----------------------------------------------------
 * One record: the CA's configuration, roots and signing key as bytes only
 * connect/ reads (api/connect_ca.c, agent/), with the indexes of its first
 * and latest CA_SET. */
struct state_ca {
    const uint8_t *data;
    size_t len;
    uint64_t create_index, modify_index;
};
/* Replace the CA record with data[0..len) (len > 0) if its modify index is
 * still `expect` (0: there is none yet), else the apply fails with
 * CN_ECONFLICT. 0, CN_ENOMEM, CN_EINVAL. */
int state_cmd_ca_set(struct cn_buf *out, const void *data, size_t len, uint64_t expect);
/* The record, or NULL before the leader initialised the CA. */
const struct state_ca *state_ca_get(const struct state *s);

/* ---- config entries (config.c) -----------------------------------------------
 * Consul's config-entries table for the kinds cairn stores itself
 * (proxy-defaults, service-defaults): one entry per (kind, name), its body
 * opaque bytes (api/config_defaults.c: the entry's canonical JSON without
 * its indexes), as prepared queries keep their definition. The state applies
 * what needs it: check-and-set (Consul's upsert-cas, delete-cas: with cas,
 * an upsert applies only if the entry's ModifyIndex is cas_index, 0 meaning
 * there is none; a delete only if it exists with that ModifyIndex;
 * otherwise nothing changes and res->ok is false) and the indexes. A delete
 * of an absent entry succeeds and changes nothing. (STATE_T_CONFIG, kind) is
 * notified per change. */
struct state_config_entry {
    const char *kind, *name;
    const uint8_t *data; /* NUL-ended beyond len */
    size_t len;
    uint64_t create_index, modify_index;
};
/* Upsert (del false: data[0..len), len > 0) or delete (len 0). Inputs
 * borrowed. 0, CN_ENOMEM, CN_EINVAL (an empty kind or name). */
int state_cmd_config_entry(struct cn_buf *out, const char *kind, const char *name, bool del,
                           bool cas, uint64_t cas_index, const void *data, size_t len);
const struct state_config_entry *state_config_entry_get(const struct state *s, const char *kind,
                                                        const char *name);
typedef int (*state_config_entry_cb)(void *arg, const struct state_config_entry *e);
/* The entries of kind (NULL: every kind) by (kind, name); cb returns nonzero
 * to stop. */
void state_config_entries_foreach(const struct state *s, const char *kind, state_config_entry_cb cb,
                                  void *arg);
size_t state_config_entry_count(const struct state *s);

/* ---- network coordinates (coord.c) -------------------------------------------
 * Consul's coordinates table (agent/consul/state/coordinate.go): one LAN
 * coordinate per (node, segment), the segment "" outside network segments.
 * A batch replaces the coordinates it names; an entry for a node the
 * catalog does not hold, or with a component that is not finite, is
 * dropped (Consul drops the first: coordinates go with their node);
 * deregistering a node removes its coordinates. The table index moves with
 * every batch (Consul's indexUpdateMaxTxn), and (STATE_T_COORDS, node) is
 * notified per node changed. The values are Serf's Coordinate, the
 * dimensionality fixed at 8 (coord/coord.h; the API converts). */
#define STATE_COORD_DIM 8
#define STATE_COORD_BATCH_MAX 4096 /* entries per command */
struct state_coord {
    const char *node;
    const char *segment;
    double vec[STATE_COORD_DIM];
    double error, adjustment, height;
};
/* 0, CN_EINVAL (no entries, more than STATE_COORD_BATCH_MAX, an empty node
 * name or a NULL segment), CN_ENOMEM. */
int state_cmd_coord_batch(struct cn_buf *out, const struct state_coord *v, size_t n);
/* Borrowed, or NULL. */
const struct state_coord *state_coord_get(const struct state *s, const char *node,
                                          const char *segment);
/* In (node, segment) order; node non-NULL: only that node's. Stops when cb
 * returns non-zero (returned). */
typedef int (*state_coord_cb)(void *arg, const struct state_coord *c);
int state_coords_foreach(const struct state *s, const char *node, state_coord_cb cb, void *arg);
size_t state_coord_count(const struct state *s);

/* ---- ACL tokens, policies, roles (acl.c) -----------------------------------
 * Consul's ACL tables (agent/consul/state/acl.go). The state keeps what its
 * rules need — the kind, the ID (a token's AccessorID), the unique name (a
 * token's SecretID, a policy's or role's Name), a token's expiration time —
 * and the object itself as opaque bytes (its JSON, written and read only by
 * api/acl.c), as it keeps prepared queries. Rules (CN_EINVAL with Consul's
 * texts; update or delete of a missing object CN_ENOTFOUND):
 *   - the name is unique within a kind: "Invalid Policy: A Policy with Name
 *     \"N\" already exists", "Invalid Role: A Role with Name \"N\" already
 *     exists", "Invalid Token: SecretID is already in use";
 *   - create needs a new ID, update an existing one;
 *   - BOOTSTRAP creates its token only once: afterwards CN_EEXIST with "ACL
 *     bootstrap no longer allowed (reset index: N)", N the index it happened
 *     at. Tables are few hundred rows at most: name lookups walk a kind. */
enum state_acl_kind { STATE_ACL_TOKEN = 1, STATE_ACL_POLICY = 2, STATE_ACL_ROLE = 3 };
struct state_acl {
    uint8_t kind;            /* enum state_acl_kind */
    char *id;                /* AccessorID, policy ID, role ID */
    char *name;              /* SecretID, policy Name, role Name */
    int64_t expires_unix_ns; /* tokens: ExpirationTime (0 = never) */
    uint8_t *def;            /* opaque (api/acl.c: JSON without indexes) */
    size_t def_len;
    uint64_t create_index, modify_index;
};
/* op: 0 create (ID must be new), 1 update (ID must exist), 2 either. Inputs
 * borrowed. 0, CN_ENOMEM, CN_EINVAL. */
int state_cmd_acl_set(struct cn_buf *out, int op, const struct state_acl *v);
int state_cmd_acl_delete(struct cn_buf *out, uint8_t kind, const char *id);
int state_cmd_acl_bootstrap(struct cn_buf *out, const struct state_acl *token);
/* REPLICATE (a secondary datacenter's copy of the primary's objects, Consul's
 * ACL replication): ndel deletes (kind and id of each dels[i]; an unknown ID
 * is no error), then nset upserts (create or replace by ID). An upsert whose
 * unique name (SecretID, policy or role Name) another object of its kind
 * holds removes that object first: the primary is authoritative, and a
 * rename in one batch may free a name a later upsert of the batch takes. All
 * or nothing; CN_EINVAL for a malformed object. */
int state_cmd_acl_replicate(struct cn_buf *out, const struct state_acl *dels, size_t ndel,
                            const struct state_acl *sets, size_t nset);
const struct state_acl *state_acl_get(const struct state *s, uint8_t kind, const char *id);
/* By unique name (SecretID for tokens). NULL when none. */
const struct state_acl *state_acl_by_name(const struct state *s, uint8_t kind, const char *name);
typedef int (*state_acl_cb)(void *arg, const struct state_acl *v);
/* Every object of kind, by ID; cb returns nonzero to stop. */
void state_acl_foreach(const struct state *s, uint8_t kind, state_acl_cb cb, void *arg);
/* The index BOOTSTRAP was applied at (0: never). */
uint64_t state_acl_bootstrap_index(const struct state *s);

/* ---- snapshots ----------------------------------------------------------- */

/* Serialize the whole state (with last index and all table/service/node
 * indexes, and KV tombstones) into out. Versioned format, see docs/format-state.md. */
int state_snapshot_encode(const struct state *s, struct cn_buf *out);
/* Replace s's contents by a decoded snapshot. On any error (CN_ECORRUPT with
 * a reason in err, CN_ENOMEM) s is unchanged. */
int state_snapshot_restore(struct state *s, const void *data, size_t len, char *err, size_t errcap);

/* Replace s's contents by a decoded snapshot as of log index `at` (> the
 * last applied index): every modify index (entries, names, tables) and the
 * last index become `at`; create, lock-delay and renew indexes above it are
 * lowered to it. Same errors as above. */
int state_snapshot_restore_at(struct state *s, const void *data, size_t len, uint64_t at, char *err,
                              size_t errcap);

/* ---- restores through the log (restore.c) ------------------------------- */
#define STATE_RESTORE_CHUNK_MAX ((size_t)4 << 20)
int state_cmd_restore_chunk(struct cn_buf *out, uint64_t id, uint32_t seq, uint64_t total,
                            const void *p, size_t n);
int state_cmd_restore_commit(struct cn_buf *out, uint64_t id, uint64_t total);
/* A restore is being staged: no snapshot may be taken (its chunks before
 * the snapshot index would be lost to a server installing it). */
bool state_restore_staging(const struct state *s);
/* Drop a staged restore (the server calls it at the first entry of a later
 * term: a restore's chunks and commit are proposed in one term). */
void state_restore_abort(struct state *s);

/* Counts by table, for snapshot archives (meta.json) and inspect. */
struct state_counts {
    size_t kv, kv_tombstones, nodes, services, checks, sessions, queries;
};
void state_counts(const struct state *s, struct state_counts *out);

/* Memory accounting (approximate bytes owned), for benchmarks and /agent/self. */
size_t state_mem_bytes(const struct state *s);

#endif
