/* proxy/pdiff.c: what a new sidecar configuration changes in the running
 * proxy: upstreams kept, added and removed, sockets taken over or bound
 * anew, the application and the timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/pdiff.h"

static void base(struct px_cfg *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->service, sizeof(c->service), "web");
    snprintf(c->listen, sizeof(c->listen), "0.0.0.0:21000");
    snprintf(c->app, sizeof(c->app), "127.0.0.1:8080");
    c->local_connect_ms = 1000;
    c->handshake_ms = 10000;
}

static void add(struct px_cfg *c, const char *name, int port)
{
    struct px_upstream_opt *u = &c->ups[c->nups++];
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->bind_addr, sizeof(u->bind_addr), "127.0.0.1");
    u->bind_port = port;
    u->connect_ms = 10000;
}

static void test_same_is_no_change(void **st)
{
    (void)st;
    struct px_cfg a, b;
    struct px_diff d;
    base(&a);
    add(&a, "db", 9191);
    b = a;
    px_cfg_diff(&a, &b, &d);
    assert_false(d.any);
    assert_int_equal(d.up_from[0], 0);
    assert_int_equal(d.up_lis[0], 0);
    assert_int_equal(d.pub_lis, PX_LIS_PUBLIC);
    assert_true(d.up_kept[0] && d.lis_kept[0] && d.pub_kept);
}

static void test_first_configuration_binds_everything(void **st)
{
    (void)st;
    struct px_cfg none, b;
    struct px_diff d;
    memset(&none, 0, sizeof(none));
    base(&b);
    add(&b, "db", 9191);
    px_cfg_diff(&none, &b, &d);
    assert_true(d.any && d.app && d.timeouts);
    assert_int_equal(d.up_from[0], -1);
    assert_int_equal(d.up_lis[0], PX_LIS_NEW);
    assert_int_equal(d.pub_lis, PX_LIS_NEW);
}

static void test_upstream_added_and_removed(void **st)
{
    (void)st;
    struct px_cfg a, b;
    struct px_diff d;
    base(&a);
    add(&a, "db", 9191);
    add(&a, "cache", 9192);
    base(&b);
    add(&b, "cache", 9192);
    add(&b, "queue", 9193);
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any);
    assert_false(d.app || d.timeouts);
    assert_int_equal(d.up_from[0], 1); /* cache continues, on its socket */
    assert_int_equal(d.up_lis[0], 1);
    assert_int_equal(d.up_from[1], -1); /* queue is new, bound anew */
    assert_int_equal(d.up_lis[1], PX_LIS_NEW);
    assert_false(d.up_kept[0]); /* db removed, its socket closed */
    assert_false(d.lis_kept[0]);
    assert_true(d.up_kept[1] && d.lis_kept[1]);
    assert_int_equal(d.pub_lis, PX_LIS_PUBLIC);
}

static void test_rebinds_and_takeovers(void **st)
{
    (void)st;
    struct px_cfg a, b;
    struct px_diff d;
    /* db moves to a new port: kept (its instances), bound anew */
    base(&a);
    add(&a, "db", 9191);
    base(&b);
    add(&b, "db", 9300);
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any);
    assert_int_equal(d.up_from[0], 0);
    assert_int_equal(d.up_lis[0], PX_LIS_NEW);
    assert_true(d.up_kept[0]);
    assert_false(d.lis_kept[0]);
    /* two upstreams swap ports: both kept, each takes the other's socket */
    base(&a);
    add(&a, "db", 1);
    add(&a, "cache", 2);
    base(&b);
    add(&b, "db", 2);
    add(&b, "cache", 1);
    px_cfg_diff(&a, &b, &d);
    assert_int_equal(d.up_from[0], 0);
    assert_int_equal(d.up_lis[0], 1);
    assert_int_equal(d.up_from[1], 1);
    assert_int_equal(d.up_lis[1], 0);
    /* a new upstream on a removed one's port takes its socket over */
    base(&a);
    add(&a, "db", 9191);
    base(&b);
    add(&b, "db2", 9191);
    px_cfg_diff(&a, &b, &d);
    assert_int_equal(d.up_from[0], -1);
    assert_int_equal(d.up_lis[0], 0);
    assert_false(d.up_kept[0]);
    assert_true(d.lis_kept[0]);
    /* an upstream on the old public port: takes that socket; the public side moves */
    base(&a);
    base(&b);
    snprintf(b.listen, sizeof(b.listen), "0.0.0.0:21001");
    add(&b, "db", 21000);
    snprintf(b.ups[0].bind_addr, sizeof(b.ups[0].bind_addr), "0.0.0.0");
    px_cfg_diff(&a, &b, &d);
    assert_int_equal(d.up_lis[0], PX_LIS_PUBLIC);
    assert_int_equal(d.pub_lis, PX_LIS_NEW);
    assert_true(d.pub_kept);
}

static void test_same_name_twice(void **st)
{
    (void)st;
    struct px_cfg a, b;
    struct px_diff d;
    /* one name on two ports: the one on the same address is matched first */
    base(&a);
    add(&a, "db", 1);
    add(&a, "db", 2);
    base(&b);
    add(&b, "db", 2);
    add(&b, "db", 3);
    px_cfg_diff(&a, &b, &d);
    assert_int_equal(d.up_from[0], 1);
    assert_int_equal(d.up_lis[0], 1);
    assert_int_equal(d.up_from[1], 0); /* then in order: db:1 continues as db:3 */
    assert_int_equal(d.up_lis[1], PX_LIS_NEW);
    assert_true(d.up_kept[0] && d.up_kept[1]);
    assert_false(d.lis_kept[0]);
}

static void test_public_side_changes(void **st)
{
    (void)st;
    struct px_cfg a, b;
    struct px_diff d;
    base(&a);
    b = a;
    snprintf(b.app, sizeof(b.app), "127.0.0.1:8081");
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any && d.app);
    assert_int_equal(d.pub_lis, PX_LIS_PUBLIC); /* the socket stays */
    b = a;
    b.handshake_ms = 400;
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any && d.timeouts);
    assert_false(d.app);
    b = a;
    snprintf(b.listen, sizeof(b.listen), "127.0.0.1:21000");
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any);
    assert_int_equal(d.pub_lis, PX_LIS_NEW);
    assert_false(d.pub_kept);
    /* no application any more: no public listener */
    b = a;
    b.listen[0] = b.app[0] = '\0';
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any);
    assert_int_equal(d.pub_lis, PX_LIS_NONE);
    assert_false(d.pub_kept);
    /* an upstream's timeout only */
    base(&a);
    add(&a, "db", 1);
    b = a;
    b.ups[0].connect_ms = 50;
    px_cfg_diff(&a, &b, &d);
    assert_true(d.any);
    assert_int_equal(d.up_from[0], 0);
    assert_int_equal(d.up_lis[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_is_no_change),
        cmocka_unit_test(test_first_configuration_binds_everything),
        cmocka_unit_test(test_upstream_added_and_removed),
        cmocka_unit_test(test_rebinds_and_takeovers),
        cmocka_unit_test(test_same_name_twice),
        cmocka_unit_test(test_public_side_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
