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

static int side(const char *json, struct px_cfg *out)
{
    struct json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    err[0] = '\0';
    int rc = px_sidecar_config(o, out, err, sizeof(err));
    json_object_put(o);
    return rc;
}

/* The whole configuration of a sidecar registration, as /v1/agent/service/:id
 * answers it. */
static void test_sidecar_config(void **st)
{
    (void)st;
    struct px_cfg c;
    assert_int_equal(
        side("{\"Kind\":\"connect-proxy\",\"Port\":21000,\"Proxy\":{\"DestinationServiceName\":"
             "\"web\",\"LocalServicePort\":8080,\"Upstreams\":[{\"DestinationName\":\"db\","
             "\"LocalBindPort\":9191},{\"DestinationName\":\"cache\",\"LocalBindAddress\":"
             "\"::1\",\"LocalBindPort\":9192,\"Config\":{\"connect_timeout_ms\":250}}]}}",
             &c),
        0);
    assert_string_equal(c.service, "web");
    assert_string_equal(c.listen, "0.0.0.0:21000");
    assert_string_equal(c.app, "127.0.0.1:8080");
    assert_int_equal(c.local_connect_ms, 1000);
    assert_int_equal(c.handshake_ms, 10000);
    assert_int_equal(c.nups, 2);
    assert_string_equal(c.ups[0].name, "db");
    assert_string_equal(c.ups[0].bind_addr, "127.0.0.1");
    assert_int_equal(c.ups[0].bind_port, 9191);
    assert_int_equal(c.ups[0].connect_ms, 10000);
    assert_int_equal(c.ups[1].connect_ms, 250);
    char a[300];
    px_upstream_addr(&c.ups[1], a, sizeof(a));
    assert_string_equal(a, "[::1]:9192");
    /* no application: no public listener, upstreams only */
    assert_int_equal(side("{\"Kind\":\"connect-proxy\",\"Port\":21000,\"Proxy\":"
                          "{\"DestinationServiceName\":\"web\"}}",
                          &c),
                     0);
    assert_string_equal(c.listen, "");
    assert_int_equal(c.nups, 0);
    /* refused, with the reason */
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"Kind\":\"\",\"Proxy\":{\"DestinationServiceName\":\"web\"}}", "not a connect-proxy"},
        {"{\"Kind\":\"connect-proxy\",\"Proxy\":{}}", "DestinationServiceName"},
        {"{\"Kind\":\"connect-proxy\",\"Proxy\":{\"DestinationServiceName\":\"w\",\"Upstreams\":"
         "[{\"LocalBindPort\":1}]}}",
         "no DestinationName"},
        {"{\"Kind\":\"connect-proxy\",\"Proxy\":{\"DestinationServiceName\":\"w\",\"Upstreams\":"
         "[{\"DestinationName\":\"db\"}]}}",
         "LocalBindPort"},
        {"{\"Kind\":\"connect-proxy\",\"Proxy\":{\"DestinationServiceName\":\"w\",\"Upstreams\":"
         "{\"DestinationName\":\"db\"}}}",
         "want an array"},
        {"{\"Kind\":\"connect-proxy\",\"Proxy\":{\"DestinationServiceName\":\"w\",\"Upstreams\":"
         "[{\"DestinationName\":\"a\",\"LocalBindPort\":5},{\"DestinationName\":\"b\","
         "\"LocalBindPort\":5}]}}",
         "both on 127.0.0.1:5"},
        {"{\"Kind\":\"connect-proxy\",\"Port\":5,\"Proxy\":{\"DestinationServiceName\":\"w\","
         "\"LocalServicePort\":1,\"Config\":{\"bind_address\":\"127.0.0.1\"},\"Upstreams\":"
         "[{\"DestinationName\":\"a\",\"LocalBindPort\":5}]}}",
         "the public listener both on"},
        {"{\"Kind\":\"connect-proxy\",\"Port\":5,\"Proxy\":{\"DestinationServiceName\":\"w\","
         "\"Config\":{\"handshake_timeout_ms\":\"soon\"}}}",
         "handshake_timeout_ms"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(side(bad[i].json, &c), CN_EINVAL);
        assert_non_null(strstr(err, bad[i].why));
    }
    /* more upstreams than the proxy runs: refused, not cut */
    char big[8192];
    size_t k = (size_t)snprintf(big, sizeof(big),
                                "{\"Kind\":\"connect-proxy\",\"Proxy\":{"
                                "\"DestinationServiceName\":\"w\",\"Upstreams\":[");
    for (int i = 0; i <= PX_MAX_UPSTREAMS; i++)
        k += (size_t)snprintf(big + k, sizeof(big) - k,
                              "%s{\"DestinationName\":\"u%d\",\"LocalBindPort\":%d}", i ? "," : "",
                              i, 1000 + i);
    snprintf(big + k, sizeof(big) - k, "]}}");
    assert_int_equal(side(big, &c), CN_EINVAL);
    assert_non_null(strstr(err, "at most 32"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeouts_default_and_set),
        cmocka_unit_test(test_upstream_connect_timeout),
        cmocka_unit_test(test_sidecar_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
