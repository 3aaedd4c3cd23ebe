/* The write path end to end on a real loop, real storage and a real state:
 * propose -> group-committed fsync -> apply -> callback -> watch; restart
 * recovers everything, with and without snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "server/server.h"

struct ctx {
    int done;
    int ok;
    uint64_t last_index_seen;
};

static void on_done(void *arg, int rc, const struct state_result *res)
{
    struct ctx *c = arg;
    c->done++;
    if (rc == 0 && res && res->ok)
        c->ok++;
}

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

static void put(struct srv *s, const char *key, const char *val, struct ctx *c)
{
    struct state_kv_op op = {
        .verb = STATE_KV_SET, .key = key, .value = val, .value_len = strlen(val)};
    struct cn_buf cmd = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_txn(&cmd, &op, 1), 0);
    assert_int_equal(srv_propose(s, cmd.p, cmd.len, on_done, c), 0);
    cn_buf_free(&cmd);
}

static void run_until(uv_loop_t *loop, struct ctx *c, int n)
{
    while (c->done < n)
        uv_run(loop, UV_RUN_ONCE);
}

static void close_srv(uv_loop_t *loop, struct srv *s)
{
    srv_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
}

struct wctx {
    struct srv_watch w;
    int fired;
    uint64_t index;
};

static void on_watch(struct srv_watch *w, uint64_t index)
{
    struct wctx *x = w->data;
    x->fired++;
    x->index = index;
}

static void check_keys(struct srv *s, int n)
{
    char key[32], val[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "k/%04d", i);
        snprintf(val, sizeof(val), "v%d", i);
        struct state_kv kv;
        assert_true(state_kv_get(srv_state(s), key, &kv));
        assert_int_equal(kv.value_len, strlen(val));
        assert_memory_equal(kv.value, val, kv.value_len);
    }
}

static void write_and_recover(uint64_t snapshot_every)
{
    char dir[] = "/tmp/cairn-wp-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv_options o = {.data_dir = dir, .snapshot_entries = snapshot_every, .node_id = 1};
    struct srv *s;
    char err[256];
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);

    struct wctx w = {0};
    assert_int_equal(srv_watch_arm(s, &w.w, STATE_T_KV, "k/0042", false, on_watch, &w), 0);
    struct ctx c = {0};
    char key[32], val[32];
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k/%04d", i);
        snprintf(val, sizeof(val), "v%d", i);
        put(s, key, val, &c);
    }
    run_until(&loop, &c, N);
    assert_int_equal(c.ok, N);
    assert_int_equal(w.fired, 1);
    struct state_kv kv;
    assert_true(state_kv_get(srv_state(s), "k/0042", &kv));
    assert_true(w.index == kv.modify_index);
    assert_true(srv_commit_index(s) >= N);
    uint64_t commit = srv_commit_index(s);
    close_srv(&loop, s);

    /* Restart: everything acknowledged is there, indexes continue. */
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    check_keys(s, N);
    /* Everything up to the old commit is applied when srv_open returns; the
     * new term's no-op takes the next index. */
    assert_true(srv_commit_index(s) == commit + 1);
    struct ctx c2 = {0};
    put(s, "after", "restart", &c2);
    run_until(&loop, &c2, 1);
    assert_true(state_kv_get(srv_state(s), "after", &kv));
    /* Indexes continue (a new leader's no-op may take one first). */
    assert_true(kv.modify_index > commit);
    close_srv(&loop, s);

    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    check_keys(s, N);
    assert_true(state_kv_get(srv_state(s), "after", NULL));
    close_srv(&loop, s);
    uv_loop_close(&loop);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_write_recover_log_only(void **state)
{
    (void)state;
    write_and_recover(1000000);
}

static void test_write_recover_with_snapshots(void **state)
{
    (void)state;
    write_and_recover(50);
}

static void test_propose_after_close_is_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-wp-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv_options o = {.data_dir = dir, .node_id = 1};
    struct srv *s;
    char err[256];
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    /* Proposals still queued at close are answered (applied if durable, else
     * CN_ESHUTDOWN): the callback runs exactly once either way. */
    struct ctx c = {0};
    put(s, "a", "1", &c);
    put(s, "b", "2", &c);
    srv_close(s);
    assert_int_equal(c.done, 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_recover_log_only),
        cmocka_unit_test(test_write_recover_with_snapshots),
        cmocka_unit_test(test_propose_after_close_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
