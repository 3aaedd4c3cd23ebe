/* tests/unit/state/test_coord.c: the network coordinates table
 * (STATE_CMD_COORD_BATCH, state.h): batches, what is dropped, the index and
 * notifications, removal with the node, snapshot format 5 and the older
 * formats, malformed commands. */
#include <math.h>

#include "base/crc.h"
#include "base/enc.h"
#include "helpers.h"

static struct state_coord co(const char *node, const char *seg, double x)
{
    struct state_coord c;
    memset(&c, 0, sizeof(c));
    c.node = node;
    c.segment = seg;
    c.vec[0] = x;
    c.vec[7] = -x;
    c.error = 0.25;
    c.adjustment = -0.0001;
    c.height = 0.00002;
    return c;
}

static int batch(struct state *s, uint64_t idx, const struct state_coord *v, size_t n)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_coord_batch(&b, v, n), 0);
    return apply_buf(s, idx, &b, NULL);
}

static void reg_node(struct state *s, uint64_t idx, const char *node)
{
    struct reg_fixture f;
    reg_init(&f, node, "10.0.0.1");
    assert_int_equal(reg_apply(s, idx, &f, NULL), 0);
}

static int count_cb(void *arg, const struct state_coord *c)
{
    (void)c;
    ++*(int *)arg;
    return 0;
}

static void test_batch_apply(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct recorder rec = {0};
    state_set_change_cb(s, recorder_cb, &rec);
    reg_node(s, 1, "a");
    reg_node(s, 2, "b");
    struct state_coord v[4] = {co("a", "", 0.001), co("b", "", 0.002), co("ghost", "", 0.003),
                               co("b", "", 0.004)};
    v[3].segment = "alpha";
    v[1].height = NAN; /* dropped, as an unknown node is */
    assert_int_equal(batch(s, 3, v, 4), 0);
    assert_int_equal(state_table_index(s, STATE_T_COORDS), 3);
    assert_int_equal(state_coord_count(s), 2);
    const struct state_coord *a = state_coord_get(s, "a", "");
    assert_non_null(a);
    assert_true(a->vec[0] == 0.001 && a->vec[7] == -0.001 && a->error == 0.25);
    assert_true(a->adjustment == -0.0001 && a->height == 0.00002);
    assert_null(state_coord_get(s, "b", ""));
    assert_non_null(state_coord_get(s, "b", "alpha"));
    assert_null(state_coord_get(s, "ghost", ""));
    assert_int_equal(recorded(&rec, STATE_T_COORDS, "a"), 1);
    assert_int_equal(recorded(&rec, STATE_T_COORDS, "b"), 1);
    /* a later batch replaces; the index moves even when nothing applies */
    struct state_coord w = co("a", "", 0.009);
    assert_int_equal(batch(s, 4, &w, 1), 0);
    assert_true(state_coord_get(s, "a", "")->vec[0] == 0.009);
    assert_int_equal(state_coord_count(s), 2);
    w = co("ghost", "", 1);
    assert_int_equal(batch(s, 5, &w, 1), 0);
    assert_int_equal(state_table_index(s, STATE_T_COORDS), 5);
    int n = 0;
    state_coords_foreach(s, "b", count_cb, &n);
    assert_int_equal(n, 1);
    n = 0;
    state_coords_foreach(s, NULL, count_cb, &n);
    assert_int_equal(n, 2);
    state_free(s);
}

/* Deregistering a node (or a catalog txn deleting it) removes its
 * coordinates, every segment. */
static void test_node_removal(void **st)
{
    (void)st;
    struct state *s = state_new();
    reg_node(s, 1, "a");
    reg_node(s, 2, "b");
    struct state_coord v[3] = {co("a", "", 1), co("a", "x", 2), co("b", "", 3)};
    assert_int_equal(batch(s, 3, v, 3), 0);
    size_t mem = state_mem_bytes(s);
    struct recorder rec = {0};
    state_set_change_cb(s, recorder_cb, &rec);
    assert_int_equal(dereg(s, 4, "a", NULL, NULL, NULL), 0);
    assert_int_equal(state_coord_count(s), 1);
    assert_null(state_coord_get(s, "a", "x"));
    assert_non_null(state_coord_get(s, "b", ""));
    assert_int_equal(state_table_index(s, STATE_T_COORDS), 4);
    assert_int_equal(recorded(&rec, STATE_T_COORDS, "a"), 1);
    assert_true(state_mem_bytes(s) < mem);
    /* removing a service leaves the node's coordinate */
    assert_int_equal(dereg(s, 5, "b", "nosuch", NULL, NULL), 0);
    assert_non_null(state_coord_get(s, "b", ""));
    state_free(s);
}

static void test_snapshot_v5(void **st)
{
    (void)st;
    struct state *s = state_new();
    reg_node(s, 1, "a");
    reg_node(s, 2, "b");
    struct state_coord v[3] = {co("a", "", 1), co("a", "x", 2), co("b", "", 3)};
    assert_int_equal(batch(s, 3, v, 3), 0);
    struct cn_buf a;
    snap(s, &a);
    assert_int_equal(((uint8_t *)a.p)[4], 7);
    struct state *t = state_new();
    char err[200];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    assert_int_equal(state_coord_count(t), 3);
    assert_true(state_coord_get(t, "a", "x")->vec[0] == 2);
    assert_int_equal(state_table_index(t, STATE_T_COORDS), 3);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    /* every proper prefix fails */
    for (size_t cut = 5; cut < a.len; cut += 7) {
        struct cn_buf c = CN_BUF_INIT;
        assert_int_equal(cn_buf_append(&c, a.p, cut), 0);
        assert_int_equal(cn_enc_u32(&c, cn_crc32c(0, c.p, c.len)), 0);
        struct state *u = state_new();
        assert_int_not_equal(state_snapshot_restore(u, c.p, c.len, err, sizeof(err)), 0);
        state_free(u);
        cn_buf_free(&c);
    }
    /* a restore at a later index: the table index becomes it */
    struct state *r = state_new();
    for (uint64_t i = 1; i <= 5; i++)
        kvset(r, i, "k", "v");
    assert_int_equal(state_snapshot_restore_at(r, a.p, a.len, 9, err, sizeof(err)), 0);
    assert_int_equal(state_table_index(r, STATE_T_COORDS), 9);
    assert_int_equal(state_coord_count(r), 3);
    state_free(r);
    /* a coordinate whose node is not in the snapshot is refused */
    struct state *lone = state_new();
    reg_node(lone, 1, "a");
    assert_int_equal(batch(lone, 2, v, 1), 0);
    struct cn_buf l;
    snap(lone, &l);
    /* the coordinates section: index u64, count u32, node (u32 length +
     * "a"), segment (u32 0), 11 doubles, then the empty config entries
     * section (u64, u32 0) and the CRC: rename the node */
    size_t name_at = l.len - 4 - 12 - 88 - 4 - 1;
    assert_int_equal(l.p[name_at], 'a');
    l.p[name_at] = 'z';
    cn_put_u32((uint8_t *)l.p + l.len - 4, cn_crc32c(0, l.p, l.len - 4));
    struct state *u = state_new();
    assert_int_equal(state_snapshot_restore(u, l.p, l.len, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "coordinate 0"));
    state_free(u);
    cn_buf_free(&l);
    state_free(lone);
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

/* A version-4 snapshot (before coordinates) restores with none. */
static void test_version4_restores(void **st)
{
    (void)st;
    struct state *s = state_new();
    reg_node(s, 1, "a");
    struct cn_buf a;
    snap(s, &a);
    /* the coordinates (u64 index, u32 0) and config entries (u64, u32 0)
     * sections cut before the CRC */
    memmove(a.p + a.len - 28, a.p + a.len - 4, 4);
    a.len -= 24;
    a.p[4] = 4;
    cn_put_u32((uint8_t *)a.p + a.len - 4, cn_crc32c(0, a.p, a.len - 4));
    struct state *t = state_new();
    char err[200];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_non_null(state_node_get(t, "a"));
    assert_int_equal(state_coord_count(t), 0);
    /* the same bytes claiming version 5 are short */
    a.p[4] = 5;
    cn_put_u32((uint8_t *)a.p + a.len - 4, cn_crc32c(0, a.p, a.len - 4));
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), CN_ECORRUPT);
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

static void test_malformed(void **st)
{
    (void)st;
    struct state_coord v = co("a", "", 1);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_coord_batch(&b, &v, 0), CN_EINVAL);
    v.node = "";
    assert_int_equal(state_cmd_coord_batch(&b, &v, 1), CN_EINVAL);
    v.node = "a";
    v.segment = NULL;
    assert_int_equal(state_cmd_coord_batch(&b, &v, 1), CN_EINVAL);
    assert_int_equal(b.len, 0);
    v.segment = "";
    assert_int_equal(state_cmd_coord_batch(&b, &v, 1), 0);
    assert_int_equal(state_cmd_type(b.p, b.len), STATE_CMD_COORD_BATCH);
    struct state *s = state_new();
    reg_node(s, 1, "a");
    struct cn_buf before;
    snap(s, &before);
    /* every truncation, and a trailing byte, are refused with nothing changed */
    for (size_t n = 1; n < b.len; n++)
        assert_int_equal(state_apply(s, 2, b.p, n, NULL), CN_ECORRUPT);
    assert_int_equal(cn_buf_putc(&b, 0), 0);
    assert_int_equal(state_apply(s, 2, b.p, b.len, NULL), CN_ECORRUPT);
    /* a count of 0 */
    b.len = 2;
    assert_int_equal(cn_enc_u32(&b, 0), 0);
    assert_int_equal(state_apply(s, 2, b.p, b.len, NULL), CN_ECORRUPT);
    assert_same_snap(&before, s);
    assert_int_equal(state_coord_count(s), 0);
    cn_buf_free(&before);
    cn_buf_free(&b);
    state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_apply), cmocka_unit_test(test_node_removal),
        cmocka_unit_test(test_snapshot_v5), cmocka_unit_test(test_version4_restores),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
