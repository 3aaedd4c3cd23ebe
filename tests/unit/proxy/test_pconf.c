/* proxy/pconf.c: the public listener's and the upstreams' settings from a
 * sidecar registration, as Consul's built-in proxy reads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/err.h"
#include "proxy/pconf.h"

static char err[300];

static int pub(const char *json, struct px_public_cfg *out)
{
    struct json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    err[0] = '\0';
    int rc = px_public_config(o, out, err, sizeof(err));
    json_object_put(o);
    return rc;
}

static int up(const char *json, uint32_t *ms)
{
    struct json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    err[0] = '\0';
    int rc = px_upstream_config(o, ms, err, sizeof(err));
    json_object_put(o);
    return rc;
}

static void test_timeouts_default_and_set(void **st)
{
    (void)st;
    struct px_public_cfg c;
    assert_int_equal(pub("{\"Port\":21000,\"Proxy\":{\"LocalServicePort\":80}}", &c), 0);
    assert_int_equal(c.local_connect_ms, 1000);
    assert_int_equal(c.handshake_ms, 10000);
    assert_string_equal(c.app, "127.0.0.1:80");
    assert_int_equal(pub("{\"Port\":21000,\"Proxy\":{\"LocalServicePort\":80,\"Config\":"
                         "{\"local_connect_timeout_ms\":250,\"handshake_timeout_ms\":\"1500\"}}}",
                         &c),
                     0);
    assert_int_equal(c.local_connect_ms, 250);
    assert_int_equal(c.handshake_ms, 1500);
    /* 0 is Go's zero value: the default, as Consul's applyDefaults */
    assert_int_equal(pub("{\"Port\":1,\"Proxy\":{\"Config\":{\"handshake_timeout_ms\":0}}}", &c),
                     0);
    assert_int_equal(c.handshake_ms, 10000);
    /* not milliseconds: refused, naming the key */
    static const char *const bad[] = {"\"soon\"", "-1", "1.5", "true", "{}", "86400001", "\"\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char j[200];
        snprintf(j, sizeof(j),
                 "{\"Port\":1,\"Proxy\":{\"Config\":{\"local_connect_timeout_ms\":%s}}}", bad[i]);
        assert_int_equal(pub(j, &c), CN_EINVAL);
        assert_non_null(strstr(err, "local_connect_timeout_ms"));
    }
}

static void test_upstream_connect_timeout(void **st)
{
    (void)st;
    uint32_t ms = 0;
    assert_int_equal(up("{\"DestinationName\":\"db\"}", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(
        up("{\"DestinationName\":\"db\",\"Config\":{\"connect_timeout_ms\":300}}", &ms), 0);
    assert_int_equal(ms, 300);
    assert_int_equal(up("{\"Config\":{\"connect_timeout_ms\":\"x\"}}", &ms), CN_EINVAL);
    assert_non_null(strstr(err, "connect_timeout_ms"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeouts_default_and_set),
        cmocka_unit_test(test_upstream_connect_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
