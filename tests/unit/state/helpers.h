/* tests/unit/state/helpers.h: small builders shared by the state tests. */
#ifndef TEST_STATE_HELPERS_H
#define TEST_STATE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state.h"

static inline struct state_kv_op kvop(enum state_kv_verb verb, const char *key, const char *val,
                                      uint64_t index)
{
    struct state_kv_op op;
    memset(&op, 0, sizeof(op));
    op.verb = verb;
    op.key = key;
    op.value = val;
    op.value_len = val ? strlen(val) : 0;
    op.index = index;
    return op;
}

/* state_kv_get as a pointer (NULL = absent), for terse asserts: the view
 * lives in one of 8 rotating slots, so a result stays usable across the next
 * few calls (its key/value pointers until the next apply). */
static inline const struct state_kv *kvget(const struct state *s, const char *key)
{
    static struct state_kv ring[8];
    static unsigned next;
    struct state_kv *v = &ring[next++ % 8];
    return state_kv_get(s, key, v) ? v : NULL;
}

/* Apply an encoded command; the buffer is freed. */
static inline int apply_buf(struct state *s, uint64_t idx, struct cn_buf *b,
                            struct state_result *res)
{
    int rc = state_apply(s, idx, b->p, b->len, res);
    cn_buf_free(b);
    return rc;
}

static inline int txn(struct state *s, uint64_t idx, const struct state_kv_op *ops, size_t n,
                      struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_txn(&b, ops, n), 0);
    return apply_buf(s, idx, &b, res);
}

static inline int op1(struct state *s, uint64_t idx, enum state_kv_verb verb, const char *key,
                      const char *val, uint64_t index, struct state_result *res)
{
    struct state_kv_op op = kvop(verb, key, val, index);
    return txn(s, idx, &op, 1, res);
}

static inline void kvset(struct state *s, uint64_t idx, const char *key, const char *val)
{
    assert_int_equal(op1(s, idx, STATE_KV_SET, key, val, 0, NULL), 0);
}

/* Snapshot bytes, for "nothing changed" comparisons. */
static inline void snap(const struct state *s, struct cn_buf *out)
{
    cn_buf_init(out);
    assert_int_equal(state_snapshot_encode(s, out), 0);
}

static inline void assert_same_snap(const struct cn_buf *a, const struct state *s)
{
    struct cn_buf b;
    snap(s, &b);
    assert_int_equal(a->len, b.len);
    assert_memory_equal(a->p, b.p, a->len);
    cn_buf_free(&b);
}

/* A register command: node with address, optional service, n checks. */
struct reg_fixture {
    struct state_register r;
    struct state_service svc;
    struct state_check checks[4];
    char *tags[2];
    struct state_pair meta[2];
};

static inline void reg_init(struct reg_fixture *f, const char *node, const char *addr)
{
    memset(f, 0, sizeof(*f));
    f->r.node.name = (char *)node;
    f->r.node.address = (char *)addr;
}

static inline void reg_service(struct reg_fixture *f, const char *id, const char *name, int port)
{
    f->svc.id = (char *)id;
    f->svc.service = (char *)name;
    f->svc.port = port;
    f->r.service = &f->svc;
}

static inline struct state_check *reg_check(struct reg_fixture *f, const char *id, const char *sid,
                                            const char *status)
{
    struct state_check *c = &f->checks[f->r.nchecks++];
    c->check_id = (char *)id;
    c->name = (char *)id;
    c->service_id = (char *)sid;
    c->status = (char *)status;
    f->r.checks = f->checks;
    return c;
}

static inline int reg_apply(struct state *s, uint64_t idx, struct reg_fixture *f,
                            struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_register(&b, &f->r), 0);
    return apply_buf(s, idx, &b, res);
}

static inline int dereg(struct state *s, uint64_t idx, const char *node, const char *sid,
                        const char *cid, struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_deregister(&b, node, sid, cid), 0);
    return apply_buf(s, idx, &b, res);
}

static inline int set_status(struct state *s, uint64_t idx, const char *node, const char *cid,
                             const char *status, const char *output, struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_check_status(&b, node, cid, status, output), 0);
    return apply_buf(s, idx, &b, res);
}

/* Change-callback recorder. */
struct rec_note {
    enum state_table t;
    char key[64];
    uint64_t idx;
};
struct recorder {
    struct rec_note v[64];
    int n;
};

static inline void recorder_cb(void *arg, enum state_table t, const char *key, uint64_t idx)
{
    struct recorder *r = arg;
    if (r->n < 64) {
        r->v[r->n].t = t;
        strncpy(r->v[r->n].key, key, sizeof(r->v[r->n].key) - 1);
        r->v[r->n].key[sizeof(r->v[r->n].key) - 1] = '\0';
        r->v[r->n].idx = idx;
        r->n++;
    }
}

static inline int recorded(const struct recorder *r, enum state_table t, const char *key)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->v[i].t == t && strcmp(r->v[i].key, key) == 0;
    return n;
}

/* Same snapshot except the last applied index (bytes 5..12) and the CRC. */
static inline void assert_same_but_index(const struct cn_buf *a, const struct state *s)
{
    struct cn_buf b;
    snap(s, &b);
    assert_int_equal(a->len, b.len);
    assert_memory_equal(a->p, b.p, 5);
    assert_memory_equal(a->p + 13, b.p + 13, a->len - 17);
    cn_buf_free(&b);
}

/* A state with something of everything: live keys, tombstones, nodes with
 * maps, services with tags/tagged addresses, node and service checks, and
 * indexes of deleted items. Uses indexes 1..20. */
static inline void populate(struct state *s)
{
    kvset(s, 1, "a", "1");
    kvset(s, 2, "a/b", "22");
    kvset(s, 3, "a\xff", "bin");
    kvset(s, 4, "gone/x", "x");
    assert_int_equal(op1(s, 5, STATE_KV_DELETE_TREE, "gone/", NULL, 0, NULL), 0);
    struct state_kv_op op = kvop(STATE_KV_SET, "flagged", "", 0);
    op.flags = UINT64_MAX;
    assert_int_equal(txn(s, 6, &op, 1, NULL), 0);

    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    struct state_pair ta[] = {{"lan", "10.0.0.1"}, {"wan", "1.2.3.4"}};
    f.r.node.tagged_addresses.items = ta;
    f.r.node.tagged_addresses.n = 2;
    f.r.node.id = "8f1a2b3c-0000-0000-0000-000000000001";
    reg_service(&f, "web1", "web", 8080);
    static char *tags[] = {"v1", "primary"};
    f.svc.tags = tags;
    f.svc.ntags = 2;
    static struct state_taddr staddr[] = {{"lan", "10.0.0.1", 8080}};
    f.svc.taddrs = staddr;
    f.svc.ntaddrs = 1;
    struct state_pair sm[] = {{"version", "3"}};
    f.svc.meta.items = sm;
    f.svc.meta.n = 1;
    f.svc.enable_tag_override = true;
    struct state_check *c = reg_check(&f, "web-http", "web1", "passing");
    c->type = "http";
    c->http = "http://10.0.0.1:8080/health";
    c->interval_ns = 10000000000LL;
    c->timeout_ns = 1000000000LL;
    c->header_json = "{\"X\":[\"1\"]}";
    reg_check(&f, "serfHealth", "", "passing");
    assert_int_equal(reg_apply(s, 7, &f, NULL), 0);

    reg_init(&f, "n2", "10.0.0.2");
    reg_service(&f, "web2", "web", 8080);
    c = reg_check(&f, "ttl", "web2", "warning");
    c->type = "ttl";
    c->ttl_ns = 30000000000LL;
    c->output = "slow";
    assert_int_equal(reg_apply(s, 8, &f, NULL), 0);
    reg_init(&f, "n3", "10.0.0.3");
    reg_service(&f, "old", "legacy", 1);
    assert_int_equal(reg_apply(s, 9, &f, NULL), 0);
    assert_int_equal(dereg(s, 10, "n3", NULL, NULL, NULL), 0);
    assert_int_equal(state_apply(s, 11, "\x00\x01", 2, NULL), 0); /* NOOP */
}

#endif
