/* fuzz_state_apply: the input is one command applied to a small populated
 * state. Whatever happens, the state must stay consistent: its snapshot must
 * restore and re-encode to the same bytes, and a second command must apply. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "state/state.h"

static void put(struct state *s, uint64_t idx, const char *key, const char *val)
{
    struct state_kv_op op = {
        .verb = STATE_KV_SET, .key = key, .value = val, .value_len = strlen(val)};
    struct cn_buf b = CN_BUF_INIT;
    if (state_cmd_kv_txn(&b, &op, 1) == 0)
        state_apply(s, idx, b.p, b.len, NULL);
    cn_buf_free(&b);
}

static struct state *populated(void)
{
    struct state *s = state_new();
    if (!s)
        abort();
    put(s, 1, "a", "1");
    put(s, 2, "a/b", "2");
    put(s, 3, "b", "3");
    struct state_kv_op del = {.verb = STATE_KV_DELETE, .key = "b"};
    struct cn_buf b = CN_BUF_INIT;
    state_cmd_kv_txn(&b, &del, 1);
    state_apply(s, 4, b.p, b.len, NULL);
    cn_buf_reset(&b);

    struct state_service svc = {.id = "web1", .service = "web", .port = 80};
    struct state_check checks[2] = {
        {.check_id = "serfHealth", .status = "passing"},
        {.check_id = "web-ok", .service_id = "web1", .status = "warning"},
    };
    struct state_register r = {.node = {.name = "n1", .address = "10.0.0.1"},
                               .service = &svc,
                               .checks = checks,
                               .nchecks = 2};
    state_cmd_register(&b, &r);
    state_apply(s, 5, b.p, b.len, NULL);
    cn_buf_reset(&b);

    /* Sessions: s1 bound to web-ok holds "a"; s2 (delete, lock-delay) holds
     * "a/b"; s3 was destroyed, leaving a lock-delay on "c". */
    char *s1_checks[] = {"serfHealth", "web-ok"};
    struct state_session v = {.id = "s1",
                              .name = "",
                              .node = "n1",
                              .behavior = "release",
                              .ttl = "10s",
                              .ttl_ns = 10000000000,
                              .node_checks = s1_checks,
                              .n_node_checks = 2};
    state_cmd_session_create(&b, &v);
    state_apply(s, 6, b.p, b.len, NULL);
    cn_buf_reset(&b);
    v.id = "s2";
    v.behavior = "delete";
    v.lock_delay_ns = 15000000000;
    v.n_node_checks = 0;
    state_cmd_session_create(&b, &v);
    state_apply(s, 7, b.p, b.len, NULL);
    cn_buf_reset(&b);
    v.id = "s3";
    state_cmd_session_create(&b, &v);
    state_apply(s, 8, b.p, b.len, NULL);
    cn_buf_reset(&b);
    struct state_kv_op locks[3] = {
        {.verb = STATE_KV_LOCK, .key = "a", .value = "1", .value_len = 1, .session = "s1"},
        {.verb = STATE_KV_LOCK, .key = "a/b", .value = "2", .value_len = 1, .session = "s2"},
        {.verb = STATE_KV_LOCK, .key = "c", .value = "3", .value_len = 1, .session = "s3"},
    };
    state_cmd_kv_txn(&b, locks, 3);
    state_apply(s, 9, b.p, b.len, NULL);
    cn_buf_reset(&b);
    state_cmd_session_destroy(&b, "s3");
    state_apply(s, 10, b.p, b.len, NULL);
    cn_buf_free(&b);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state *s = populated();
    struct state_result res;
    state_result_init(&res);
    int rc = state_apply(s, 20, data, size, &res);
    if (rc != res.rc)
        abort();
    state_result_free(&res);

    struct cn_buf a = CN_BUF_INIT, b = CN_BUF_INIT;
    if (state_snapshot_encode(s, &a))
        abort();
    struct state *t = state_new();
    char err[160];
    if (!t || state_snapshot_restore(t, a.p, a.len, err, sizeof(err)) != 0)
        abort();
    if (state_snapshot_encode(t, &b) || a.len != b.len || memcmp(a.p, b.p, a.len))
        abort();

    /* The same command on the restored copy behaves the same. */
    state_free(t);
    t = state_new();
    struct state *u = populated();
    cn_buf_reset(&b);
    state_snapshot_encode(u, &b);
    state_snapshot_restore(t, b.p, b.len, err, sizeof(err));
    if (state_apply(t, 20, data, size, NULL) != rc)
        abort();
    cn_buf_reset(&b);
    state_snapshot_encode(t, &b);
    if (a.len != b.len || memcmp(a.p, b.p, a.len))
        abort();
    state_free(u);
    state_free(t);

    /* Then tear everything down through commands. */
    struct state_kv_op all = {.verb = STATE_KV_DELETE_TREE, .key = ""};
    cn_buf_reset(&b);
    state_cmd_kv_txn(&b, &all, 1);
    state_apply(s, 21, b.p, b.len, NULL);
    cn_buf_reset(&b);
    state_cmd_deregister(&b, "n1", NULL, NULL);
    state_apply(s, 22, b.p, b.len, NULL);
    if (state_kv_count(s) != 0 || state_node_get(s, "n1") || state_session_count(s) != 0)
        abort();
    cn_buf_free(&a);
    cn_buf_free(&b);
    state_free(s);
    return 0;
}
