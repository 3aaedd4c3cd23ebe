/* Agent configuration: defaults, flags in Consul's forms, config files,
 * precedence (flags over files), and clear errors for bad input. */
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
    strcpy(path, "/tmp/cairn-cfg-XXXXXX.json");
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void test_defaults_match_consul(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    assert_int_equal(load(&c, err, sizeof(err), 0, NULL), 0);
    assert_int_equal(c.http_port, 8500);
    assert_int_equal(c.dns_port, 8600);
    assert_int_equal(c.server_port, 8300);
    assert_string_equal(c.datacenter, "dc1");
    assert_string_equal(c.domain, "consul.");
    assert_string_equal(c.client_addr, "127.0.0.1");
    assert_false(c.dev);
    agent_config_free(&c);
}

static void test_flag_forms(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    char *argv[] = {"-server", "-bootstrap",       "--data-dir=/tmp/x", "-node",
                    "n1",      "-http-port=18500", "-datacenter=east"};
    assert_int_equal(load(&c, err, sizeof(err), 7, argv), 0);
    assert_true(c.server && c.bootstrap);
    assert_string_equal(c.data_dir, "/tmp/x");
    assert_string_equal(c.node_name, "n1");
    assert_int_equal(c.http_port, 18500);
    assert_string_equal(c.datacenter, "east");
    agent_config_free(&c);
}

static void test_bad_flags_are_clear_errors(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    char *a1[] = {"-no-such-flag"};
    assert_int_equal(load(&c, err, sizeof(err), 1, a1), CN_EINVAL);
    assert_non_null(strstr(err, "-no-such-flag"));
    agent_config_free(&c);
    char *a2[] = {"-http-port=eighty"};
    assert_int_equal(load(&c, err, sizeof(err), 1, a2), CN_EINVAL);
    assert_non_null(strstr(err, "http-port"));
    agent_config_free(&c);
    char *a3[] = {"-http-port=70000"};
    assert_int_equal(load(&c, err, sizeof(err), 1, a3), CN_EINVAL);
    assert_non_null(strstr(err, "out of range"));
    agent_config_free(&c);
    char *a4[] = {"-node"};
    assert_int_equal(load(&c, err, sizeof(err), 1, a4), CN_EINVAL);
    assert_non_null(strstr(err, "needs an argument"));
    agent_config_free(&c);
    char *a5[] = {"-log-level=loud"};
    assert_int_equal(load(&c, err, sizeof(err), 1, a5), CN_EINVAL);
    agent_config_free(&c);
}

static void test_config_file_and_precedence(void **state)
{
    (void)state;
    char *path = write_tmp("{\"datacenter\":\"west\",\"node_name\":\"file-node\","
                           "\"ports\":{\"http\":9500},\"server\":true,"
                           "\"limits\":{\"kv_max_value_size\":1024}}");
    char flag[128];
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    struct agent_config c;
    char err[256];
    char *argv[] = {flag, "-node=flag-node"};
    assert_int_equal(load(&c, err, sizeof(err), 2, argv), 0);
    assert_string_equal(c.datacenter, "west");
    assert_string_equal(c.node_name, "flag-node"); /* flags win */
    assert_int_equal(c.http_port, 9500);
    assert_int_equal(c.kv_max_value_size, 1024);
    assert_true(c.server);
    agent_config_free(&c);
    unlink(path);
}

/* telemetry { }: Consul's keys and defaults; a prefix_filter rule must say
 * + or -; the sinks cairn lacks are refused. */
static void test_telemetry_keys(void **state)
{
    (void)state;
    struct agent_config c;
    char err[512];
    char *none[] = {NULL};
    assert_int_equal(load(&c, err, sizeof(err), 0, none), 0);
    assert_string_equal(c.telemetry_prometheus_retention, "0s");
    assert_string_equal(c.telemetry_metrics_prefix, "consul");
    assert_true(c.telemetry_filter_default);
    assert_false(c.telemetry_disable_hostname);
    agent_config_free(&c);
    char *path =
        write_tmp("{\"telemetry\":{\"prometheus_retention_time\":\"60s\","
                  "\"disable_hostname\":true,\"metrics_prefix\":\"svc\","
                  "\"filter_default\":false,\"prefix_filter\":[\"+svc.raft\",\"-svc.api\"]}}");
    char flag[128];
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    char *argv[] = {flag};
    assert_int_equal(load(&c, err, sizeof(err), 1, argv), 0);
    assert_string_equal(c.telemetry_prometheus_retention, "60s");
    assert_string_equal(c.telemetry_metrics_prefix, "svc");
    assert_true(c.telemetry_disable_hostname);
    assert_false(c.telemetry_filter_default);
    assert_int_equal(c.ntelemetry_prefix_filter, 2);
    assert_string_equal(c.telemetry_prefix_filter[1], "-svc.api");
    agent_config_free(&c);
    unlink(path);
    path = write_tmp("{\"telemetry\":{\"prefix_filter\":[\"svc.raft\"],"
                     "\"statsd_address\":\"127.0.0.1:8125\"}}");
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    assert_int_equal(load(&c, err, sizeof(err), 1, argv), CN_EINVAL);
    assert_non_null(strstr(err, "must start with + (allow) or - (block)"));
    assert_non_null(strstr(err, "telemetry.statsd_address"));
    agent_config_free(&c);
    unlink(path);
}

static void test_config_file_errors_name_file_and_key(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"datacenter\":",              /* malformed */
        "{\"no_such_key\":1}",           /* unknown key */
        "{\"ports\":{\"http\":\"80\"}}", /* wrong type */
        "[1,2]",                         /* not an object */
        "{\"max_query_time\":\"soon\"}", /* bad duration */
    };
    const char *expect[] = {"1:15: expected a value", "no_such_key", "ports.http", "object",
                            "max_query_time"};
    for (size_t i = 0; i < 5; i++) {
        char *path = write_tmp(bad[i]);
        char flag[128];
        snprintf(flag, sizeof(flag), "-config-file=%s", path);
        struct agent_config c;
        char err[256] = "";
        char *argv[] = {flag};
        assert_int_equal(load(&c, err, sizeof(err), 1, argv), CN_EINVAL);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, expect[i]));
        agent_config_free(&c);
        unlink(path);
    }
    struct agent_config c;
    char err[256];
    char *argv[] = {"-config-file=/nonexistent/cairn.json"};
    assert_int_equal(load(&c, err, sizeof(err), 1, argv), CN_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/cairn.json"));
    agent_config_free(&c);
}

static void test_help_and_usage(void **state)
{
    (void)state;
    struct agent_config c;
    char err[64];
    bool help = false;
    char *argv[] = {"-h"};
    assert_int_equal(agent_config_load(&c, 1, argv, &help, err, sizeof(err)), 0);
    assert_true(help);
    agent_config_free(&c);
    struct cn_buf u = CN_BUF_INIT;
    agent_config_usage(&u);
    cn_buf_cstr(&u);
    assert_non_null(strstr(u.p, "-data-dir"));
    assert_non_null(strstr(u.p, "-bootstrap"));
    cn_buf_free(&u);
}

static void test_cluster_flags_and_config(void **state)
{
    (void)state;
    struct agent_config c;
    char err[256];
    char *argv[] = {"-server",     "-bootstrap-expect=3", "-retry-join=127.0.0.1:8301",
                    "-retry-join", "127.0.0.1:8302",      "-raft-election-timeout=500ms"};
    assert_int_equal(load(&c, err, sizeof(err), 6, argv), 0);
    assert_int_equal(c.bootstrap_expect, 3);
    assert_int_equal(c.nretry_join, 2);
    assert_string_equal(c.retry_join[0], "127.0.0.1:8301");
    assert_string_equal(c.retry_join[1], "127.0.0.1:8302");
    assert_string_equal(c.raft_election_timeout, "500ms");
    agent_config_free(&c);

    char *path = write_tmp("{\"retry_join\":[\"10.0.0.1:8300\",\"10.0.0.2:8300\"],"
                           "\"raft_election_timeout\":\"2s\"}");
    char flag[128];
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    char *a2[] = {flag};
    assert_int_equal(load(&c, err, sizeof(err), 1, a2), 0);
    assert_int_equal(c.nretry_join, 2);
    assert_string_equal(c.retry_join[1], "10.0.0.2:8300");
    assert_string_equal(c.raft_election_timeout, "2s");
    agent_config_free(&c);
    unlink(path);

    char *a3[] = {"-raft-election-timeout=soon"};
    assert_int_equal(load(&c, err, sizeof(err), 1, a3), CN_EINVAL);
    assert_non_null(strstr(err, "raft-election-timeout"));
    agent_config_free(&c);
    /* A single string is taken as a one-element list; anything else is refused. */
    char *one = write_tmp("{\"retry_join\":\"10.0.0.1:8300\"}");
    snprintf(flag, sizeof(flag), "-config-file=%s", one);
    char *a4[] = {flag};
    assert_int_equal(load(&c, err, sizeof(err), 1, a4), 0);
    assert_int_equal(c.nretry_join, 1);
    agent_config_free(&c);
    unlink(one);
    char *bad = write_tmp("{\"retry_join\":[8300]}");
    snprintf(flag, sizeof(flag), "-config-file=%s", bad);
    char *a5[] = {flag};
    assert_int_equal(load(&c, err, sizeof(err), 1, a5), CN_EINVAL);
    assert_non_null(strstr(err, "retry_join"));
    agent_config_free(&c);
    unlink(bad);
}

static char *write_named(const char *dir, const char *name, const char *content)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* -config-dir: *.hcl and *.json in lexical order, others ignored; scalars
 * overridden by later files, lists appended; definitions collected. */
static void test_config_dir_hcl_and_merge(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-cfgdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_named(dir, "a.hcl",
                "datacenter = \"dc-a\"\nretry_join = [\"10.0.0.1:8300\"]\n"
                "ports { http = 9000 }\nservice { name = \"web\" }\nservice { name = \"db\" }\n");
    write_named(dir, "b.json",
                "{\"datacenter\": \"dc-b\", \"retry_join\": [\"10.0.0.2:8300\"],"
                " \"services\": [{\"name\": \"cache\"}], \"checks\": [{\"name\": \"c\", "
                "\"ttl\": \"1s\"}], \"watches\": [{\"type\": \"nodes\", \"handler\": \"x\"}]}");
    write_named(dir, "c.txt", "this is not read");
    char flag[128];
    snprintf(flag, sizeof(flag), "-config-dir=%s", dir);
    struct agent_config c;
    char err[512];
    char *argv[] = {flag};
    assert_int_equal(load(&c, err, sizeof(err), 1, argv), 0);
    assert_string_equal(c.datacenter, "dc-b");
    assert_int_equal(c.http_port, 9000);
    assert_int_equal(c.nretry_join, 2);
    assert_string_equal(c.retry_join[1], "10.0.0.2:8300");
    assert_int_equal(c.services.n, 3);
    assert_non_null(strstr(c.services.v[0].file, "/a.hcl"));
    assert_non_null(strstr(c.services.v[2].file, "/b.json"));
    assert_int_equal(c.checks.n, 1);
    assert_int_equal(c.watches.n, 1);
    /* a reload that changes a fixed key is reported */
    struct agent_config d;
    write_named(dir, "d.hcl", "ports { http = 9001 }\nlog_level = \"debug\"\n");
    assert_int_equal(load(&d, err, sizeof(err), 1, argv), 0);
    struct cn_buf diff = CN_BUF_INIT;
    assert_int_equal(agent_config_diff_fixed(&c, &d, &diff), 1);
    cn_buf_cstr(&diff);
    assert_string_equal(diff.p, "ports.http (9000 -> 9001)");
    cn_buf_free(&diff);
    agent_config_free(&c);
    agent_config_free(&d);
    /* -config-format forces a format: the .txt file is read too (and is bad) */
    char *a2[] = {flag, "-config-format=hcl"};
    assert_int_equal(load(&c, err, sizeof(err), 2, a2), CN_EINVAL);
    assert_non_null(strstr(err, "/c.txt:1:17: expected '{' after block labels"));
    agent_config_free(&c);
    char *a3[] = {flag, "-config-format=yaml"};
    assert_int_equal(load(&c, err, sizeof(err), 2, a3), CN_EINVAL);
    assert_non_null(strstr(err, "-config-format"));
    agent_config_free(&c);
    unlink(write_named(dir, "a.hcl", ""));
    unlink(write_named(dir, "b.json", ""));
    unlink(write_named(dir, "c.txt", ""));
    unlink(write_named(dir, "d.hcl", ""));
    rmdir(dir);
}

/* performance.raft_multiplier: Consul's scale, 1 s of election timeout per
 * step; a -raft-election-timeout flag still wins. addresses.http is kept. */
static void test_raft_multiplier_and_addresses(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-cfgdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(
        path, sizeof(path), "%s",
        write_named(dir, "p.hcl",
                    "performance { raft_multiplier = 2 }\naddresses { http = \"0.0.0.0\" }\n"));
    char flag[300];
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    struct agent_config c;
    char err[512];
    char *argv[] = {flag, "-raft-election-timeout=300ms"};
    assert_int_equal(load(&c, err, sizeof(err), 1, argv), 0);
    assert_string_equal(c.raft_election_timeout, "2s");
    assert_string_equal(c.http_addr, "0.0.0.0");
    agent_config_free(&c);
    assert_int_equal(load(&c, err, sizeof(err), 2, argv), 0);
    assert_string_equal(c.raft_election_timeout, "300ms");
    agent_config_free(&c);
    unlink(path);
    rmdir(dir);
}

/* Every error, each with file:line:column; unsupported features named. */
static void test_every_error_with_position(void **state)
{
    (void)state;
    char dir[] = "/tmp/cairn-cfgdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *p = write_named(
        dir, "x.hcl",
        "bogus = 1\nports {\n  grpc_tls = 8503\n  grpc = -1\n}\n"
        "acl { tokens { master = \"x\" } }\nserver = \"yes\"\nui_config { enabled = false }\n");
    char path[256];
    snprintf(path, sizeof(path), "%s", p);
    char flag[300];
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    struct agent_config c;
    char err[2048];
    char *argv[] = {flag};
    assert_int_equal(load(&c, err, sizeof(err), 1, argv), CN_EINVAL);
    char want[512];
    snprintf(want, sizeof(want), "%s:1:9: key \"bogus\": unknown configuration key", path);
    assert_non_null(strstr(err, want));
    snprintf(want, sizeof(want),
             "%s:3:14: key \"ports.grpc_tls\": not supported by cairn (gRPC over TLS); only this "
             "value is accepted: -1",
             path);
    assert_non_null(strstr(err, want));
    snprintf(want, sizeof(want),
             "%s:6:25: key \"acl.tokens.master\": not supported by cairn (the legacy name: use "
             "acl.tokens.initial_management)",
             path);
    assert_non_null(strstr(err, want));
    snprintf(want, sizeof(want), "%s:7:10: key \"server\": expected a boolean, got string \"yes\"",
             path);
    assert_non_null(strstr(err, want));
    assert_null(strstr(err, "ports.grpc\"")); /* -1: Consul's "off", accepted */
    assert_null(strstr(err, "ui_config"));    /* enabled = false: accepted */
    agent_config_free(&c);
    unlink(path);
    rmdir(dir);
}

/* docs/config.md is generated from the options table; this test keeps them
 * in step. Regenerate with: CAIRN_REGEN_DOCS=1 ctest -R test_config */
static void test_docs_config_md_matches_table(void **state)
{
    (void)state;
    /* The part between the markers is generated; the rest is prose. */
    static const char begin[] = "<!-- generated from src/agent/config.c: begin -->\n";
    static const char end[] = "<!-- generated: end -->\n";
    struct cn_buf md = CN_BUF_INIT;
    agent_config_markdown(&md);
    const char *path = CAIRN_SOURCE_DIR "/docs/config.md";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char disk[1 << 18];
    size_t n = fread(disk, 1, sizeof(disk) - 1, f);
    fclose(f);
    disk[n] = '\0';
    char *b = strstr(disk, begin);
    char *e = b ? strstr(b, end) : NULL;
    assert_non_null(b);
    assert_non_null(e);
    b += strlen(begin);
    if (getenv("CAIRN_REGEN_DOCS")) {
        FILE *w = fopen(path, "w");
        assert_non_null(w);
        fwrite(disk, 1, (size_t)(b - disk), w);
        fwrite(md.p, 1, md.len, w);
        fputs(e, w);
        fclose(w);
    } else {
        assert_int_equal((size_t)(e - b), md.len);
        assert_memory_equal(b, md.p, md.len);
    }
    cn_buf_free(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_consul),
        cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_bad_flags_are_clear_errors),
        cmocka_unit_test(test_config_file_and_precedence),
        cmocka_unit_test(test_config_file_errors_name_file_and_key),
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_cluster_flags_and_config),
        cmocka_unit_test(test_config_dir_hcl_and_merge),
        cmocka_unit_test(test_every_error_with_position),
        cmocka_unit_test(test_raft_multiplier_and_addresses),
        cmocka_unit_test(test_docs_config_md_matches_table),
        cmocka_unit_test(test_telemetry_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
