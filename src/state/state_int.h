/* state/state_int.h: private to src/state/. The data structures behind
 * state.h and the undo log that makes every command all-or-nothing.
 *
 * Layout. Every table is an intrusive AVL tree (avl.c) of records allocated
 * one by one with cn_malloc (KV records: from the state's slab, s->kv_slab,
 * base/slab.h). Records are immutable once linked: a change
 * builds a new record and swaps it into the same tree position
 * (state__avl_replace, no rebalancing), so the old one can be swapped back.
 *
 * Atomicity. A command runs inside a struct txn. Every structural change is
 * logged in t->u (reserved *before* the change, so logging never fails);
 * scalar counters are saved at the start. On any error the log is walked
 * backwards (rollback: no allocation at all), on success it is walked to free
 * the records that were replaced or removed (commit). Change notifications are
 * queued during the command and delivered at commit, before those records are
 * freed, so the key pointers they carry stay valid during the callback. */
#ifndef CN_STATE_INT_H
#define CN_STATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/enc.h"
#include "base/slab.h"
#include "state/state.h"

#define CN_CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* ---- AVL tree (avl.c) ---------------------------------------------------- */

/* hx packs the height (low 8 bits) and 56 bits of per-tree augmentation
 * (the KV tree keeps the subtree's highest ModifyIndex there). */
struct avl {
    struct avl *l, *r;
    uint64_t hx;
};
#define AVL_H(n) ((n) ? (int)((n)->hx & 0xffu) : 0)
#define AVL_AUG(n) ((n)->hx >> 8)
#define AVL_AUG_MAX ((UINT64_C(1) << 56) - 1)

struct avl_ops {
    int (*cmp)(const void *key, const struct avl *n); /* key vs node */
    const void *(*key)(const struct avl *n);          /* the node's own key */
    void (*fix)(struct avl *n); /* recompute augmentation from children; NULL = none */
    void (*free)(struct state *s, struct avl *n);
};

struct avl *state__avl_find(struct avl *root, const void *key, const struct avl_ops *ops);
/* Debug and tests: the tree's height if it is a valid AVL tree (keys in
 * order, stored heights right, balanced), else -1. O(n). */
int state__avl_check(const struct avl *root, const struct avl_ops *ops);
/* The last node in key order (NULL for an empty tree): a walk down the right
 * spine, no comparisons. */
struct avl *state__avl_last(struct avl *root);
/* Key must not be present. Never allocates. A key after the last one is
 * appended down the right spine with one comparison in all. */
void state__avl_insert(struct avl **root, struct avl *n, const struct avl_ops *ops);
/* A balanced tree of the n nodes chained through ->r in strictly increasing
 * key order, starting at *list (advanced past them): O(n), no comparisons,
 * no rotations; ops->fix runs on every node bottom-up. Height
 * floor(log2 n) + 1. For loading a snapshot, whose tables are in key order. */
struct avl *state__avl_build(struct avl **list, size_t n, const struct avl_ops *ops);
/* Unlink and return the node with `key` (NULL if absent). */
struct avl *state__avl_remove(struct avl **root, const void *key, const struct avl_ops *ops);
/* nw (same key as old) takes old's place; old's links are left intact. */
void state__avl_replace(struct avl **root, struct avl *old, struct avl *nw,
                        const struct avl_ops *ops);

#define AVL_MAX_DEPTH 96 /* AVL height <= 1.44 log2(n + 2): 92 for 2^64 nodes */
struct avl_iter {
    struct avl *stk[AVL_MAX_DEPTH];
    int n;
};
/* Position before the first node >= key (after: > key); key NULL = first. */
void state__avl_seek(struct avl_iter *it, struct avl *root, const void *key, bool after,
                     const struct avl_ops *ops);
struct avl *state__avl_next(struct avl_iter *it);

/* ---- records --------------------------------------------------------------- */

/* One KV entry in one allocation, no stored pointers (views are built on
 * demand, state__kv_view):
 *
 *   avl links + subtree max (24) | mx (8) | vlen (4)
 *   data = key NUL value [create u64] [flags u64] [lock_index u64] [session NUL]
 *
 * mx holds ModifyIndex in its low 56 bits (indexes never exceed AVL_AUG_MAX:
 * state_apply and restore refuse larger ones) and KVR_* bits above. The key
 * has no NUL inside (commands and snapshots refuse one), so its length is
 * strlen(data). The trailer holds only what differs from the common case:
 * CreateIndex when it is not ModifyIndex (a key written once has them equal),
 * Flags and LockIndex when not zero, Session when there is one. Trailer
 * integers are unaligned: read and written with memcpy. A key written once
 * with a 32-byte key and a 256-byte value is 36 + 289 bytes, one 336-byte
 * glibc chunk (352 once updated: + CreateIndex). A tombstone (KVR_TOMB) holds
 * only its key; its ModifyIndex is the index that deleted the key. */
struct kv_rec {
    struct avl a;
    uint64_t mx;
    uint32_t vlen; /* < 2^32: every decoder carries u32 lengths */
    char data[];
};
#define KVR_TOMB (UINT64_C(1) << 56)
#define KVR_CREATE (UINT64_C(1) << 57) /* CreateIndex != ModifyIndex: stored */
#define KVR_FLAGS (UINT64_C(1) << 58)
#define KVR_LOCK (UINT64_C(1) << 59)
#define KVR_SESS (UINT64_C(1) << 60)
#define KVR_MODIFY(r) ((r)->mx & AVL_AUG_MAX)
#define KV_IS_TOMB(r) (((r)->mx & KVR_TOMB) != 0)
#define KVR_KEY(r) ((const char *)(r)->data)
/* Heap bytes of one record (its slab slot, or the glibc chunk of a record
 * over CN_SLAB_MAX), as state_mem_bytes counts it. */
size_t state__kv_rec_mem(const struct kv_rec *r);

struct node_rec {
    struct avl a;
    struct state_node n;
};

/* A service instance lives in two trees keyed by (node, id): the global one
 * (s->services) and its name's instance tree (name_rec.inst). */
struct pair_key { /* (node, id) keys of services and checks */
    const char *a, *b;
};

struct svc_rec {
    struct avl by_id;
    struct avl by_name;
    struct pair_key k; /* (s.node, s.id) */
    struct state_service s;
};

struct chk_rec {
    struct avl a;
    struct pair_key k; /* (c.node, c.check_id) */
    struct state_check c;
};

/* Per-name index entry (service names and node names); kept after the last
 * instance is gone so indexes never go backwards. */
struct name_rec {
    struct avl a;
    uint64_t index;
    struct avl *inst; /* service names only: svc_rec.by_name tree */
    char name[];
};

/* A session lives in two trees: by ID (s->sessions, owner) and by (node, ID)
 * (s->sess_by_node). Its strings are owned (cn_malloc'd). */
struct sess_rec {
    struct avl by_id;
    struct avl by_node;
    struct pair_key k; /* (v.node, v.id) */
    struct state_session v;
};

/* A key's lock-delay: started at log index `index` for delay_ns. */
struct ld_rec {
    struct avl a;
    uint64_t index;
    int64_t delay_ns;
    char key[];
};

struct state {
    uint64_t last_index;
    uint64_t tidx[STATE_T__COUNT];
    struct avl *kv;
    size_t kv_live, kv_tombs;
    struct cn_slab kv_slab;   /* the KV records up to CN_SLAB_MAX bytes (kv.c) */
    struct avl *nodes;        /* node_rec by name */
    struct avl *services;     /* svc_rec.by_id by (node, id) */
    struct avl *checks;       /* chk_rec by (node, check_id) */
    struct avl *svc_names;    /* name_rec */
    struct avl *node_names;   /* name_rec */
    struct avl *node_ids;     /* nid_rec by node ID, ASCII case folded: nodeid.c */
    struct avl *node_folded;  /* nid_rec by (name folded, name): nodeid.c */
    struct avl *sessions;     /* sess_rec.by_id by id */
    struct avl *sess_by_node; /* sess_rec.by_node by (node, id) */
    size_t nsess;
    uint64_t sess_renew;     /* highest renew_index ever applied */
    struct avl *lock_delays; /* ld_rec by key */
    /* User events (event.c): a ring of the newest STATE_EVENTS_MAX, each one
     * allocation; agent memory kept across snapshot restores. */
    struct {
        struct state_event *e[STATE_EVENTS_MAX];
        size_t head, n; /* oldest at head */
        size_t mem;     /* counted apart from `mem`: it survives restores */
    } ev;
    struct avl *queries; /* query_rec by id (query.c) */
    size_t nqueries;
    struct avl *held;       /* held_rec by (session, key): held.c */
    struct avl *intentions; /* ixn_rec by (destination, source): intention.c */
    struct avl *ca;         /* at most one ca_rec: ca.c */
    struct {                /* a restore being staged (restore.c) */
        uint8_t *p;
        size_t len, cap;
        uint64_t id, total;
        uint32_t seq;
        bool on;
    } rst;
    struct avl *acl;        /* acl_rec by (kind, id): acl.c */
    struct avl *coords;     /* coord_rec by (node, segment): coord.c */
    uint64_t acl_bootstrap; /* index of the ACL bootstrap (0: never) */
    struct avl *config;     /* cfg_rec by (kind, name): config.c */
    size_t mem;
    state_change_cb cb;
    void *cb_arg;
};

extern const struct avl_ops state__kv_ops;
extern const struct avl_ops state__node_ops;
extern const struct avl_ops state__svc_id_ops;
extern const struct avl_ops state__svc_name_ops;
extern const struct avl_ops state__chk_ops;
extern const struct avl_ops state__name_ops;
extern const struct avl_ops state__sess_id_ops;
extern const struct avl_ops state__sess_node_ops;
extern const struct avl_ops state__ld_ops;
extern const struct avl_ops state__held_ops;

/* Approximate heap cost of one allocation of n bytes (glibc chunk). */
size_t state__chunk(size_t n);
size_t state__str_mem(const char *s);

/* restore.c: STATE_CMD_RESTORE_CHUNK / _COMMIT, outside the txn machinery. */
int state__restore_apply(struct state *s, uint64_t index, const void *cmd, size_t len,
                         struct state_result *res);

/* ---- command transactions (state.c) -------------------------------------- */

enum undo_kind { U_INSERT, U_REMOVE, U_REPLACE, U_U64 };
struct undo {
    uint8_t kind;
    bool own; /* this entry frees the record (a record in two trees has one owner) */
    struct avl **root;
    const struct avl_ops *ops;
    struct avl *a;  /* INSERT: new; REMOVE: removed; REPLACE: old */
    struct avl *b;  /* REPLACE: new */
    uint64_t *p, v; /* U64: where, old value */
};

struct note {
    enum state_table t;
    const char *key;
};

/* A KV result recorded while a txn runs and copied into res at its end
 * (kv.c): its pointers (into records or the command) stay valid until commit
 * frees replaced records. Copying late puts the result's allocation above
 * the records the command created, so freeing it leaves no holes among them. */
struct kv_res {
    struct state_kv kv;
    bool with_value;
};

struct txn {
    struct state *s;
    uint64_t idx;
    struct undo *u;
    size_t nu, cu;
    struct note *notes;
    size_t nn, cn;
    struct state_result *res; /* may be NULL */
    uint8_t ver;              /* the command's version (STATE_CMD_VERSION_MIN..) */
    struct kv_res *kres;      /* freed by state_apply */
    size_t nkres, ckres;
};

/* Grow array *p (capacity *cap elements of elem bytes, doubling from 16) to
 * hold need elements. 0 or CN_ENOMEM (then *p is unchanged). */
int state__grow(void **p, size_t *cap, size_t need, size_t elem);
/* Make room for n more undo entries and m more notes. 0 or CN_ENOMEM. */
int state__tx_reserve(struct txn *t, size_t n, size_t m);
/* The mutations below never fail: reserve first. */
void state__tx_insert(struct txn *t, struct avl **root, const struct avl_ops *ops, struct avl *n,
                      bool own);
void state__tx_remove(struct txn *t, struct avl **root, const struct avl_ops *ops, struct avl *n,
                      bool own);
void state__tx_replace(struct txn *t, struct avl **root, const struct avl_ops *ops, struct avl *old,
                       struct avl *nw, bool own);
void state__tx_set_u64(struct txn *t, uint64_t *p, uint64_t v);
void state__tx_note(struct txn *t, enum state_table tb, const char *key);
/* Error message for the result (errors[]); CN_ENOMEM if it cannot be stored. */
int state__tx_error(struct txn *t, uint32_t op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Get or create the name_rec for name in *root (logged). NULL on OOM. */
struct name_rec *state__name_touch(struct txn *t, struct avl **root, const char *name);

/* ---- the node indexes: by ID, by name ignoring case (nodeid.c) --------------
 * Derived from the node tree, never encoded. */
extern const struct avl_ops state__nid_ops;
extern const struct avl_ops state__nfold_ops;
/* After old was replaced by nw in the node tree (old NULL: nw inserted; nw
 * NULL: old removed; a replace keeps the name): point both indexes at nw.
 * 0 or CN_ENOMEM (then the caller's command must roll back). */
int state__nid_update(struct txn *t, const struct node_rec *old, const struct node_rec *nw);
/* Snapshot restore: index r in both (outside a txn; an ID already indexed
 * is left to its first node). 0 or CN_ENOMEM. */
int state__nid_restore(struct state *s, const struct node_rec *r);
/* The live node whose name equals name ignoring ASCII case (the first in
 * name order if a legacy state holds several spellings), or NULL. O(log n). */
const struct node_rec *state__node_folded(const struct state *s, const char *name);
/* The node holding ID id (compared ignoring ASCII case), or NULL. */
struct node_rec *state__nid_find(const struct state *s, const char *id);
/* Tests: ID entries, and do both indexes match the node tree? O(n). */
size_t state__nid_count(const struct state *s);
bool state__nid_agrees(const struct state *s);

/* ---- per-command appliers ---------------------------------------------------- */
int state__kv_apply_txn(struct txn *t, struct cn_dec *d);
int state__kv_apply_reap(struct txn *t, struct cn_dec *d);
int state__cat_apply_register(struct txn *t, struct cn_dec *d);
/* Writes name nodes the way reads find them (Consul's node index is
 * lower-cased): a name equal to a live node's ignoring ASCII case means that
 * node. `name` (a decoded copy the caller owns; NULL allowed) is rewritten in
 * place to the stored spelling, which has the same length. The exact name
 * wins, so a state that already holds two spellings keeps both reachable.
 * Depends on the state only: every server rewrites alike. */
void state__node_canon(const struct state *s, char *name);
int state__cat_apply_deregister(struct txn *t, struct cn_dec *d);
int state__cat_apply_check_status(struct txn *t, struct cn_dec *d);
int state__sess_apply_create(struct txn *t, struct cn_dec *d);
int state__sess_apply_destroy(struct txn *t, struct cn_dec *d);
int state__sess_apply_renew(struct txn *t, struct cn_dec *d);
int state__event_apply_fire(struct txn *t, struct cn_dec *d);
/* Free every event of the ring (state_free). */
void state__events_free(struct state *s);
int state__query_apply_set(struct txn *t, struct cn_dec *d);
int state__query_apply_delete(struct txn *t, struct cn_dec *d);
/* Delete the queries bound to session `id` (session.c, on invalidation). */
int state__query_session_gone(struct txn *t, const char *id);
int state__ixn_apply_set(struct txn *t, struct cn_dec *d);
int state__ixn_apply_delete(struct txn *t, struct cn_dec *d);
int state__ixn_apply_entry(struct txn *t, struct cn_dec *d);
extern const struct avl_ops state__ixn_ops;
/* The intentions section of a snapshot (snapshot.c's format 4). */
int state__ixn_encode(const struct state *s, struct cn_buf *b);
/* clamp: 0, or a restore point (state_snapshot_restore_at): every modify
 * index becomes it, create indexes above it are lowered to it. */
int state__ixn_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap);
int state__coord_apply_batch(struct txn *t, struct cn_dec *d);
extern const struct avl_ops state__coord_ops;
/* A node was removed: its coordinates go too (catalog.c). 0 or CN_ENOMEM. */
int state__coord_node_gone(struct txn *t, const char *node);
/* The coordinates section of a snapshot (snapshot.c's format 5). */
int state__coord_encode(const struct state *s, struct cn_buf *b);
int state__coord_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err,
                        size_t errcap);
int state__cfg_apply(struct txn *t, struct cn_dec *d);
extern const struct avl_ops state__cfg_ops;
/* The config entries section of a snapshot (snapshot.c's format 6). */
int state__cfg_encode(const struct state *s, struct cn_buf *b);
int state__cfg_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap);
int state__ca_apply_set(struct txn *t, struct cn_dec *d);
extern const struct avl_ops state__ca_ops;
int state__ca_encode(const struct state *s, struct cn_buf *b);
int state__ca_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap);

/* ---- catalog txn operations (catalog.c entry points for cattxn.c) ------------
 * Sets behave as a REGISTER of that one item (CN_EINVAL with the error
 * recorded as op 0: the caller renumbers it); deletes are no-ops for unknown
 * items. 0, CN_EINVAL, CN_ECONFLICT (a node set its ID refuses, ensureNodeTxn)
 * or CN_ENOMEM. */
int state__cat_set_node(struct txn *t, const struct state_node *n);
int state__cat_set_service(struct txn *t, const char *node, const struct state_service *v);
int state__cat_set_check(struct txn *t, const char *node, const struct state_check *c);
int state__cat_del_node(struct txn *t, const char *node);
int state__cat_del_service(struct txn *t, const char *node, const char *id);
int state__cat_del_check(struct txn *t, const char *node, const char *id);
int state__cattxn_apply(struct txn *t, struct cn_dec *d);
/* Free the catalog results of r (state.c's result handling). */
void state__cat_results_free(struct state_result *r);

/* ---- prepared queries (query.c) ---------------------------------------------- */
struct query_rec {
    struct avl a;
    struct state_query q; /* strings and def owned */
};
extern const struct avl_ops state__query_ops;
/* A record holding copies of q's fields and the given indexes; NULL on OOM. */
struct query_rec *state__query_new(struct state *s, const struct state_query *q);

/* ---- ACL objects (acl.c) ------------------------------------------------------ */
struct acl_rec {
    struct avl a;
    struct state_acl v; /* strings and def owned (one allocation) */
    char *key;          /* the tree key: kind digit then ID ("1<accessor>") */
};
extern const struct avl_ops state__acl_ops;
struct acl_rec *state__acl_new(struct state *s, const struct state_acl *v);
int state__acl_apply_set(struct txn *t, struct cn_dec *d);
int state__acl_apply_delete(struct txn *t, struct cn_dec *d);
int state__acl_apply_bootstrap(struct txn *t, struct cn_dec *d);
int state__acl_apply_replicate(struct txn *t, struct cn_dec *d);

/* ---- sessions (session.c) ---------------------------------------------------- */
struct sess_rec *state__sess_find(const struct state *s, const char *id);
/* Invalidate sessions of `node` that name check_id (check_id NULL: every
 * session of the node): catalog.c calls it when a check turns critical or is
 * removed, and when a node is removed. 0 or CN_ENOMEM. */
int state__sess_invalidate_node(struct txn *t, const char *node, const char *check_id);
/* KV side of an invalidation (kv.c): release (or delete, del = true) every
 * key held by session `id` and start lock-delay for them. */
int state__kv_session_gone(struct txn *t, const char *id, bool del, int64_t delay_ns);
/* ---- the session -> held keys index (held.c) ---------------------------------
 * Derived from the KV tree, never encoded. */
/* After old was replaced by nw in the KV tree (old may be NULL, either a
 * tombstone): point the key's index record at nw and its holder. 0 or
 * CN_ENOMEM (the index unchanged; the caller's command must roll back). */
int state__held_update(struct txn *t, const struct kv_rec *old, const struct kv_rec *nw);
/* Snapshot restore: index r (outside a txn). 0 or CN_ENOMEM. */
int state__held_restore(struct state *s, const struct kv_rec *r);
/* The first key (in key order) held by session, or NULL. Borrowed: valid
 * until the index changes. */
const char *state__held_first(const struct state *s, const char *session);
size_t state__held_count(const struct state *s, const char *session);
/* Debug and tests: does the index match the KV tree, for session (or, with
 * NULL, entirely)? O(keys). */
bool state__held_agrees(const struct state *s, const char *session);

struct sess_rec *state__sess_dup(struct state *s, const struct state_session *v);
int state__enc_session(struct cn_buf *b, const struct state_session *v);
void state__dec_session(struct cn_dec *d, struct state_session *v);
struct ld_rec *state__ld_new(struct state *s, const char *key, uint64_t index, int64_t delay_ns);

/* ---- records lifecycle ----------------------------------------------------- */
/* A record holding v's fields (borrowed, copied): v->create_index == 0 makes a
 * tombstone (key and modify_index only). NULL on OOM or a length >= 2^32. */
struct kv_rec *state__kv_rec_new(struct state *s, const struct state_kv *v);
/* Fill *out with r's fields; its pointers point into r. */
void state__kv_view(const struct kv_rec *r, struct state_kv *out);
void state__free_tree(struct state *s, struct avl *root, const struct avl_ops *ops);
struct node_rec *state__node_dup(struct state *s, const struct state_node *n);
struct svc_rec *state__svc_dup(struct state *s, const struct state_service *v);
struct chk_rec *state__chk_dup(struct state *s, const struct state_check *c);
struct name_rec *state__name_new(struct state *s, const char *name, uint64_t index);

/* ---- command/snapshot field codecs (cmd.c) --------------------------------- */
#define STATE_CMD_VERSION                                                                          \
    4 /* 2: a check carries its agent-only definition; 3: a service its Connect fields; 4: an      \
       * upstream its Config */
#define STATE_CMD_VERSION_MIN 1 /* still applied (log entries written before) */
int state__enc_node(struct cn_buf *b, const struct state_node *n);
int state__enc_service(struct cn_buf *b, const struct state_service *v);
int state__enc_check(struct cn_buf *b, const struct state_check *c);
/* Decode into caller-owned structs whose strings are cn_malloc'd; on error the
 * partially decoded struct is still freeable with state_*_clear. */
void state__dec_node(struct cn_dec *d, struct state_node *n);
/* mesh: the record carries the Connect fields (command version >= 3,
 * snapshot version >= 5). */
/* What a service's encoding carries, by the version that wrote it. */
enum {
    STATE_SVC_BASE = 0,            /* command versions 1-2, snapshots before 5 */
    STATE_SVC_MESH = 1,            /* command version 3, snapshots 5-6: Connect */
    STATE_SVC_UPSTREAM_CONFIG = 2, /* command version 4, snapshot 7: an upstream's Config */
};
void state__dec_service(struct cn_dec *d, struct state_service *v, int level);
void state__dec_check(struct cn_dec *d, struct state_check *c, bool ext);
/* Deep copy of a node (values.c), as state_service_copy. */
int state__node_copy(struct state_node *dst, const struct state_node *src);
/* A NUL-terminated string carried with its NUL ("z-string"); borrowed. */
int state__enc_zstr(struct cn_buf *b, const char *s);
const char *state__dec_zstr(struct cn_dec *d, size_t *len);

#endif
