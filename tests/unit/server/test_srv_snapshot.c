/* Snapshots on the write path: taken by a forked child (or, as the fallback,
 * encoded on the loop and written by the snapshot thread) while writes go
 * on; installed by the writer thread; recovered on restart. The cadence needs
 * both the entry threshold and the interval. */
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "server/server.h"
#include "state/state.h"
#include "storage/storage.h"

struct ctx {
    int done;
    int ok;
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

static void val_of(int i, char *out, size_t cap)
{
    snprintf(out, cap, "value-%d-%0*d", i, 40, i);
}

/* Propose keys k/lo..k/hi-1 at once and wait until all are answered. */
static void put_range(uv_loop_t *loop, struct srv *s, int lo, int hi)
{
    struct ctx c = {0};
    for (int i = lo; i < hi; i++) {
        char key[32], val[64];
        snprintf(key, sizeof(key), "k/%05d", i);
        val_of(i, val, sizeof(val));
        struct state_kv_op op = {
            .verb = STATE_KV_SET, .key = key, .value = val, .value_len = strlen(val)};
        struct cn_buf cmd = CN_BUF_INIT;
        assert_int_equal(state_cmd_kv_txn(&cmd, &op, 1), 0);
        assert_int_equal(srv_propose(s, cmd.p, cmd.len, on_done, &c), 0);
        cn_buf_free(&cmd);
    }
    while (c.done < hi - lo)
        uv_run(loop, UV_RUN_ONCE);
    assert_int_equal(c.ok, hi - lo);
}

struct scan {
    int n;
};

static int check_kv(void *arg, const struct state_kv *kv)
{
    struct scan *sc = arg;
    char key[32], val[64];
    snprintf(key, sizeof(key), "k/%05d", sc->n);
    val_of(sc->n, val, sizeof(val));
    assert_string_equal(kv->key, key);
    assert_int_equal(kv->value_len, strlen(val));
    assert_memory_equal(kv->value, val, kv->value_len);
    sc->n++;
    return 0;
}

static void check_keys(struct srv *s, int n)
{
    struct scan sc = {0};
    state_kv_scan(srv_state(s), "k/", check_kv, &sc);
    assert_int_equal(sc.n, n);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until a snapshot at or past `index` is installed; bounded (a
 * deadline for a hung test, not a timing assertion). */
static void wait_snapshot(uv_loop_t *loop, struct srv *s, uint64_t index)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_tick, 10, 10);
    for (int i = 0; i < 6000 && srv_snapshot_index(s) < index; i++)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_true(srv_snapshot_index(s) >= index);
}

static int count_files(const char *dir, const char *sub, const char *prefix)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/raft/%s", dir, sub);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void close_srv(uv_loop_t *loop, struct srv *s)
{
    srv_close(s);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void snapshot_while_writing(bool in_process)
{
    char dir[] = "/tmp/cairn-snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv_options o = {
        .data_dir = dir, .snapshot_entries = 100, .node_id = 1, .snapshot_in_process = in_process};
    struct srv *s;
    char err[256];
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    assert_int_equal(srv_snapshot_index(s), 0);

    /* The 100th entry starts a snapshot; writes go on while it is taken. */
    put_range(&loop, s, 0, 100);
    put_range(&loop, s, 100, 150);
    wait_snapshot(&loop, s, 100);
    uint64_t first = srv_snapshot_index(s);
    put_range(&loop, s, 150, 400);
    wait_snapshot(&loop, s, first + 100);
    put_range(&loop, s, 400, 420);
    check_keys(s, 420);
    uint64_t commit = srv_commit_index(s);
    uint64_t snap = srv_snapshot_index(s);
    assert_true(snap > first && snap <= commit);
    close_srv(&loop, s);
    /* Two kept, plus at most one written but not installed when we closed
     * (and maybe a tmp file of one cut short). */
    assert_true(count_files(dir, "snapshots", "snap-") <= 3);

    /* Restart: the newest snapshot plus the log after it; leftovers go. */
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    assert_int_equal(count_files(dir, "snapshots", "tmp-"), 0);
    assert_true(srv_snapshot_index(s) >= snap);
    /* Everything up to the old commit is applied when srv_open returns; the
     * new term's no-op takes the next index. */
    assert_true(srv_commit_index(s) == commit + 1);
    check_keys(s, 420);
    put_range(&loop, s, 420, 430);
    check_keys(s, 430);
    close_srv(&loop, s);
    uv_loop_close(&loop);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_snapshot_forked(void **state)
{
    (void)state;
    snapshot_while_writing(false);
}

static void test_snapshot_in_process(void **state)
{
    (void)state;
    snapshot_while_writing(true);
}

/* Enough entries but not enough time: no snapshot. */
static void test_interval_holds_snapshots_back(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv_options o = {
        .data_dir = dir, .snapshot_entries = 10, .snapshot_interval_ms = 3600 * 1000, .node_id = 1};
    struct srv *s;
    char err[256];
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    for (int i = 0; i < 200; i += 20)
        put_range(&loop, s, i, i + 20);
    assert_int_equal(srv_snapshot_index(s), 0);
    close_srv(&loop, s);
    assert_int_equal(count_files(dir, "snapshots", "snap-"), 0);
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    check_keys(s, 200);
    close_srv(&loop, s);
    uv_loop_close(&loop);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Closing while a snapshot is being taken kills the child (or waits for the
 * snapshot thread); nothing acknowledged is lost either way. */
static void close_mid_snapshot(bool in_process)
{
    char dir[] = "/tmp/cairn-snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv_options o = {
        .data_dir = dir, .snapshot_entries = 2000, .node_id = 1, .snapshot_in_process = in_process};
    struct srv *s;
    char err[256];
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    put_range(&loop, s, 0, 2000); /* the last apply starts a snapshot */
    close_srv(&loop, s);
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    check_keys(s, 2000);
    assert_int_equal(count_files(dir, "snapshots", "tmp-"), 0);
    put_range(&loop, s, 2000, 2010);
    close_srv(&loop, s);
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), 0);
    check_keys(s, 2010);
    close_srv(&loop, s);
    uv_loop_close(&loop);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_close_mid_snapshot_forked(void **state)
{
    (void)state;
    close_mid_snapshot(false);
}

static void test_close_mid_snapshot_in_process(void **state)
{
    (void)state;
    close_mid_snapshot(true);
}

/* A snapshot file whose payload lacks the CNS1 header (the state alone, as
 * written before snapshots carried the configuration) is refused at open
 * with an error that says so, not read as state. */
static void test_snapshot_without_magic_refused(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rdir[64];
    snprintf(rdir, sizeof(rdir), "%s/raft", dir);
    struct stor_options so = {0};
    struct stor *st;
    char err[256];
    assert_int_equal(stor_open(rdir, &so, &st, err, sizeof(err)), 0);
    struct state *sm = state_new();
    assert_non_null(sm);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_snapshot_encode(sm, &b), 0);
    assert_int_equal(stor_snapshot_write(st, 5, 1, b.p, b.len, err, sizeof(err)), 0);
    assert_int_equal(stor_snapshot_install(st, 5, 1, 2), 0);
    cn_buf_free(&b);
    state_free(sm);
    stor_close(st);

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv_options o = {.data_dir = dir, .node_id = 1};
    struct srv *s = NULL;
    err[0] = '\0';
    assert_int_equal(srv_open(&loop, &o, &s, err, sizeof(err)), CN_ECORRUPT);
    assert_null(s);
    assert_non_null(strstr(err, "CNS1"));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_forked),
        cmocka_unit_test(test_snapshot_in_process),
        cmocka_unit_test(test_interval_holds_snapshots_back),
        cmocka_unit_test(test_close_mid_snapshot_forked),
        cmocka_unit_test(test_close_mid_snapshot_in_process),
        cmocka_unit_test(test_snapshot_without_magic_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
