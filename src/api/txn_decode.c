/* api/txn_decode.c: the /v1/txn body decoder (see api/txn.h). Kept apart from
 * the endpoint (txn.c) so tests and the fuzzer link it without a server. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api/txn.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/mem.h"

static const char *const verb_names[] = {
    [API_TXN_SET] = "set",
    [API_TXN_CAS] = "cas",
    [API_TXN_LOCK] = "lock",
    [API_TXN_UNLOCK] = "unlock",
    [API_TXN_GET] = "get",
    [API_TXN_GET_OR_EMPTY] = "get-or-empty",
    [API_TXN_GET_TREE] = "get-tree",
    [API_TXN_CHECK_INDEX] = "check-index",
    [API_TXN_CHECK_SESSION] = "check-session",
    [API_TXN_CHECK_NOT_EXISTS] = "check-not-exists",
    [API_TXN_DELETE] = "delete",
    [API_TXN_DELETE_TREE] = "delete-tree",
    [API_TXN_DELETE_CAS] = "delete-cas",
    [API_TXN_UNKNOWN] = "",
};

const char *api_txn_verb_name(enum api_txn_verb v)
{
    return (unsigned)v <= API_TXN_UNKNOWN ? verb_names[v] : "";
}

bool api_txn_verb_writes(enum api_txn_verb v)
{
    switch (v) {
    case API_TXN_SET:
    case API_TXN_CAS:
    case API_TXN_LOCK:
    case API_TXN_UNLOCK:
    case API_TXN_DELETE:
    case API_TXN_DELETE_CAS:
    case API_TXN_DELETE_TREE:
        return true;
    default:
        return false;
    }
}

/* The state machine's verb for each API verb that has one. */
static bool state_verb(enum api_txn_verb v, enum state_kv_verb *out)
{
    switch (v) {
    case API_TXN_SET:
        *out = STATE_KV_SET;
        return true;
    case API_TXN_CAS:
        *out = STATE_KV_CAS;
        return true;
    case API_TXN_LOCK:
        *out = STATE_KV_LOCK;
        return true;
    case API_TXN_UNLOCK:
        *out = STATE_KV_UNLOCK;
        return true;
    case API_TXN_GET:
        *out = STATE_KV_GET;
        return true;
    case API_TXN_GET_OR_EMPTY:
        *out = STATE_KV_GET_OR_EMPTY;
        return true;
    case API_TXN_GET_TREE:
        *out = STATE_KV_GET_TREE;
        return true;
    case API_TXN_CHECK_INDEX:
        *out = STATE_KV_CHECK_INDEX;
        return true;
    case API_TXN_CHECK_SESSION:
        *out = STATE_KV_CHECK_SESSION;
        return true;
    case API_TXN_CHECK_NOT_EXISTS:
        *out = STATE_KV_CHECK_NOT_EXISTS;
        return true;
    case API_TXN_DELETE:
        *out = STATE_KV_DELETE;
        return true;
    case API_TXN_DELETE_TREE:
        *out = STATE_KV_DELETE_TREE;
        return true;
    case API_TXN_DELETE_CAS:
        *out = STATE_KV_DELETE_CAS;
        return true;
    default:
        return false;
    }
}

int api_goquote(struct cn_buf *b, const char *s)
{
    int rc = cn_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        switch (*p) {
        case '"':
            rc = cn_buf_puts(b, "\\\"");
            break;
        case '\\':
            rc = cn_buf_puts(b, "\\\\");
            break;
        case '\a':
            rc = cn_buf_puts(b, "\\a");
            break;
        case '\b':
            rc = cn_buf_puts(b, "\\b");
            break;
        case '\f':
            rc = cn_buf_puts(b, "\\f");
            break;
        case '\n':
            rc = cn_buf_puts(b, "\\n");
            break;
        case '\r':
            rc = cn_buf_puts(b, "\\r");
            break;
        case '\t':
            rc = cn_buf_puts(b, "\\t");
            break;
        case '\v':
            rc = cn_buf_puts(b, "\\v");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                rc = cn_buf_printf(b, "\\x%02x", *p);
            else
                rc = cn_buf_putc(b, (char)*p);
        }
    }
    if (!rc)
        rc = cn_buf_putc(b, '"');
    return rc;
}

static const char *json_type_word(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return "bool";
    case json_type_double:
    case json_type_int:
        return "number";
    case json_type_string:
        return "string";
    case json_type_array:
        return "array";
    case json_type_object:
        return "object";
    default:
        return "null";
    }
}

/* Go's encoding/json wording for a type mismatch, so the 400 reads like
 * Consul's "Failed to parse body: json: cannot unmarshal ...". */
static int type_error(char *err, size_t errcap, struct json_object *v, const char *field,
                      const char *gotype)
{
    snprintf(err, errcap,
             "Failed to parse body: json: cannot unmarshal %s into Go struct field %s of type %s",
             json_type_word(v), field, gotype);
    return CN_EINVAL;
}

static int add_error(struct api_txn *t, size_t op_index, const char *what)
{
    struct state_txn_error *e = cn_realloc(t->errors, (t->nerrors + 1) * sizeof(*e));
    if (!e)
        return CN_ENOMEM;
    t->errors = e;
    e = &t->errors[t->nerrors++];
    memset(e, 0, sizeof(*e));
    e->op_index = (uint32_t)op_index;
    snprintf(e->what, sizeof(e->what), "%s", what);
    return 0;
}

/* A string member: absent/null -> *out = "" (Go's zero value). */
static int get_string(struct json_object *kv, const char *name, const char *field, const char **out,
                      char *err, size_t errcap)
{
    struct json_object *v = cn_json_get(kv, name);
    *out = "";
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return type_error(err, errcap, v, field, "string");
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v)) {
        /* A C string cannot carry it; refuse rather than silently truncate. */
        snprintf(err, errcap, "Failed to parse body: %s contains a NUL character", field);
        return CN_EINVAL;
    }
    *out = s;
    return 0;
}

static int get_u64(struct json_object *kv, const char *name, const char *field, uint64_t *out,
                   char *err, size_t errcap)
{
    *out = 0;
    int rc = cn_json_get_u64(kv, name, out);
    if (rc < 0)
        return type_error(err, errcap, cn_json_get(kv, name), field, "uint64");
    return 0;
}

static int decode_kv(struct api_txn *t, struct json_object *kv, struct api_txn_op *op, char *err,
                     size_t errcap)
{
    if (!json_object_is_type(kv, json_type_object))
        return type_error(err, errcap, kv, "TxnOp.KV", "api.KVTxnOp");
    int rc;
    if ((rc = get_string(kv, "Verb", "KVTxnOp.Verb", &op->verb_str, err, errcap)) ||
        (rc = get_string(kv, "Key", "KVTxnOp.Key", &op->kv.key, err, errcap)) ||
        (rc = get_string(kv, "Session", "KVTxnOp.Session", &op->kv.session, err, errcap)) ||
        (rc = get_u64(kv, "Flags", "KVTxnOp.Flags", &op->kv.flags, err, errcap)) ||
        (rc = get_u64(kv, "Index", "KVTxnOp.Index", &op->kv.index, err, errcap)))
        return rc;
    if (!*op->kv.session)
        op->kv.session = NULL;

    op->verb = API_TXN_UNKNOWN;
    for (int v = 0; v < API_TXN_UNKNOWN; v++) {
        if (strcmp(op->verb_str, verb_names[v]) == 0) {
            op->verb = (enum api_txn_verb)v;
            break;
        }
    }
    op->kv.verb = STATE_KV_SET;
    state_verb(op->verb, &op->kv.verb);
    if (api_txn_verb_writes(op->verb))
        t->nwrites++;

    /* Value: base64 (encoding/json's []byte), null = none. */
    struct json_object *v = cn_json_get(kv, "Value");
    if (v) {
        if (!json_object_is_type(v, json_type_string))
            return type_error(err, errcap, v, "KVTxnOp.Value", "[]uint8");
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        if (n > 0) {
            struct cn_buf b = CN_BUF_INIT;
            rc = cn_base64_decode(&b, s, n);
            if (rc)
                cn_buf_free(&b); /* it may hold reserved memory */
            if (rc == CN_ENOMEM) {
                snprintf(err, errcap, "out of memory");
                return rc;
            }
            if (rc) {
                snprintf(err, errcap,
                         "Failed to parse body: illegal base64 data in Value of key \"%.200s\"",
                         op->kv.key);
                return CN_EINVAL;
            }
            if (b.len == 0) {
                cn_buf_free(&b);
            } else {
                op->kv.value = b.p; /* owned by t, freed in api_txn_free */
                op->kv.value_len = b.len;
            }
        }
    }
    return 0;
}

/* ---- Node, Service and Check ops (structs.TxnNodeOp, TxnServiceOp,
 * TxnCheckOp; api-docs/txn.mdx) ------------------------------------------------ */

static const char *const cat_verbs[] = {
    [STATE_CAT_SET] = "set",
    [STATE_CAT_CAS] = "cas",
    [STATE_CAT_GET] = "get",
    [STATE_CAT_DELETE] = "delete",
    [STATE_CAT_DELETE_CAS] = "delete-cas",
};

/* An object of strings into m (items owned by the txn, strings borrowed). */
static int get_smap(struct json_object *o, const char *name, const char *field, struct state_map *m,
                    char *err, size_t errcap)
{
    struct json_object *v = cn_json_get(o, name);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return type_error(err, errcap, v, field, "map[string]string");
    size_t n = (size_t)json_object_object_length(v);
    if (!n)
        return 0;
    m->items = cn_calloc(n, sizeof(*m->items));
    if (!m->items) {
        snprintf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    json_object_object_foreach(v, key, val)
    {
        if (!val || !json_object_is_type(val, json_type_string))
            return type_error(err, errcap, val, field, "string");
        for (size_t i = 0; i < m->n; i++)
            if (!strcmp(m->items[i].k, key))
                goto next; /* json-c keeps the last; so does Go */
        m->items[m->n].k = key;
        m->items[m->n].v = (char *)json_object_get_string(val);
        m->n++;
    next:;
    }
    return 0;
}

static int get_str(struct json_object *o, const char *name, const char *field, char **out,
                   char *err, size_t errcap)
{
    const char *s = "";
    int rc = get_string(o, name, field, &s, err, errcap);
    *out = (char *)s;
    return rc;
}

static int decode_node(struct json_object *n, struct state_cat_op *c, char *err, size_t errcap)
{
    int rc;
    if ((rc = get_str(n, "ID", "Node.ID", &c->node.id, err, errcap)) ||
        (rc = get_str(n, "Node", "Node.Node", &c->node.name, err, errcap)) ||
        (rc = get_str(n, "Address", "Node.Address", &c->node.address, err, errcap)) ||
        (rc = get_smap(n, "TaggedAddresses", "Node.TaggedAddresses", &c->node.tagged_addresses, err,
                       errcap)) ||
        (rc = get_smap(n, "Meta", "Node.Meta", &c->node.meta, err, errcap)))
        return rc;
    return get_u64(n, "ModifyIndex", "Node.ModifyIndex", &c->index, err, errcap);
}

static int decode_service(struct json_object *s, struct state_cat_op *c, char *err, size_t errcap)
{
    int rc;
    uint64_t port = 0;
    if ((rc = get_str(s, "ID", "AgentService.ID", &c->service.id, err, errcap)) ||
        (rc = get_str(s, "Service", "AgentService.Service", &c->service.service, err, errcap)) ||
        (rc = get_str(s, "Address", "AgentService.Address", &c->service.address, err, errcap)) ||
        (rc = get_str(s, "Kind", "AgentService.Kind", &c->service.kind, err, errcap)) ||
        (rc = get_smap(s, "Meta", "AgentService.Meta", &c->service.meta, err, errcap)) ||
        (rc = get_u64(s, "Port", "AgentService.Port", &port, err, errcap)) ||
        (rc = get_u64(s, "ModifyIndex", "AgentService.ModifyIndex", &c->index, err, errcap)))
        return rc;
    if (port > 65535)
        return type_error(err, errcap, cn_json_get(s, "Port"), "AgentService.Port", "int");
    c->service.port = (int)port;
    /* Connect services are registered through /v1/catalog/register or the
     * agent; a transaction would drop their Proxy and Connect fields. */
    if (*c->service.kind) {
        snprintf(err, errcap,
                 "Failed to parse body: Kind \"%.64s\" is not supported in catalog transactions "
                 "by cairn (no service mesh fields in /v1/txn yet)",
                 c->service.kind);
        return CN_EINVAL;
    }
    static const char *const mesh[] = {"Proxy", "Connect"};
    for (size_t i = 0; i < 2; i++) {
        struct json_object *m = cn_json_get(s, mesh[i]);
        if (m && json_object_is_type(m, json_type_object) && json_object_object_length(m)) {
            snprintf(err, errcap,
                     "Failed to parse body: %s is not supported in catalog transactions by "
                     "cairn (no service mesh fields in /v1/txn yet)",
                     mesh[i]);
            return CN_EINVAL;
        }
    }
    int eto = 0;
    if (cn_json_get_bool(s, "EnableTagOverride", &eto) < 0)
        return type_error(err, errcap, cn_json_get(s, "EnableTagOverride"),
                          "AgentService.EnableTagOverride", "bool");
    c->service.enable_tag_override = eto != 0;
    struct json_object *tags = cn_json_get(s, "Tags");
    if (tags) {
        if (!json_object_is_type(tags, json_type_array))
            return type_error(err, errcap, tags, "AgentService.Tags", "[]string");
        size_t n = json_object_array_length(tags);
        c->service.tags = n ? cn_calloc(n, sizeof(char *)) : NULL;
        if (n && !c->service.tags) {
            snprintf(err, errcap, "out of memory");
            return CN_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(tags, i);
            if (!e || !json_object_is_type(e, json_type_string))
                return type_error(err, errcap, e, "AgentService.Tags", "string");
            c->service.tags[c->service.ntags++] = (char *)json_object_get_string(e);
        }
    }
    return 0;
}

static int decode_check(struct json_object *h, struct state_cat_op *c, char *err, size_t errcap)
{
    int rc;
    if ((rc = get_str(h, "Node", "HealthCheck.Node", &c->check.node, err, errcap)) ||
        (rc = get_str(h, "CheckID", "HealthCheck.CheckID", &c->check.check_id, err, errcap)) ||
        (rc = get_str(h, "Name", "HealthCheck.Name", &c->check.name, err, errcap)) ||
        (rc = get_str(h, "Status", "HealthCheck.Status", &c->check.status, err, errcap)) ||
        (rc = get_str(h, "Notes", "HealthCheck.Notes", &c->check.notes, err, errcap)) ||
        (rc = get_str(h, "Output", "HealthCheck.Output", &c->check.output, err, errcap)) ||
        (rc =
             get_str(h, "ServiceID", "HealthCheck.ServiceID", &c->check.service_id, err, errcap)) ||
        (rc = get_u64(h, "ModifyIndex", "HealthCheck.ModifyIndex", &c->index, err, errcap)))
        return rc;
    /* The catalog keeps no definition for a check registered this way (none
     * runs it), as for /v1/catalog/register. */
    c->check.service_name = (char *)"";
    c->check.type = (char *)"";
    c->check.http = c->check.method = c->check.tcp = (char *)"";
    c->check.header_json = c->check.body = (char *)"";
    return 0;
}

static int decode_cat(struct api_txn *t, struct json_object *o, enum api_txn_kind kind,
                      struct api_txn_op *op, char *err, size_t errcap)
{
    static const char *const names[] = {"", "Node", "Service", "Check"};
    struct json_object *x = cn_json_get(o, names[kind]);
    if (!json_object_is_type(x, json_type_object))
        return type_error(err, errcap, x, names[kind], "object");
    struct state_cat_op *c = &op->cat;
    c->kind = (enum state_cat_kind)kind;
    char *empty = (char *)"";
    c->node.name = c->node.id = c->node.address = empty;
    c->service.id = c->service.service = c->service.kind = c->service.address = empty;
    c->check.node = c->check.check_id = c->check.name = c->check.status = empty;
    c->check.notes = c->check.output = c->check.service_id = empty;
    int rc = get_string(x, "Verb", "TxnOp.Verb", &op->verb_str, err, errcap);
    if (rc)
        return rc;
    if (kind == API_TXN_KIND_NODE) {
        struct json_object *n = cn_json_get(x, "Node");
        if (n && !json_object_is_type(n, json_type_object))
            return type_error(err, errcap, n, "TxnNodeOp.Node", "structs.Node");
        rc = n ? decode_node(n, c, err, errcap) : 0;
    } else if (kind == API_TXN_KIND_SERVICE) {
        rc = get_str(x, "Node", "TxnServiceOp.Node", &c->node.name, err, errcap);
        struct json_object *s = cn_json_get(x, "Service");
        if (!rc && s && !json_object_is_type(s, json_type_object))
            return type_error(err, errcap, s, "TxnServiceOp.Service", "structs.NodeService");
        if (!rc && s)
            rc = decode_service(s, c, err, errcap);
    } else {
        struct json_object *h = cn_json_get(x, "Check");
        if (h && !json_object_is_type(h, json_type_object))
            return type_error(err, errcap, h, "TxnCheckOp.Check", "structs.HealthCheck");
        rc = h ? decode_check(h, c, err, errcap) : 0;
    }
    if (rc)
        return rc;
    for (int v = 0; v < STATE_CAT__COUNT; v++) {
        if (!strcmp(op->verb_str, cat_verbs[v])) {
            c->verb = (enum state_cat_verb)v;
            op->cat_verb_ok = true;
        }
    }
    op->kind = kind;
    t->ncat++;
    if (op->cat_verb_ok && c->verb != STATE_CAT_GET)
        t->nwrites++;
    return 0;
}

int api_txn_decode(const char *body, size_t len, const struct api_txn_limits *lim,
                   struct api_txn *t, char *err, size_t errcap)
{
    int rc;
    memset(t, 0, sizeof(*t));
    if (len > lim->max_req_len) {
        snprintf(err, errcap, "Request body too large, max size: %zu bytes", lim->max_req_len);
        return CN_ETOOBIG;
    }
    /* Go's decoder reports an empty body as EOF. */
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) {
        snprintf(err, errcap, "Failed to parse body: EOF");
        return CN_EINVAL;
    }
    /* `null` decodes to an empty list in Go: a valid, empty transaction.
     * (json-c represents null as a NULL object, so look for it first.) */
    size_t e = len;
    while (e > i && (body[e - 1] == ' ' || body[e - 1] == '\t' || body[e - 1] == '\r' ||
                     body[e - 1] == '\n'))
        e--;
    if (e - i == 4 && memcmp(body + i, "null", 4) == 0)
        return 0;
    char perr[160];
    struct json_object *root = cn_json_parse(body, len, perr, sizeof(perr));
    if (!root) {
        snprintf(err, errcap, "Failed to parse body: %s", perr);
        return CN_EINVAL;
    }
    t->root = root;
    if (!json_object_is_type(root, json_type_array)) {
        snprintf(err, errcap,
                 "Failed to parse body: json: cannot unmarshal %s into Go value of type api.TxnOps",
                 json_type_word(root));
        rc = CN_EINVAL;
        goto fail;
    }
    size_t n = json_object_array_length(root);
    /* Type errors in the elements come first (they fail the decode), then the
     * count limit, then per-op value sizes: convertOps' order. */
    if (n > 0) {
        t->ops = cn_calloc(n, sizeof(*t->ops));
        if (!t->ops) {
            snprintf(err, errcap, "out of memory");
            rc = CN_ENOMEM;
            goto fail;
        }
    }
    for (size_t k = 0; k < n; k++) {
        struct json_object *o = json_object_array_get_idx(root, k);
        if (!o || !json_object_is_type(o, json_type_object)) {
            snprintf(err, errcap,
                     "Failed to parse body: json: cannot unmarshal %s into Go value of type "
                     "api.TxnOp",
                     o ? json_type_word(o) : "null");
            rc = CN_EINVAL;
            goto fail;
        }
        struct json_object *kv = cn_json_get(o, "KV");
        if (kv) {
            struct api_txn_op *op = &t->ops[t->nops++];
            op->kv.key = "";
            if ((rc = decode_kv(t, kv, op, err, errcap)))
                goto fail;
            continue;
        }
        static const char *const cats[] = {"Node", "Service", "Check"};
        bool done = false;
        for (size_t j = 0; j < 3 && !done; j++) {
            if (!cn_json_get(o, cats[j]))
                continue;
            struct api_txn_op *op = &t->ops[t->nops++];
            op->kv.key = "";
            op->verb = API_TXN_UNKNOWN;
            op->verb_str = "";
            if ((rc = decode_cat(t, o, (enum api_txn_kind)(j + 1), op, err, errcap)))
                goto fail;
            done = true;
        }
        if (done)
            continue;
        /* Session ops (structs.TxnSessionOp) are refused, rather than
         * dropped as an unknown op would be. */
        if (cn_json_get(o, "Session")) {
            snprintf(err, errcap,
                     "Failed to parse body: Session operations in /v1/txn are not supported by "
                     "cairn yet (op %zu)",
                     k);
            rc = CN_EINVAL;
            goto fail;
        }
        /* Nothing we know: Go leaves the TxnOp empty and convertOps drops it. */
    }
    if (t->ncat && t->ncat != t->nops) {
        snprintf(err, errcap,
                 "Failed to parse body: a transaction mixing KV and Node/Service/Check "
                 "operations is not supported by cairn yet");
        rc = CN_EINVAL;
        goto fail;
    }
    if (n > lim->max_ops) {
        snprintf(err, errcap, "Transaction contains too many operations (%zu > %zu)", n,
                 lim->max_ops);
        rc = CN_ETOOBIG;
        goto fail;
    }
    for (size_t k = 0; k < t->nops; k++) {
        const struct api_txn_op *op = &t->ops[k];
        if (op->kv.value_len > lim->max_value_size) {
            struct cn_buf q = CN_BUF_INIT;
            rc = api_goquote(&q, op->kv.key) || cn_buf_cstr(&q) ? CN_ENOMEM : 0;
            snprintf(err, errcap, "Value for key %.300s is too large (%zu > %zu bytes)",
                     rc ? "?" : q.p, op->kv.value_len, lim->max_value_size);
            cn_buf_free(&q);
            rc = CN_ETOOBIG;
            goto fail;
        }
    }

    /* Per-op errors. kvsPreApply runs over all ops first and, if any fails,
     * those are all Consul reports; otherwise the state store's dispatch
     * reports unknown verbs. */
    for (size_t k = 0; k < t->nops; k++) {
        if (t->ops[k].kind == API_TXN_KIND_KV && !*t->ops[k].kv.key &&
            t->ops[k].verb != API_TXN_DELETE_TREE && (rc = add_error(t, k, "Must provide key")))
            goto oom;
    }
    for (size_t k = 0; t->nerrors == 0 && k < t->nops; k++) {
        static const char *const what[] = {"", "Node", "Service", "Check"};
        const struct api_txn_op *op = &t->ops[k];
        if (op->kind == API_TXN_KIND_KV || op->cat_verb_ok)
            continue;
        struct cn_buf w = CN_BUF_INIT;
        if (cn_buf_printf(&w, "unknown %s verb ", what[op->kind]) ||
            api_goquote(&w, op->verb_str) || cn_buf_cstr(&w)) {
            cn_buf_free(&w);
            goto oom;
        }
        rc = add_error(t, k, w.p);
        cn_buf_free(&w);
        if (rc)
            goto oom;
    }
    if (t->nerrors == 0) {
        for (size_t k = 0; k < t->nops; k++) {
            if (t->ops[k].kind != API_TXN_KIND_KV || t->ops[k].verb != API_TXN_UNKNOWN)
                continue;
            struct cn_buf w = CN_BUF_INIT;
            if (cn_buf_puts(&w, "unknown KV verb ") || api_goquote(&w, t->ops[k].verb_str) ||
                cn_buf_cstr(&w)) {
                cn_buf_free(&w);
                goto oom;
            }
            rc = add_error(t, k, w.p);
            cn_buf_free(&w);
            if (rc)
                goto oom;
        }
    }
    return 0;

oom:
    snprintf(err, errcap, "out of memory");
    rc = CN_ENOMEM;
fail:
    api_txn_free(t);
    return rc;
}

void api_txn_free(struct api_txn *t)
{
    for (size_t k = 0; k < t->nops; k++) {
        cn_free((void *)t->ops[k].kv.value);
        struct state_cat_op *c = &t->ops[k].cat;
        cn_free(c->service.tags);
        cn_free(c->node.meta.items);
        cn_free(c->node.tagged_addresses.items);
        cn_free(c->service.meta.items);
    }
    cn_free(t->ops);
    cn_free(t->errors);
    if (t->root)
        json_object_put(t->root);
    memset(t, 0, sizeof(*t));
}
