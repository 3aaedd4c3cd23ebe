/* tests/unit/client/test_snapshot.c: libcairn's snapshots. The weight rule
 * shared with api/pick.c (docs/lb.md), canonical order, and the lock-free
 * publication of client/watch.c under readers on other threads (ASan sees a
 * snapshot freed while a reader takes it). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cairn/client.h"
#include "client/client_int.h"

static const char *answer =
    "[{\"Node\":{\"Node\":\"n2\",\"Address\":\"10.0.0.2\"},"
    "\"Service\":{\"ID\":\"b\",\"Port\":81,\"Address\":\"\",\"Weights\":{\"Passing\":5,"
    "\"Warning\":2}},\"Checks\":[{\"Status\":\"warning\"}]},"
    "{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.1\"},"
    "\"Service\":{\"ID\":\"a\",\"Port\":80,\"Address\":\"192.0.2.1\",\"Weights\":{\"Passing\":"
    "3,\"Warning\":1}},\"Checks\":[{\"Status\":\"passing\"}]},"
    "{\"Node\":{\"Node\":\"n3\",\"Address\":\"10.0.0.3\"},"
    "\"Service\":{\"ID\":\"c\",\"Port\":82},\"Checks\":[{\"Status\":\"critical\"}]}]";

static void test_parse(void **st)
{
    (void)st;
    struct cairn_snapshot *s = cairn__snapshot_parse(answer, 42);
    assert_non_null(s);
    assert_int_equal(cairn_snapshot_count(s), 2); /* critical n3/c left out */
    assert_int_equal(cairn_snapshot_index(s), 42);
    const struct cairn_instance *a = cairn_snapshot_instance(s, 0),
                                *b = cairn_snapshot_instance(s, 1);
    assert_string_equal(a->id, "n1/a"); /* sorted by id */
    assert_string_equal(a->address, "192.0.2.1");
    assert_int_equal(a->port, 80);
    assert_int_equal(a->weight, 3); /* passing: Weights.Passing */
    assert_string_equal(b->id, "n2/b");
    assert_string_equal(b->address, "10.0.0.2"); /* the node's address */
    assert_int_equal(b->weight, 2);              /* warning: Weights.Warning */
    assert_non_null(strstr(b->json, "\"ID\":\"b\""));
    /* the snapshot's table is lb's table over the same (id, weight) set */
    struct cairn_lb *t = cairn_snapshot_table(s, CAIRN_LB_MAGLEV);
    assert_non_null(t);
    assert_ptr_equal(t, cairn_snapshot_table(s, CAIRN_LB_MAGLEV)); /* built once */
    struct cairn_lb_backend be[2] = {{"n2/b", 0, 2}, {"n1/a", 0, 3}};
    struct cairn_lb_opts o = {CAIRN_LB_MAGLEV, 0, 0, 0, 0};
    int err;
    struct cairn_lb *direct = cairn_lb_new(be, 2, &o, &err);
    for (int k = 0; k < 500; k++) {
        char key[16];
        snprintf(key, sizeof key, "u%d", k);
        assert_int_equal(cairn_lb_pick(t, key, strlen(key)),
                         cairn_lb_pick(direct, key, strlen(key)));
    }
    cairn_lb_release(direct);
    cairn_snapshot_release(s);
    /* not an array, garbage: NULL, no crash */
    assert_null(cairn__snapshot_parse("{}", 1));
    assert_null(cairn__snapshot_parse("[", 1));
    s = cairn__snapshot_parse("[1, {\"Node\":3}]", 1);
    assert_non_null(s);
    assert_int_equal(cairn_snapshot_count(s), 0);
    cairn_snapshot_release(s);
}

static void test_kv_entry(void **st)
{
    (void)st;
    char *v = NULL;
    size_t len = 0;
    uint64_t mi = 0;
    assert_int_equal(
        cairn__kv_parse_entry("[{\"Key\":\"a\",\"Value\":\"aGVsbG8=\",\"ModifyIndex\":9}]", &v,
                              &len, &mi),
        0);
    assert_string_equal(v, "hello");
    assert_int_equal(len, 5);
    assert_int_equal(mi, 9);
    free(v);
    assert_int_equal(cairn__kv_parse_entry("[{\"Key\":\"a\",\"Value\":null}]", &v, &len, &mi), 0);
    assert_int_equal(len, 0);
    free(v);
    assert_int_equal(cairn__kv_parse_entry("[{\"Value\":\"!!\"}]", &v, &len, &mi), -71);
    assert_int_equal(cairn__kv_parse_entry("[]", &v, &len, &mi), -71);
}

/* Four readers take and release snapshots (and pick) while the writer
 * publishes 2,000 new ones; every snapshot a reader holds must be whole. */
static struct cairn_watch *gw;
static atomic_bool done;

static void *reader(void *arg)
{
    size_t *seen = arg;
    while (!atomic_load(&done)) {
        struct cairn_snapshot *s = cairn_watch_snapshot(gw);
        if (!s)
            continue;
        size_t n = cairn_snapshot_count(s);
        if (n != 2 || strcmp(cairn_snapshot_instance(s, 0)->id, "n1/a") != 0)
            abort();
        struct cairn_lb *t = cairn_snapshot_table(s, CAIRN_LB_RING);
        if (!t || cairn_lb_pick(t, "k", 1) >= n)
            abort();
        (*seen)++;
        cairn_snapshot_release(s);
    }
    return NULL;
}

static void test_publication(void **st)
{
    (void)st;
    gw = cairn__watch_alloc();
    assert_non_null(gw);
    assert_null(cairn_watch_snapshot(gw));
    pthread_t t[4];
    size_t seen[4] = {0};
    atomic_store(&done, false);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &seen[i]), 0);
    for (uint64_t i = 1; i <= 2000; i++) {
        struct cairn_snapshot *s = cairn__snapshot_parse(answer, i);
        assert_non_null(s);
        cairn__watch_publish(gw, s);
    }
    atomic_store(&done, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    struct cairn_snapshot *last = cairn_watch_snapshot(gw);
    assert_int_equal(cairn_snapshot_index(last), 2000);
    cairn_snapshot_release(last);
    cairn__watch_free(gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_kv_entry),
        cmocka_unit_test(test_publication),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
