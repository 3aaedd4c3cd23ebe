/* api/txn.h: the /v1/txn request body decoder, on its own so that unit tests
 * and the fuzz target (tests/fuzz/fuzz_txn_body.c) can run it without a
 * server. Pure: no I/O, no state access; allocation through cn_malloc.
 *
 * The body is Consul's api.TxnOps: a JSON array of {"KV":{...}} (or Node /
 * Service / Check) objects (website/content/api-docs/txn.mdx). The decoder
 * follows agent/txn_endpoint.go convertOps and the pre-checks of
 * agent/consul/txn_endpoint.go:
 *   - request-level problems answer 400/413 with a plain-text message
 *     ("Failed to parse body: ...", "Request body too large, max size: N
 *     bytes", "Transaction contains too many operations (N > 128)",
 *     "Value for key \"k\" is too large (N > M bytes)");
 *   - problems Consul reports per operation (a 409 rollback with
 *     {"OpIndex","What"}) are collected in api_txn.errors: "Must provide key"
 *     (kvsPreApply) and, when there is none of those, `unknown KV verb "x"`.
 * Node, Service and Check ops (structs.TxnNodeOp, TxnServiceOp, TxnCheckOp)
 * are decoded too; a transaction mixing them with KV ops is refused with 400
 * (cairn runs them as one CAT_TXN command, KV as one KV_TXN); Session ops are
 * refused with 400.
 * Object keys match in any case, snake_case included (base/json.h). Verbs are
 * case-sensitive, as in Consul. An op object with no KV/Node/Service/Check
 * member (or only null ones) is skipped, as Go's decoder leaves it empty and
 * convertOps drops it; OpIndex then counts kept ops only, like Consul. */
#ifndef CN_API_TXN_H
#define CN_API_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/state.h"

/* Every KV verb /v1/txn accepts (api/txn.go KVOp). */
enum api_txn_verb {
    API_TXN_SET = 0,
    API_TXN_CAS,
    API_TXN_LOCK,
    API_TXN_UNLOCK,
    API_TXN_GET,
    API_TXN_GET_OR_EMPTY,
    API_TXN_GET_TREE,
    API_TXN_CHECK_INDEX,
    API_TXN_CHECK_SESSION,
    API_TXN_CHECK_NOT_EXISTS,
    API_TXN_DELETE,
    API_TXN_DELETE_TREE,
    API_TXN_DELETE_CAS,
    API_TXN_UNKNOWN, /* reported in errors as `unknown KV verb "..."` */
};

/* What an op works on: KV, or (cattxn) a Node, Service or Check. */
enum api_txn_kind {
    API_TXN_KIND_KV = 0,
    API_TXN_KIND_NODE,
    API_TXN_KIND_SERVICE,
    API_TXN_KIND_CHECK
};

struct api_txn_op {
    enum api_txn_kind kind;
    /* kind != KV: the catalog op (strings borrowed from the parsed tree;
     * the tags array and the maps' item arrays owned by the txn), and
     * cat_verb_ok false for a verb Consul does not know (reported in errors
     * as `unknown Node verb "x"`). kv.key is "" and verb UNKNOWN for them. */
    struct state_cat_op cat;
    bool cat_verb_ok;
    enum api_txn_verb verb;
    const char *verb_str; /* as sent ("" if absent) */
    /* kv.verb is meaningful unless verb is UNKNOWN. kv.key is never NULL
     * ("" if absent); kv.value is NULL when Value was absent, null or "". */
    struct state_kv_op kv;
};

struct api_txn_limits {
    size_t max_req_len;    /* whole body, bytes */
    size_t max_value_size; /* one decoded Value, bytes */
    size_t max_ops;        /* array elements (128 since Consul 1.14) */
};

struct api_txn {
    struct api_txn_op *ops; /* kept ops, in order */
    size_t nops;
    size_t nwrites; /* ops whose verb changes the state (agent/txn_endpoint.go isWrite) */
    size_t ncat;    /* Node/Service/Check ops (never mixed with KV ops: 400) */
    struct state_txn_error *errors; /* per-op errors: answer 409 if nerrors > 0 */
    size_t nerrors;
    /* private: the parsed tree (keys, verbs and sessions point into it) and
     * the decoded values (ops[i].kv.value, cn_malloc'd) */
    struct json_object *root;
};

/* Decode body[0..len). On success returns 0 and fills *t (the caller frees
 * it with api_txn_free, also when t->nerrors > 0). On a request-level error
 * returns CN_EINVAL (answer 400), CN_ETOOBIG (413) or CN_ENOMEM (500), writes
 * the plain-text answer into err, and leaves *t empty (api_txn_free is then
 * a harmless no-op). */
int api_txn_decode(const char *body, size_t len, const struct api_txn_limits *lim,
                   struct api_txn *t, char *err, size_t errcap);
void api_txn_free(struct api_txn *t);

/* Consul's verb string for v ("set", "get-tree", ...); "" for UNKNOWN. */
const char *api_txn_verb_name(enum api_txn_verb v);
/* Whether v writes (isWrite): set, cas, lock, unlock, delete, delete-cas,
 * delete-tree. */
bool api_txn_verb_writes(enum api_txn_verb v);

/* Append s as Go's %q would print it (double-quoted, escaped), for error
 * texts that quote keys the way Consul does. Returns 0 or CN_ENOMEM. */
int api_goquote(struct cn_buf *b, const char *s);

#endif
