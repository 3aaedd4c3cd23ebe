/* local/taddr.c: Consul's default tagged addresses for an agent-registered
 * service (agent/agent.go addServiceInternal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "local/local_int.h"

static void svc_init(struct state_service *s, const char *addr, int port)
{
    memset(s, 0, sizeof(*s));
    s->address = cn_strdup(addr);
    s->port = port;
}

static void add_taddr(struct state_service *s, const char *name, const char *addr, int port)
{
    s->taddrs = cn_realloc(s->taddrs, (s->ntaddrs + 1) * sizeof(*s->taddrs));
    assert_non_null(s->taddrs);
    s->taddrs[s->ntaddrs].name = cn_strdup(name);
    s->taddrs[s->ntaddrs].address = cn_strdup(addr);
    s->taddrs[s->ntaddrs].port = port;
    s->ntaddrs++;
}

static void svc_free(struct state_service *s)
{
    for (size_t i = 0; i < s->ntaddrs; i++) {
        cn_free(s->taddrs[i].name);
        cn_free(s->taddrs[i].address);
    }
    cn_free(s->taddrs);
    cn_free(s->address);
}

static void expect(const struct state_service *s, size_t i, const char *name, const char *addr,
                   int port)
{
    assert_true(i < s->ntaddrs);
    assert_string_equal(s->taddrs[i].name, name);
    assert_string_equal(s->taddrs[i].address, addr);
    assert_int_equal(s->taddrs[i].port, port);
}

static void test_ipv4(void **state)
{
    (void)state;
    struct state_service s;
    svc_init(&s, "10.0.0.1", 80);
    assert_int_equal(local__default_taddrs(&s), 0);
    assert_int_equal(s.ntaddrs, 2);
    expect(&s, 0, "lan_ipv4", "10.0.0.1", 80);
    expect(&s, 1, "wan_ipv4", "10.0.0.1", 80);
    /* Idempotent: a second pass adds nothing. */
    assert_int_equal(local__default_taddrs(&s), 0);
    assert_int_equal(s.ntaddrs, 2);
    svc_free(&s);
}

static void test_ipv6_and_mapped(void **state)
{
    (void)state;
    struct state_service s;
    svc_init(&s, "2001:db8::5", 443);
    assert_int_equal(local__default_taddrs(&s), 0);
    assert_int_equal(s.ntaddrs, 2);
    expect(&s, 0, "lan_ipv6", "2001:db8::5", 443);
    expect(&s, 1, "wan_ipv6", "2001:db8::5", 443);
    svc_free(&s);
    /* Go's net.IP.To4 counts an IPv4-mapped address as IPv4. */
    svc_init(&s, "::ffff:192.0.2.1", 1);
    assert_int_equal(local__default_taddrs(&s), 0);
    expect(&s, 0, "lan_ipv4", "::ffff:192.0.2.1", 1);
    expect(&s, 1, "wan_ipv4", "::ffff:192.0.2.1", 1);
    svc_free(&s);
}

static void test_not_an_ip(void **state)
{
    (void)state;
    const char *addrs[] = {"", "db.example.com", "10.0.0.256", "10.0.0.1:80"};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        struct state_service s;
        svc_init(&s, addrs[i], 80);
        assert_int_equal(local__default_taddrs(&s), 0);
        assert_int_equal(s.ntaddrs, 0);
        svc_free(&s);
    }
    struct state_service n;
    memset(&n, 0, sizeof(n)); /* no Address at all */
    assert_int_equal(local__default_taddrs(&n), 0);
    assert_int_equal(n.ntaddrs, 0);
}

static void test_given_names_kept(void **state)
{
    (void)state;
    struct state_service s;
    svc_init(&s, "10.0.0.1", 80);
    add_taddr(&s, "wan_ipv4", "198.51.100.1", 443);
    add_taddr(&s, "lan", "10.0.0.9", 81);
    assert_int_equal(local__default_taddrs(&s), 0);
    assert_int_equal(s.ntaddrs, 3);
    /* sorted by name, the given wan_ipv4 untouched */
    expect(&s, 0, "lan", "10.0.0.9", 81);
    expect(&s, 1, "lan_ipv4", "10.0.0.1", 80);
    expect(&s, 2, "wan_ipv4", "198.51.100.1", 443);
    svc_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6_and_mapped),
        cmocka_unit_test(test_not_an_ip),
        cmocka_unit_test(test_given_names_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
