/* The DNS interface's configuration (src/agent/config.c, the DNS block):
 * Consul's flags (-domain, -alt-domain, -recursor, -dns-port) and keys
 * (recursors, addresses.dns, dns_config {...}, agent/config/config.go),
 * defaults, and clear errors for bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "base/err.h"

static int load(struct agent_config *c, char *err, size_t cap, int argc, char **argv)
{
    bool help;
    return agent_config_load(c, argc, argv, &help, err, cap);
}

static char *write_tmp(const char *content)
{
    static char path[64];
    strcpy(path, "/tmp/cairn-dnscfg-XXXXXX.json");
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), 0, NULL), 0);
    assert_int_equal(c.dns_port, 8600);
    assert_string_equal(c.domain, "consul.");
    assert_string_equal(c.alt_domain, "");
    assert_string_equal(c.dns_addr, "");
    assert_int_equal(c.nrecursors, 0);
    assert_string_equal(c.dns_node_ttl, "0s");
    assert_true(c.dns_allow_stale);
    assert_string_equal(c.dns_max_stale, "87600h");
    assert_false(c.dns_only_passing);
    assert_false(c.dns_enable_truncate);
    assert_true(c.dns_node_meta_txt);
    assert_string_equal(c.dns_recursor_timeout, "2s");
    assert_int_equal(c.dns_soa_refresh, 3600);
    assert_int_equal(c.dns_soa_retry, 600);
    assert_int_equal(c.dns_soa_expire, 86400);
    assert_int_equal(c.dns_soa_min_ttl, 0);
    agent_config_free(&c);
}

static void test_flags_and_file(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    char *path =
        write_tmp("{\"recursors\": [\"1.1.1.1\", \"127.0.0.1:5353\"], \"alt_domain\": \"alt.\","
                  " \"addresses\": {\"dns\": \"127.0.0.2\"},"
                  " \"dns_config\": {\"node_ttl\": \"10s\", \"service_ttl\": {\"*\": \"5s\", "
                  "\"web\": \"1m\"},"
                  " \"only_passing\": true, \"enable_truncate\": true, \"udp_answer_limit\": 3,"
                  " \"recursor_timeout\": \"500ms\", \"order_by_weight\": true,"
                  " \"soa\": {\"refresh\": 1, \"retry\": 2, \"expire\": 3, \"min_ttl\": 4}}}");
    char arg[128];
    snprintf(arg, sizeof(arg), "-config-file=%s", path);
    char *argv[] = {arg, "-recursor=8.8.8.8", "-dns-port=-1", "-domain=example."};
    assert_int_equal(load(&c, err, sizeof(err), 4, argv), 0);
    unlink(path);
    assert_int_equal(c.nrecursors, 3);
    assert_string_equal(c.recursors[0], "1.1.1.1");
    assert_string_equal(c.recursors[1], "127.0.0.1:5353");
    assert_string_equal(c.recursors[2], "8.8.8.8");
    assert_int_equal(c.dns_port, -1);
    assert_string_equal(c.domain, "example.");
    assert_string_equal(c.alt_domain, "alt.");
    assert_string_equal(c.dns_addr, "127.0.0.2");
    assert_string_equal(c.dns_node_ttl, "10s");
    assert_int_equal(c.ndns_service_ttl, 2);
    assert_string_equal(c.dns_service_ttl[0].name, "*");
    assert_string_equal(c.dns_service_ttl[1].ttl, "1m");
    assert_true(c.dns_only_passing && c.dns_enable_truncate && c.dns_order_by_weight);
    assert_int_equal(c.dns_udp_answer_limit, 3);
    assert_int_equal(c.dns_soa_refresh, 1);
    assert_int_equal(c.dns_soa_min_ttl, 4);
    agent_config_free(&c);
}

static void test_bad_values(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    const char *bad[][2] = {
        {"{\"dns_config\": {\"service_ttl\": {\"web\": \"soon\"}}}", "dns_config.service_ttl"},
        {"{\"dns_config\": {\"service_ttl\": \"5s\"}}", "expected an object"},
        {"{\"dns_config\": {\"node_ttl\": \"x\"}}", "dns_config.node_ttl"},
        {"{\"dns_config\": {\"udp_answer_limit\": -1}}", "out of range"},
        {"{\"dns_config\": {\"soa\": {\"retry\": \"1\"}}}", "expected an integer"},
        {"{\"dns_config\": {\"nope\": 1}}", "unknown configuration key"},
        {"{\"recursors\": [1]}", "expected an array of addresses"},
        {"{\"recursors\": {}}", "expected an array"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *path = write_tmp(bad[i][0]);
        char arg[128];
        snprintf(arg, sizeof(arg), "-config-file=%s", path);
        char *argv[] = {arg};
        err[0] = '\0';
        assert_int_equal(load(&c, err, sizeof(err), 1, argv), CN_EINVAL);
        unlink(path);
        if (!strstr(err, bad[i][1]))
            fail_msg("case %zu: \"%s\" does not name \"%s\"", i, err, bad[i][1]);
        agent_config_free(&c);
    }
    char *argv[] = {"-recursor=1", "-recursor=2", "-recursor=3", "-recursor=4", "-recursor=5",
                    "-recursor=6", "-recursor=7", "-recursor=8", "-recursor=9"};
    assert_int_equal(load(&c, err, sizeof(err), 9, argv), CN_EINVAL);
    assert_non_null(strstr(err, "too many recursors"));
    agent_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags_and_file),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
