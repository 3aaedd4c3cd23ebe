/* Unit tests for the agent address (cli/http.c): the forms -http-addr and
 * CONSUL_HTTP_ADDR accept, the precedence of flag and environment, and URL
 * escaping. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "cli/cli_int.h"

static char err[256];

static const char *base(const char *in, int ssl)
{
    static struct cli_addr a;
    int rc = cli__addr_parse(in, ssl, &a, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_string_equal(a.unix_path, "");
    return a.base;
}

static void test_good(void **state)
{
    (void)state;
    assert_string_equal(base("127.0.0.1:8500", 0), "http://127.0.0.1:8500");
    assert_string_equal(base("127.0.0.1:8500", 1), "https://127.0.0.1:8500");
    assert_string_equal(base("http://localhost:18500", 1), "http://localhost:18500");
    assert_string_equal(base("https://consul.example.com:443/", 0),
                        "https://consul.example.com:443");
    assert_string_equal(base("[::1]:8500", 0), "http://[::1]:8500");
    assert_string_equal(base("http://[fe80::1]:1", 0), "http://[fe80::1]:1");
    /* As Consul: no port means the scheme's default. */
    assert_string_equal(base("my-host", 0), "http://my-host");
    assert_string_equal(base("http://[::1]", 0), "http://[::1]");
}

static void test_unix(void **state)
{
    (void)state;
    struct cli_addr a;
    assert_int_equal(cli__addr_parse("unix:///tmp/agent.sock", 0, &a, err, sizeof(err)), 0);
    assert_string_equal(a.unix_path, "/tmp/agent.sock");
    assert_string_equal(a.base, "http://localhost");
    assert_int_equal(cli__addr_parse("unix://", 0, &a, err, sizeof(err)), CN_EINVAL);
}

static void test_bad(void **state)
{
    (void)state;
    const char *bad[] = {
        "",         "ftp://host:21", "http://",    "127.0.0.1:",    "127.0.0.1:0",   "host:65536",
        "host:80x", "host:123456",   ":8500",      "http://h:1/v1", "[::1",          "[]:80",
        "[zz]:80",  "ho st:80",      "host:80:90", "[::1]x",        "http:/host:80", "h\n:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cli_addr a;
        int rc = cli__addr_parse(bad[i], 0, &a, err, sizeof(err));
        if (rc != CN_EINVAL)
            fail_msg("accepted bad address \"%s\" as %s", bad[i], a.base);
        assert_true(strlen(err) > 0);
    }
    struct cli_addr a;
    assert_int_equal(cli__addr_parse(NULL, 0, &a, err, sizeof(err)), CN_EINVAL);
}

static void test_pick(void **state)
{
    (void)state;
    unsetenv("CAIRN_HTTP_ADDR");
    unsetenv("CONSUL_HTTP_ADDR");
    assert_string_equal(cli__addr_pick(NULL), "127.0.0.1:8500");
    setenv("CONSUL_HTTP_ADDR", "consul:1", 1);
    assert_string_equal(cli__addr_pick(NULL), "consul:1");
    setenv("CAIRN_HTTP_ADDR", "cairn:2", 1);
    assert_string_equal(cli__addr_pick(NULL), "cairn:2");
    assert_string_equal(cli__addr_pick("flag:3"), "flag:3");
    /* An empty variable counts as unset. */
    setenv("CAIRN_HTTP_ADDR", "", 1);
    assert_string_equal(cli__addr_pick(NULL), "consul:1");
    unsetenv("CAIRN_HTTP_ADDR");
    unsetenv("CONSUL_HTTP_ADDR");
}

static void test_escape(void **state)
{
    (void)state;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cli__url_escape(&b, "a/b c?d&e=%~_.-", 1), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "a/b%20c%3Fd%26e%3D%25~_.-");
    cn_buf_reset(&b);
    assert_int_equal(cli__url_escape(&b, "a/b", 0), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "a%2Fb");
    cn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good), cmocka_unit_test(test_unix),   cmocka_unit_test(test_bad),
        cmocka_unit_test(test_pick), cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
