/* Unit tests for the watch registry (server/watch.c): exact, table-wide and
 * prefix matching, fire-once semantics, re-arming from a callback, and that
 * unrelated changes fire nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/mem.h"
#include "server/server_int.h"

struct waiter {
    struct srv_watch w;
    int fired;
    uint64_t index;
    struct srv_watches *rearm; /* re-arm on the same key when set */
};

static void on_fire(struct srv_watch *w, uint64_t index)
{
    struct waiter *x = w->data;
    x->fired++;
    x->index = index;
    if (x->rearm)
        srv__watches_arm(x->rearm, w, STATE_T_KV, "a/b", false);
}

static void arm(struct srv_watches *ws, struct waiter *x, enum state_table t, const char *key,
                bool prefix)
{
    memset(x, 0, sizeof(*x));
    x->w.cb = on_fire;
    x->w.data = x;
    assert_int_equal(srv__watches_arm(ws, &x->w, t, key, prefix), 0);
}

static void test_exact_key_fires_once(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    struct waiter a, b;
    arm(ws, &a, STATE_T_KV, "a/b", false);
    arm(ws, &b, STATE_T_KV, "a/c", false);
    srv__watches_change(ws, STATE_T_KV, "a/b", 7);
    srv__watches_flush(ws);
    assert_int_equal(a.fired, 1);
    assert_true(a.index == 7);
    assert_int_equal(b.fired, 0);
    srv__watches_change(ws, STATE_T_KV, "a/b", 8);
    srv__watches_flush(ws);
    assert_int_equal(a.fired, 1); /* fired watches are removed */
    assert_int_equal(srv__watches_count(ws), 1);
    srv__watches_free(ws);
}

static void test_prefix_and_table_watches(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    struct waiter p_a, p_ab, p_x, p_empty, any_kv, any_nodes, svc;
    arm(ws, &p_a, STATE_T_KV, "a", true);
    arm(ws, &p_ab, STATE_T_KV, "a/b", true);
    arm(ws, &p_x, STATE_T_KV, "x", true);
    arm(ws, &p_empty, STATE_T_KV, "", true);
    arm(ws, &any_kv, STATE_T_KV, NULL, false);
    arm(ws, &any_nodes, STATE_T_NODES, NULL, false);
    arm(ws, &svc, STATE_T_SERVICES, "a/b", false);
    srv__watches_change(ws, STATE_T_KV, "a/b/c", 3);
    srv__watches_flush(ws);
    assert_int_equal(p_a.fired, 1);
    assert_int_equal(p_ab.fired, 1);
    assert_int_equal(p_empty.fired, 1);
    assert_int_equal(any_kv.fired, 1);
    assert_int_equal(p_x.fired, 0);
    assert_int_equal(any_nodes.fired, 0);
    assert_int_equal(svc.fired, 0); /* same key, other table */
    srv__watches_free(ws);
}

static void test_many_waiters_one_key_and_disarm(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    enum { N = 5000 };
    struct waiter *w = cn_calloc(N, sizeof(*w));
    for (int i = 0; i < N; i++)
        arm(ws, &w[i], STATE_T_KV, "hot", false);
    srv__watches_disarm(ws, &w[17].w);
    srv__watches_disarm(ws, &w[17].w); /* idempotent */
    srv__watches_change(ws, STATE_T_KV, "cold", 1);
    srv__watches_flush(ws);
    for (int i = 0; i < N; i++)
        assert_int_equal(w[i].fired, 0);
    srv__watches_change(ws, STATE_T_KV, "hot", 2);
    srv__watches_flush(ws);
    for (int i = 0; i < N; i++)
        assert_int_equal(w[i].fired, i == 17 ? 0 : 1);
    assert_int_equal(srv__watches_count(ws), 0);
    srv__watches_free(ws); /* touches armed watches: free it first */
    cn_free(w);
}

static void test_rearm_from_callback(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    struct waiter a;
    arm(ws, &a, STATE_T_KV, "a/b", false);
    a.rearm = ws;
    srv__watches_change(ws, STATE_T_KV, "a/b", 5);
    srv__watches_flush(ws);
    assert_int_equal(a.fired, 1);
    assert_int_equal(srv__watches_count(ws), 1);
    a.rearm = NULL;
    srv__watches_change(ws, STATE_T_KV, "a/b", 6);
    srv__watches_flush(ws);
    assert_int_equal(a.fired, 2);
    assert_true(a.index == 6);
    srv__watches_free(ws);
}

static void test_disarm_after_fire_before_flush(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    struct waiter a, b;
    arm(ws, &a, STATE_T_KV, "k", false);
    arm(ws, &b, STATE_T_KV, "k", false);
    srv__watches_change(ws, STATE_T_KV, "k", 9);
    srv__watches_disarm(ws, &b.w); /* e.g. its client went away */
    srv__watches_flush(ws);
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 0);
    srv__watches_free(ws);
}

static void test_growth_keeps_buckets_reachable(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    enum { N = 3000 };
    struct waiter *w = cn_calloc(N, sizeof(*w));
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        arm(ws, &w[i], STATE_T_KV, key, false);
    }
    for (int i = 0; i < N; i += 7) {
        snprintf(key, sizeof(key), "k%d", i);
        srv__watches_change(ws, STATE_T_KV, key, (uint64_t)i + 1);
    }
    srv__watches_flush(ws);
    for (int i = 0; i < N; i++)
        assert_int_equal(w[i].fired, i % 7 == 0);
    srv__watches_free(ws); /* touches armed watches: free it first */
    cn_free(w);
}

/* A snapshot installed from the leader replaces the whole state: every
 * armed watch fires, whatever its key, table or kind. */
static void test_fire_all(void **state)
{
    (void)state;
    struct srv_watches *ws = srv__watches_new();
    assert_non_null(ws);
    struct waiter x[40];
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "k/%d", i);
        arm(ws, &x[i], (enum state_table)(i % STATE_T__COUNT), i % 5 == 0 ? NULL : key, i % 3 == 0);
    }
    assert_int_equal(srv__watches_count(ws), 40);
    srv__watches_fire_all(ws, 77);
    srv__watches_flush(ws);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(x[i].fired, 1);
        assert_int_equal(x[i].index, 77);
    }
    assert_int_equal(srv__watches_count(ws), 0);
    srv__watches_fire_all(ws, 78); /* nothing armed: nothing happens */
    srv__watches_flush(ws);
    assert_int_equal(x[0].fired, 1);
    srv__watches_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_key_fires_once),
        cmocka_unit_test(test_prefix_and_table_watches),
        cmocka_unit_test(test_many_waiters_one_key_and_disarm),
        cmocka_unit_test(test_rearm_from_callback),
        cmocka_unit_test(test_disarm_after_fire_before_flush),
        cmocka_unit_test(test_growth_keeps_buckets_reachable),
        cmocka_unit_test(test_fire_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
