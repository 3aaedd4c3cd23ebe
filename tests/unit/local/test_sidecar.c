/* local/sidecar.c: what the agent adds to a sidecar expanded from a
 * SidecarService (Consul's agent/sidecar_service.go): the lowest free port of
 * the range (its own port kept on re-registration), and the two default
 * checks when the definition has none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "local/local_int.h"

static void test_port(void **st)
{
    (void)st;
    struct state_service a = {.id = "web", .port = 21000};
    struct state_service b = {.id = "web2-sidecar-proxy", .port = 21001};
    struct state_service c = {.id = "other", .port = 8080};
    const struct state_service *v[] = {&a, &b, &c};
    /* lowest free in range */
    assert_int_equal(local__sidecar_port(v, 3, "web-sidecar-proxy", 21000, 21255), 21002);
    /* a sidecar re-registered keeps its own port */
    assert_int_equal(local__sidecar_port(v, 3, "web2-sidecar-proxy", 21000, 21255), 21001);
    /* ... unless it is outside the range */
    assert_int_equal(local__sidecar_port(v, 3, "other", 21000, 21255), 21002);
    assert_int_equal(local__sidecar_port(NULL, 0, "x", 21000, 21255), 21000);
    /* the range exhausted, or disabled */
    assert_int_equal(local__sidecar_port(v, 3, "x", 21000, 21001), CN_ENOTFOUND);
    assert_int_equal(local__sidecar_port(v, 3, "x", 0, 0), CN_ENOTFOUND);
    assert_int_equal(local__sidecar_port(v, 3, "x", 21010, 21000), CN_ENOTFOUND);
}

static void set(char **p, const char *s)
{
    *p = cn_strdup(s);
    assert_non_null(*p);
}

static void test_default_checks(void **st)
{
    (void)st;
    struct local_svc_def d;
    memset(&d, 0, sizeof(d));
    set(&d.svc.id, "web1-sidecar-proxy");
    set(&d.svc.service, "web-sidecar-proxy");
    set(&d.svc.address, "");
    set(&d.svc.proxy.dest_id, "web1");
    set(&d.svc.proxy.local_address, "127.0.0.1");
    d.svc.port = 21003;
    assert_int_equal(local__sidecar_checks(&d), 0);
    assert_int_equal(d.nchecks, 2);
    assert_string_equal(d.checks[0].check_id, "service:web1-sidecar-proxy:1");
    assert_string_equal(d.checks[0].name, "Connect Sidecar Listening");
    assert_string_equal(d.checks[0].type, "tcp");
    assert_string_equal(d.checks[0].tcp, "127.0.0.1:21003");
    assert_int_equal(d.checks[0].interval_ns, 10000000000LL);
    assert_string_equal(d.checks[0].status, "critical");
    assert_string_equal(d.checks[0].service_id, "web1-sidecar-proxy");
    assert_string_equal(d.checks[1].check_id, "service:web1-sidecar-proxy:2");
    assert_string_equal(d.checks[1].name, "Connect Sidecar Aliasing web1");
    assert_string_equal(d.checks[1].type, "alias");
    assert_string_equal(d.checks[1].alias_service, "web1");
    local_svc_def_free(&d);

    /* the sidecar's own address wins (IPv6 bracketed); given checks stay */
    memset(&d, 0, sizeof(d));
    set(&d.svc.id, "s");
    set(&d.svc.service, "s");
    set(&d.svc.address, "::1");
    d.svc.port = 21000;
    assert_int_equal(local__sidecar_checks(&d), 0);
    assert_string_equal(d.checks[0].tcp, "[::1]:21000");
    assert_int_equal(local__sidecar_checks(&d), 0);
    assert_int_equal(d.nchecks, 2);
    local_svc_def_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_default_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
