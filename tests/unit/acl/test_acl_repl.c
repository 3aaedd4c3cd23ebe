/* acl/repl.c: the diff a secondary datacenter applies to equal the
 * primary's ACL objects: new and changed objects upserted (policies before
 * roles before tokens), vanished ones deleted, local tokens neither copied
 * nor deleted, duplicates refused, and batches bounded by bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acl/repl.h"
#include "base/err.h"

enum { TOK = 1, POL = 2, ROLE = 3 };
static const uint8_t rank[8] = {0, 3, 1, 2, 4, 5, 6, 7}; /* policy, role, token */

static struct acl_repl_obj obj(uint8_t kind, const char *id, const char *name, const char *def)
{
    return (struct acl_repl_obj){
        .kind = kind, .id = id, .name = name, .def = (const uint8_t *)def, .def_len = strlen(def)};
}

static void test_equal_sides_no_ops(void **st)
{
    (void)st;
    struct acl_repl_obj l[] = {obj(POL, "p1", "a", "{1}"), obj(ROLE, "r1", "r", "{2}")};
    struct acl_repl_obj r[] = {obj(ROLE, "r1", "r", "{2}"), obj(POL, "p1", "a", "{1}")};
    struct acl_repl_diff d;
    assert_int_equal(acl_repl_diff(l, 2, r, 2, rank, &d), 0);
    assert_int_equal(d.ndel, 0);
    assert_int_equal(d.nset, 0);
    acl_repl_diff_free(&d);
}

static void test_new_changed_deleted(void **st)
{
    (void)st;
    struct acl_repl_obj l[] = {obj(POL, "p1", "a", "{1}"), obj(POL, "p2", "b", "{2}"),
                               obj(POL, "p3", "c", "{3}"), obj(TOK, "t1", "s1", "{t}")};
    struct acl_repl_obj r[] = {
        obj(TOK, "t2", "s2", "{t2}"), /* new token */
        obj(POL, "p3", "c", "{3}"),   /* same */
        obj(POL, "p2", "b2", "{2}"),  /* renamed */
        obj(ROLE, "r1", "r", "{r}"),  /* new role */
        obj(POL, "p0", "z", "{0}"),   /* new policy */
    };
    r[1].expires_unix_ns = 0;
    struct acl_repl_diff d;
    assert_int_equal(acl_repl_diff(l, 4, r, 5, rank, &d), 0);
    /* p1 and t1 gone from the primary */
    assert_int_equal(d.ndel, 2);
    assert_string_equal(l[d.del[0]].id, "p1");
    assert_string_equal(l[d.del[1]].id, "t1");
    /* policies first (by id), then the role, then the token */
    assert_int_equal(d.nset, 4);
    assert_string_equal(r[d.set[0]].id, "p0");
    assert_string_equal(r[d.set[1]].id, "p2");
    assert_string_equal(r[d.set[2]].id, "r1");
    assert_string_equal(r[d.set[3]].id, "t2");
    acl_repl_diff_free(&d);
}

static void test_def_and_expiry_changes(void **st)
{
    (void)st;
    struct acl_repl_obj l[] = {obj(POL, "p1", "a", "{rules: 1}"), obj(TOK, "t1", "s", "{}")};
    struct acl_repl_obj r[] = {obj(POL, "p1", "a", "{rules: 2}"), obj(TOK, "t1", "s", "{}")};
    r[1].expires_unix_ns = 5;
    struct acl_repl_diff d;
    assert_int_equal(acl_repl_diff(l, 2, r, 2, rank, &d), 0);
    assert_int_equal(d.ndel, 0);
    assert_int_equal(d.nset, 2);
    acl_repl_diff_free(&d);
    /* the same ID under two kinds is two objects */
    struct acl_repl_obj l2[] = {obj(POL, "x", "a", "{}")};
    struct acl_repl_obj r2[] = {obj(ROLE, "x", "a", "{}")};
    assert_int_equal(acl_repl_diff(l2, 1, r2, 1, rank, &d), 0);
    assert_int_equal(d.ndel, 1);
    assert_int_equal(d.nset, 1);
    acl_repl_diff_free(&d);
}

static void test_local_tokens_stay(void **st)
{
    (void)st;
    struct acl_repl_obj l[] = {obj(TOK, "local1", "s1", "{}"), obj(TOK, "g1", "s2", "{}")};
    l[0].local = true;
    struct acl_repl_obj r[] = {obj(TOK, "plocal", "s3", "{}"), obj(TOK, "g2", "s4", "{}")};
    r[0].local = true; /* the primary's own local token: never copied */
    struct acl_repl_diff d;
    assert_int_equal(acl_repl_diff(l, 2, r, 2, rank, &d), 0);
    assert_int_equal(d.ndel, 1);
    assert_string_equal(l[d.del[0]].id, "g1");
    assert_int_equal(d.nset, 1);
    assert_string_equal(r[d.set[0]].id, "g2");
    acl_repl_diff_free(&d);
}

static void test_empty_and_duplicates(void **st)
{
    (void)st;
    struct acl_repl_diff d;
    assert_int_equal(acl_repl_diff(NULL, 0, NULL, 0, rank, &d), 0);
    assert_int_equal(d.ndel + d.nset, 0);
    acl_repl_diff_free(&d);
    struct acl_repl_obj r[] = {obj(POL, "p", "a", "{}"), obj(POL, "p", "b", "{}")};
    assert_int_equal(acl_repl_diff(NULL, 0, r, 2, rank, &d), CN_EINVAL);
    assert_null(d.del);
    assert_null(d.set);
    /* everything new when the secondary has nothing */
    struct acl_repl_obj r2[] = {obj(TOK, "t", "s", "{}"), obj(POL, "p", "a", "{}")};
    assert_int_equal(acl_repl_diff(NULL, 0, r2, 2, rank, &d), 0);
    assert_int_equal(d.nset, 2);
    assert_int_equal(r2[d.set[0]].kind, POL);
    acl_repl_diff_free(&d);
}

static void test_batches(void **st)
{
    (void)st;
    char defs[10][64];
    char ids[10][8];
    struct acl_repl_obj r[10];
    for (int i = 0; i < 10; i++) {
        memset(defs[i], 'x', 63);
        defs[i][63] = 0;
        snprintf(ids[i], sizeof(ids[i]), "p%d", i);
        r[i] = obj(POL, ids[i], ids[i], defs[i]);
    }
    struct acl_repl_obj l[] = {obj(POL, "old", "o", "{}")};
    struct acl_repl_diff d;
    assert_int_equal(acl_repl_diff(l, 1, r, 10, rank, &d), 0);
    assert_int_equal(d.ndel, 1);
    assert_int_equal(d.nset, 10);
    /* each upsert costs 63 + 2 + 2 + 32 = 99 bytes, the delete 11 */
    size_t nd, ns, done_d = 0, done_s = 0, rounds = 0;
    while (done_d < d.ndel || done_s < d.nset) {
        acl_repl_batch(&d, l, r, done_d, done_s, 300, &nd, &ns);
        assert_true(nd + ns >= 1);
        assert_true(ns <= 3);
        done_d += nd;
        done_s += ns;
        rounds++;
    }
    assert_int_equal(done_d, 1);
    assert_int_equal(done_s, 10);
    assert_int_equal(rounds, 4); /* 1+2, 3, 3, 2 */
    /* one object larger than the budget still goes, alone */
    acl_repl_batch(&d, l, r, 1, 0, 10, &nd, &ns);
    assert_int_equal(nd + ns, 1);
    acl_repl_diff_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_sides_no_ops),     cmocka_unit_test(test_new_changed_deleted),
        cmocka_unit_test(test_def_and_expiry_changes), cmocka_unit_test(test_local_tokens_stay),
        cmocka_unit_test(test_empty_and_duplicates),   cmocka_unit_test(test_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
