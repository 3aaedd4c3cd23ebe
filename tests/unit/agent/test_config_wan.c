/* WAN federation's options (issue 14): ports.serf_wan / -serf-wan-port
 * (8302, -1 off), serf_wan / -serf-wan-bind, -join-wan / start_join_wan,
 * -retry-join-wan / retry_join_wan, gossip_wan.* with memberlist's WAN
 * profile as defaults; bad values are clear errors. */
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

static int load_hcl(struct agent_config *c, char *err, size_t cap, const char *hcl)
{
    char path[] = "/tmp/cairn-cfg-wan-XXXXXX.hcl";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, hcl, strlen(hcl)), (ssize_t)strlen(hcl));
    close(fd);
    char arg[128];
    snprintf(arg, sizeof(arg), "-config-file=%s", path);
    char *argv[] = {arg};
    int rc = load(c, err, cap, 1, argv);
    unlink(path);
    return rc;
}

static void test_defaults_wan_profile(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    assert_int_equal(load(&c, err, sizeof(err), 0, NULL), 0);
    assert_int_equal(c.serf_wan_port, 8302);
    assert_string_equal(c.serf_wan_bind, "");
    assert_int_equal(c.nretry_join_wan, 0);
    assert_int_equal(c.nstart_join_wan, 0);
    /* memberlist DefaultWANConfig */
    assert_int_equal(c.wan_gossip_nodes, 4);
    assert_string_equal(c.wan_gossip_interval, "500ms");
    assert_string_equal(c.wan_probe_interval, "5s");
    assert_string_equal(c.wan_probe_timeout, "3s");
    assert_int_equal(c.wan_suspicion_mult, 6);
    assert_int_equal(c.wan_retransmit_mult, 4);
    agent_config_free(&c);
}

static void test_flags(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    char *argv[] = {"-serf-wan-port=-1", "-serf-wan-bind=10.0.0.1", "-join-wan=10.0.0.2",
                    "-join-wan=10.0.0.3:9302", "-retry-join-wan=10.1.0.1"};
    assert_int_equal(load(&c, err, sizeof(err), 5, argv), 0);
    assert_int_equal(c.serf_wan_port, -1);
    assert_string_equal(c.serf_wan_bind, "10.0.0.1");
    assert_int_equal(c.nstart_join_wan, 2);
    assert_string_equal(c.start_join_wan[1], "10.0.0.3:9302");
    assert_int_equal(c.nretry_join_wan, 1);
    assert_string_equal(c.retry_join_wan[0], "10.1.0.1");
    agent_config_free(&c);
    char *bad[] = {"-serf-wan-port=70000"};
    assert_int_not_equal(load(&c, err, sizeof(err), 1, bad), 0);
    assert_non_null(strstr(err, "serf-wan-port"));
    agent_config_free(&c);
}

static void test_file_keys(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    assert_int_equal(load_hcl(&c, err, sizeof(err),
                              "ports { serf_wan = 9402 }\n"
                              "serf_wan = \"10.0.0.9\"\n"
                              "retry_join_wan = [\"a:1\", \"b\"]\n"
                              "start_join_wan = [\"c\"]\n"
                              "gossip_wan {\n  probe_interval = \"200ms\"\n"
                              "  probe_timeout = \"100ms\"\n  suspicion_mult = 2\n}\n"),
                     0);
    assert_int_equal(c.serf_wan_port, 9402);
    assert_string_equal(c.serf_wan_bind, "10.0.0.9");
    assert_int_equal(c.nretry_join_wan, 2);
    assert_string_equal(c.retry_join_wan[1], "b");
    assert_int_equal(c.nstart_join_wan, 1);
    assert_string_equal(c.wan_probe_interval, "200ms");
    assert_string_equal(c.wan_probe_timeout, "100ms");
    assert_int_equal(c.wan_suspicion_mult, 2);
    agent_config_free(&c);
    assert_int_not_equal(load_hcl(&c, err, sizeof(err), "gossip_wan { probe_interval = \"x\" }\n"),
                         0);
    assert_non_null(strstr(err, "gossip_wan.probe_interval"));
    agent_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_wan_profile),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_file_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
