/* The AVL tree's bulk build (state__avl_build) and append fast path: a tree
 * built bottom-up from a sorted chain is a valid AVL tree of minimal height,
 * in order, with its augmentation right, and normal inserts and deletes keep
 * every invariant afterwards. Then the same through a snapshot of the KV
 * table (snapshot.c builds its KV tree that way). */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "state/state_int.h"

struct item {
    struct avl a;
    uint64_t k;
};
#define ITEM(n) CN_CONTAINER_OF(n, struct item, a)

static int it_cmp(const void *key, const struct avl *n)
{
    uint64_t a = *(const uint64_t *)key, b = ITEM(n)->k;
    return a < b ? -1 : a > b;
}

static const void *it_key(const struct avl *n)
{
    return &ITEM(n)->k;
}

/* Augmentation: the subtree's largest key (as the KV tree keeps ModifyIndex). */
static void it_fix(struct avl *n)
{
    uint64_t m = ITEM(n)->k;
    if (n->l && AVL_AUG(n->l) > m)
        m = AVL_AUG(n->l);
    if (n->r && AVL_AUG(n->r) > m)
        m = AVL_AUG(n->r);
    n->hx = (m << 8) | (n->hx & 0xffu);
}

static const struct avl_ops it_ops = {it_cmp, it_key, it_fix, NULL};

static int floor_log2(size_t n)
{
    int h = 0;
    while (n >>= 1)
        h++;
    return h;
}

/* Every node's augmentation is its subtree's maximum key. */
static uint64_t check_aug(const struct avl *t)
{
    if (!t)
        return 0;
    uint64_t m = ITEM(t)->k, l = check_aug(t->l), r = check_aug(t->r);
    m = l > m ? l : m;
    m = r > m ? r : m;
    assert_true(AVL_AUG(t) == m);
    return m;
}

/* In-order keys equal want[0..n). */
static void check_order(struct avl *root, const uint64_t *want, size_t n)
{
    struct avl_iter it;
    state__avl_seek(&it, root, NULL, false, &it_ops);
    size_t i = 0;
    for (struct avl *a; (a = state__avl_next(&it));)
        assert_true(i < n && ITEM(a)->k == want[i++]);
    assert_int_equal(i, n);
}

static struct avl *build(struct item *v, size_t n)
{
    struct avl *head = NULL, **tail = &head;
    for (size_t i = 0; i < n; i++) {
        v[i].a.l = v[i].a.r = NULL;
        *tail = &v[i].a;
        tail = &v[i].a.r;
    }
    struct avl *list = head;
    struct avl *root = state__avl_build(&list, n, &it_ops);
    assert_null(list); /* every node consumed */
    return root;
}

static void test_build_sizes(void **st)
{
    (void)st;
    enum { MAX = 1100 };
    struct item *v = calloc(MAX, sizeof(*v));
    uint64_t *keys = calloc(MAX, sizeof(*keys));
    assert_non_null(v);
    for (size_t n = 0; n < MAX; n++) {
        for (size_t i = 0; i < n; i++)
            v[i].k = keys[i] = 3 * i + 1;
        struct avl *root = build(v, n);
        int h = state__avl_check(root, &it_ops);
        assert_int_equal(h, n ? floor_log2(n) + 1 : 0); /* minimal height */
        check_order(root, keys, n);
        check_aug(root);
    }
    free(v);
    free(keys);
}

/* After a bulk build, ordinary inserts (in the middle, and appends on the
 * fast path) and removals keep the tree valid, ordered and augmented. */
static void test_build_then_mutate(void **st)
{
    (void)st;
    enum { N = 4096, EXTRA = 4096 };
    struct item *v = calloc(N + EXTRA, sizeof(*v));
    assert_non_null(v);
    for (size_t i = 0; i < N; i++)
        v[i].k = 10 * (i + 1); /* 10, 20, ... */
    struct avl *root = build(v, N);
    assert_int_equal(state__avl_check(root, &it_ops), floor_log2(N) + 1);
    srand(7);
    size_t live = N;
    for (size_t j = 0; j < EXTRA; j++) {
        struct item *x = &v[N + j];
        /* half in between existing keys, half appended after the last */
        x->k = j % 2 ? 10 * (uint64_t)(rand() % N) + 1 + (uint64_t)(j % 9) : 10 * N + 1 + j;
        if (state__avl_find(root, &x->k, &it_ops))
            continue;
        state__avl_insert(&root, &x->a, &it_ops);
        live++;
        if (j % 3 == 0) { /* and remove one of the built keys */
            uint64_t k = 10 * (uint64_t)(rand() % N + 1);
            if (state__avl_remove(&root, &k, &it_ops))
                live--;
        }
        if (j % 256 == 0) {
            assert_true(state__avl_check(root, &it_ops) >= 0);
            check_aug(root);
        }
    }
    int h = state__avl_check(root, &it_ops);
    assert_true(h >= 0);
    /* AVL bound: height < 1.4405 log2(n + 2) */
    assert_true((double)h < 1.4405 * (floor_log2(live + 2) + 1));
    check_aug(root);
    size_t count = 0;
    uint64_t prev = 0;
    struct avl_iter it;
    state__avl_seek(&it, root, NULL, false, &it_ops);
    for (struct avl *a; (a = state__avl_next(&it)); count++) {
        assert_true(ITEM(a)->k > prev);
        prev = ITEM(a)->k;
    }
    assert_int_equal(count, live);
    free(v);
}

/* Appends in increasing order take the fast path and stay balanced. */
static void test_append_path(void **st)
{
    (void)st;
    enum { N = 10000 };
    struct item *v = calloc(N, sizeof(*v));
    uint64_t *keys = calloc(N, sizeof(*keys));
    assert_non_null(v);
    struct avl *root = NULL;
    assert_null(state__avl_last(root));
    for (size_t i = 0; i < N; i++) {
        v[i].k = keys[i] = i + 1;
        state__avl_insert(&root, &v[i].a, &it_ops);
        assert_ptr_equal(state__avl_last(root), &v[i].a);
    }
    int h = state__avl_check(root, &it_ops);
    assert_true(h >= floor_log2(N) + 1 && (double)h < 1.4405 * (floor_log2(N + 2) + 1));
    check_order(root, keys, N);
    check_aug(root);
    free(v);
    free(keys);
}

/* The checker itself fails on a broken tree (a test that can't fail is a
 * defect): out of order, a wrong height, unbalanced. */
static void test_check_detects(void **st)
{
    (void)st;
    struct item v[3] = {{.k = 1}, {.k = 2}, {.k = 3}};
    struct avl *root = build(v, 3);
    assert_int_equal(state__avl_check(root, &it_ops), 2);
    v[0].k = 5; /* left child after its parent */
    assert_int_equal(state__avl_check(root, &it_ops), -1);
    v[0].k = 1;
    v[2].a.hx = (v[2].a.hx & ~(uint64_t)0xff) | 3; /* wrong stored height */
    assert_int_equal(state__avl_check(root, &it_ops), -1);
    /* a chain of three is unbalanced even with right heights */
    struct item c[3] = {{.k = 1}, {.k = 2}, {.k = 3}};
    c[2].a.hx = 1;
    c[1].a.r = &c[2].a, c[1].a.hx = 2;
    c[0].a.r = &c[1].a, c[0].a.hx = 3;
    assert_int_equal(state__avl_check(&c[0].a, &it_ops), -1);
}

/* A snapshot of the KV table restores into a balanced tree of minimal
 * height with its ModifyIndex augmentation right, and the restored state
 * takes puts and deletes as before. */
static void test_kv_snapshot_tree(void **st)
{
    (void)st;
    struct state *s = state_new();
    assert_non_null(s);
    enum { N = 3000 };
    struct cn_buf b = CN_BUF_INIT;
    char key[32];
    uint64_t idx = 1;
    for (int i = 0; i < N; i++) { /* keys out of order: i * 7919 mod N */
        snprintf(key, sizeof(key), "k/%06d", (i * 7919) % N);
        struct state_kv_op op = {.verb = STATE_KV_SET, .key = key, .value = "v", .value_len = 1};
        cn_buf_reset(&b);
        assert_int_equal(state_cmd_kv_txn(&b, &op, 1), 0);
        assert_int_equal(state_apply(s, idx++, b.p, b.len, NULL), 0);
    }
    for (int i = 0; i < N; i += 5) { /* some tombstones */
        snprintf(key, sizeof(key), "k/%06d", i);
        struct state_kv_op op = {.verb = STATE_KV_DELETE, .key = key};
        cn_buf_reset(&b);
        assert_int_equal(state_cmd_kv_txn(&b, &op, 1), 0);
        assert_int_equal(state_apply(s, idx++, b.p, b.len, NULL), 0);
    }
    struct cn_buf snap = CN_BUF_INIT;
    assert_int_equal(state_snapshot_encode(s, &snap), 0);
    struct state *t = state_new();
    assert_non_null(t);
    char err[200];
    assert_int_equal(state_snapshot_restore(t, snap.p, snap.len, err, sizeof(err)), 0);
    assert_int_equal(state__avl_check(t->kv, &state__kv_ops), floor_log2(N) + 1);
    assert_int_equal(state_kv_count(t), state_kv_count(s));
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    assert_int_equal(state_kv_prefix_index(t, "k/"), state_kv_prefix_index(s, "k/"));
    assert_int_equal(state_kv_prefix_index(t, "k/000001"), state_kv_prefix_index(s, "k/000001"));
    /* the same puts and deletes on both leave equal states */
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), i % 2 ? "k/%06d" : "k/%06dx", (i * 31) % (N + 200));
        bool set = i % 7 != 0;
        struct state_kv_op op = {.verb = set ? STATE_KV_SET : STATE_KV_DELETE,
                                 .key = key,
                                 .value = set ? "w" : NULL,
                                 .value_len = set ? 1 : 0};
        cn_buf_reset(&b);
        assert_int_equal(state_cmd_kv_txn(&b, &op, 1), 0);
        assert_int_equal(state_apply(s, idx, b.p, b.len, NULL), 0);
        assert_int_equal(state_apply(t, idx++, b.p, b.len, NULL), 0);
    }
    assert_true(state__avl_check(t->kv, &state__kv_ops) >= 0);
    struct cn_buf s2 = CN_BUF_INIT, t2 = CN_BUF_INIT;
    assert_int_equal(state_snapshot_encode(s, &s2), 0);
    assert_int_equal(state_snapshot_encode(t, &t2), 0);
    assert_int_equal(s2.len, t2.len);
    assert_memory_equal(s2.p, t2.p, s2.len);
    cn_buf_free(&b);
    cn_buf_free(&snap);
    cn_buf_free(&s2);
    cn_buf_free(&t2);
    state_free(s);
    state_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_sizes),      cmocka_unit_test(test_build_then_mutate),
        cmocka_unit_test(test_append_path),      cmocka_unit_test(test_check_detects),
        cmocka_unit_test(test_kv_snapshot_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
