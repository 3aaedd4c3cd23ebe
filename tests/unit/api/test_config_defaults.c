/* tests/unit/api/test_config_defaults.c: proxy-defaults and service-defaults
 * bodies (api/config_defaults.c): CamelCase and snake_case, Consul's
 * normalisation (the empty proxy-defaults name is "global", Protocol lower-
 * cased) and its texts for invalid entries, one refusal per field class
 * cairn cannot honour, the canonical JSON stored; and the resolution of a
 * proxy's Config (api/config_resolve.c): proxy-defaults, then
 * service-defaults, then the registration's own keys; an upstream's
 * protocol (its service-defaults, else proxy-defaults'); the merge of
 * resolved defaults into a registration's Config (its keys win) and the
 * internal endpoint's answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/mem.h"
#include "local/local.h"

static int dec(const char *body, struct api_config_entry *e, char *err, size_t cap)
{
    err[0] = 0;
    return api__config_entry_decode(body, strlen(body), e, err, cap);
}

static void test_decode_ok(void **st)
{
    (void)st;
    char err[600];
    struct api_config_entry e;
    assert_int_equal(dec("{\"Kind\":\"proxy-defaults\",\"Name\":\"global\",\"Config\":{"
                         "\"bind_port\":21000,\"Protocol\":\"x\"},\"Mode\":\"direct\","
                         "\"MeshGateway\":{\"Mode\":\"\"},\"TransparentProxy\":{},"
                         "\"Expose\":{\"Checks\":false},\"Meta\":{\"team\":\"a\"},"
                         "\"CreateIndex\":4,\"Namespace\":\"default\"}",
                         &e, err, sizeof(err)),
                     0);
    assert_string_equal(e.kind, "proxy-defaults");
    assert_string_equal(e.name, "global");
    assert_int_equal(cn_buf_cstr(&e.data), 0);
    /* Config's keys as written; the defaults' objects always present */
    assert_string_equal(e.data.p, "{\"Kind\":\"proxy-defaults\",\"Name\":\"global\",\"Config\":{"
                                  "\"bind_port\":21000,\"Protocol\":\"x\"},\"Mode\":\"direct\","
                                  "\"TransparentProxy\":{},\"MeshGateway\":{},"
                                  "\"Expose\":{},\"Meta\":{\"team\":\"a\"}}");
    api__config_entry_clear(&e);
    /* snake_case and lower case, as HCL gives it; an empty name is global */
    assert_int_equal(dec("{\"kind\":\"proxy-defaults\",\"config\":{\"local_thing\":1},"
                         "\"mesh_gateway\":{\"mode\":\"\"},\"transparent_proxy\":{"
                         "\"dialed_directly\":false}}",
                         &e, err, sizeof(err)),
                     0);
    assert_string_equal(e.name, "global");
    assert_non_null(strstr(e.data.p, "\"Config\":{\"local_thing\":1}"));
    api__config_entry_clear(&e);
    /* no Config: null, as Consul's nil map */
    assert_int_equal(dec("{\"Kind\":\"proxy-defaults\",\"Name\":\"global\"}", &e, err, sizeof(err)),
                     0);
    assert_non_null(strstr(e.data.p, "\"Config\":null"));
    api__config_entry_clear(&e);

    assert_int_equal(dec("{\"Kind\":\"service-defaults\",\"Name\":\"web\",\"Protocol\":\"HTTP\","
                         "\"balance_inbound_connections\":\"exact_balance\","
                         "\"LocalConnectTimeoutMs\":0,\"meta\":{\"k\":\"v\"}}",
                         &e, err, sizeof(err)),
                     0);
    assert_string_equal(e.kind, "service-defaults");
    assert_string_equal(e.name, "web");
    assert_int_equal(cn_buf_cstr(&e.data), 0);
    assert_string_equal(e.data.p, "{\"Kind\":\"service-defaults\",\"Name\":\"web\",\"Protocol\":"
                                  "\"http\",\"TransparentProxy\":{},\"MeshGateway\":{},"
                                  "\"Expose\":{},\"BalanceInboundConnections\":\"exact_balance\","
                                  "\"Meta\":{\"k\":\"v\"}}");
    api__config_entry_clear(&e);
}

static void test_decode_refusals(void **st)
{
    (void)st;
    static const char *const cases[][2] = {
        /* Consul's own validation */
        {"{\"Kind\":\"proxy-defaults\",\"Name\":\"web\"}",
         "invalid name (\"web\"), only \"global\" is supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"\"}", "Name is required"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"*\"}",
         "service-defaults name must be the name of a service, and not a wildcard"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"BalanceInboundConnections\":\"x\"}",
         "invalid value for balance_inbound_connections: x"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Bogus\":1}",
         "invalid config key \"Bogus\""},
        {"{\"Kind\":\"proxy-defaults\",\"Protocol\":\"http\"}", "invalid config key \"Protocol\""},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Protocol\":5}",
         "Protocol: cannot use number as string"},
        {"{\"Kind\":\"proxy-defaults\",\"Config\":[]}", "Config: cannot use array as map"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Mode\":\"bogus\"}",
         "invalid proxy mode \"bogus\""},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Meta\":{\"k\":1}}",
         "Meta[k]: cannot use number as string"},
        /* what cairn cannot honour */
        {"{\"Kind\":\"proxy-defaults\",\"Mode\":\"transparent\"}",
         "Mode \"transparent\" is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"TransparentProxy\":{"
         "\"OutboundListenerPort\":15001}}",
         "TransparentProxy is not supported"},
        {"{\"Kind\":\"proxy-defaults\",\"MeshGateway\":{\"Mode\":\"local\"}}",
         "MeshGateway.Mode \"local\" is not supported"},
        {"{\"Kind\":\"proxy-defaults\",\"MeshGateway\":{\"Mode\":\"none\"}}",
         "MeshGateway.Mode \"none\" is not supported"},
        {"{\"Kind\":\"proxy-defaults\",\"MeshGateway\":{\"Mode\":\"x\"}}",
         "invalid mesh gateway mode \"x\""},
        {"{\"Kind\":\"proxy-defaults\",\"Expose\":{\"Paths\":[{\"Path\":\"/m\"}]}}",
         "Expose.Paths is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Expose\":{\"checks\":true}}",
         "Expose.Checks is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Destination\":{\"Port\":443}}",
         "Destination is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"UpstreamConfig\":{\"Defaults\":{"
         "\"ConnectTimeoutMs\":5}}}",
         "UpstreamConfig is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"local_request_timeout_ms\":5}",
         "LocalRequestTimeoutMs is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"MaxInboundConnections\":5}",
         "MaxInboundConnections is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"EnvoyExtensions\":[{}]}",
         "EnvoyExtensions is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"RateLimits\":{\"InstanceLevel\":{}}}",
         "RateLimits is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"ExternalSNI\":\"x\"}",
         "ExternalSNI is not supported"},
        {"{\"Kind\":\"proxy-defaults\",\"AccessLogs\":{\"Enabled\":true}}",
         "AccessLogs is not supported"},
        {"{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Namespace\":\"team\"}",
         "Namespace \"team\" is not supported"},
        {"{\"Kind\":\"proxy-defaults\",\"Partition\":\"p\"}", "Partition \"p\" is not supported"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[600];
        struct api_config_entry e;
        assert_int_equal(dec(cases[i][0], &e, err, sizeof(err)), CN_EINVAL);
        if (!strstr(err, cases[i][1]))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i][1]);
        assert_null(e.name);
        assert_int_equal(e.data.len, 0);
    }
    /* Meta's limits */
    char body[8192];
    int n =
        snprintf(body, sizeof(body), "{\"Kind\":\"service-defaults\",\"Name\":\"w\",\"Meta\":{");
    for (int i = 0; i < 65; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(body + n, sizeof(body) - (size_t)n, "}}");
    char err[600];
    struct api_config_entry e;
    assert_int_equal(dec(body, &e, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "Meta exceeds maximum element count 64");
}

/* ---- resolution ------------------------------------------------------------------------- */

static void put_entry(struct state *s, uint64_t idx, const char *body)
{
    char err[600];
    struct api_config_entry e;
    assert_int_equal(dec(body, &e, err, sizeof(err)), 0);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(
        state_cmd_config_entry(&b, e.kind, e.name, false, false, 0, e.data.p, e.data.len), 0);
    assert_int_equal(state_apply(s, idx, b.p, b.len, NULL), 0);
    cn_buf_free(&b);
    api__config_entry_clear(&e);
}

static char *resolve(struct state *s, const char *kind, const char *dest, const char *own)
{
    struct state_service v = {.kind = (char *)kind,
                              .service = (char *)"web-sidecar-proxy",
                              .proxy = {.dest_name = (char *)dest, .config = (char *)own}};
    struct local_merged out = {0};
    assert_int_equal(api__config_resolve_proxy(s, &v, &out), 0);
    assert_null(out.ups); /* no upstreams */
    char *r = out.config;
    out.config = NULL;
    local_merged_free(&out);
    return r;
}

/* Each upstream's Config: its own keys, then the protocol its resolved
 * upstream config gives (its service-defaults, else proxy-defaults'). */
static void test_resolve_upstreams(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_upstream ups[] = {{.dest_name = (char *)"db", .local_bind_port = 1},
                                   {.dest_name = (char *)"api",
                                    .local_bind_port = 2,
                                    .config = (char *)"{\"connect_timeout_ms\":5}"},
                                   {.dest_name = (char *)"own",
                                    .local_bind_port = 3,
                                    .config = (char *)"{\"protocol\":\"grpc\"}"}};
    struct state_service v = {.kind = (char *)"connect-proxy",
                              .service = (char *)"web-sidecar-proxy",
                              .proxy = {.dest_name = (char *)"web", .ups = ups, .nups = 3}};
    struct local_merged out = {0};
    assert_int_equal(api__config_resolve_proxy(s, &v, &out), 0);
    assert_int_equal(out.nups, 3); /* nothing configured: every one stands */
    for (size_t i = 0; i < 3; i++)
        assert_null(out.ups[i]);
    local_merged_free(&out);
    put_entry(s, 1, "{\"Kind\":\"proxy-defaults\",\"Config\":{\"protocol\":\"tcp\"}}");
    put_entry(s, 2, "{\"Kind\":\"service-defaults\",\"Name\":\"api\",\"Protocol\":\"http\"}");
    assert_int_equal(api__config_resolve_proxy(s, &v, &out), 0);
    assert_string_equal(out.config, "{\"protocol\":\"tcp\"}");
    assert_string_equal(out.ups[0], "{\"protocol\":\"tcp\"}");
    assert_string_equal(out.ups[1], "{\"connect_timeout_ms\":5,\"protocol\":\"http\"}");
    assert_string_equal(out.ups[2], "{\"protocol\":\"grpc\"}"); /* its own protocol wins */
    local_merged_free(&out);
    assert_null(out.ups);
    state_free(s);
}

static void test_resolve_merge_order(void **st)
{
    (void)st;
    struct state *s = state_new();
    /* nothing configured: the registration's own Config stands */
    assert_null(resolve(s, "connect-proxy", "web", "{\"a\":1}"));
    put_entry(s, 1,
              "{\"Kind\":\"proxy-defaults\",\"Config\":{\"protocol\":\"tcp\",\"bind_port\":2000,"
              "\"x\":{\"deep\":[1,2]}}}");
    char *r = resolve(s, "connect-proxy", "web", "");
    assert_string_equal(r, "{\"protocol\":\"tcp\",\"bind_port\":2000,\"x\":{\"deep\":[1,2]}}");
    cn_free(r);
    /* service-defaults of the destination over proxy-defaults */
    put_entry(s, 2, "{\"Kind\":\"service-defaults\",\"Name\":\"web\",\"Protocol\":\"http\"}");
    r = resolve(s, "connect-proxy", "web", NULL);
    assert_string_equal(r, "{\"protocol\":\"http\",\"bind_port\":2000,\"x\":{\"deep\":[1,2]}}");
    cn_free(r);
    /* another destination gets only proxy-defaults */
    r = resolve(s, "connect-proxy", "db", NULL);
    assert_string_equal(r, "{\"protocol\":\"tcp\",\"bind_port\":2000,\"x\":{\"deep\":[1,2]}}");
    cn_free(r);
    /* the registration's own keys win; keys match exactly */
    r = resolve(s, "connect-proxy", "web", "{\"bind_port\":3000,\"Protocol\":\"grpc\"}");
    assert_string_equal(r, "{\"bind_port\":3000,\"Protocol\":\"grpc\",\"protocol\":\"http\","
                           "\"x\":{\"deep\":[1,2]}}");
    cn_free(r);
    /* not a proxy: nothing */
    assert_null(resolve(s, "", "web", NULL));
    /* service-defaults alone */
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(
        state_cmd_config_entry(&b, "proxy-defaults", "global", true, false, 0, NULL, 0), 0);
    assert_int_equal(state_apply(s, 3, b.p, b.len, NULL), 0);
    cn_buf_free(&b);
    r = resolve(s, "connect-proxy", "web", NULL);
    assert_string_equal(r, "{\"protocol\":\"http\"}");
    cn_free(r);
    state_free(s);
}

static char *upstream(struct state *s, const char *name)
{
    struct json_object *o = NULL;
    assert_int_equal(api__config_resolve_upstream(s, name, &o), 0);
    char *t = o ? cn_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
    json_object_put(o);
    return t;
}

static void test_resolve_upstream(void **st)
{
    (void)st;
    struct state *s = state_new();
    assert_null(upstream(s, "db"));
    /* a proxy-defaults protocol that is not a string gives none */
    put_entry(s, 1, "{\"Kind\":\"proxy-defaults\",\"Config\":{\"protocol\":7,\"a\":1}}");
    assert_null(upstream(s, "db"));
    put_entry(s, 2, "{\"Kind\":\"proxy-defaults\",\"Config\":{\"protocol\":\"tcp\",\"a\":1}}");
    char *r = upstream(s, "db");
    assert_string_equal(r, "{\"protocol\":\"tcp\"}"); /* only the protocol, not "a" */
    cn_free(r);
    /* a service-defaults without Protocol: proxy-defaults' still */
    put_entry(s, 3, "{\"Kind\":\"service-defaults\",\"Name\":\"db\",\"LocalConnectTimeoutMs\":5}");
    r = upstream(s, "db");
    assert_string_equal(r, "{\"protocol\":\"tcp\"}");
    cn_free(r);
    /* the upstream's own service-defaults Protocol wins */
    put_entry(s, 4, "{\"Kind\":\"service-defaults\",\"Name\":\"db\",\"Protocol\":\"HTTP\"}");
    r = upstream(s, "db");
    assert_string_equal(r, "{\"protocol\":\"http\"}"); /* stored lower-cased */
    cn_free(r);
    r = upstream(s, "other");
    assert_string_equal(r, "{\"protocol\":\"tcp\"}");
    cn_free(r);
    /* the internal endpoint's answer */
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 0);
    assert_int_equal(api__config_resolve_json(s, "db", &w), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "{\"ProxyConfig\":{\"protocol\":\"http\",\"a\":1},"
                             "\"UpstreamConfig\":{\"protocol\":\"http\"}}");
    cn_buf_free(&b);
    struct state *e = state_new();
    cn_jsonw_init(&w, &b, 0);
    assert_int_equal(api__config_resolve_json(e, "db", &w), 0);
    assert_int_equal(cn_buf_cstr(&b), 0);
    assert_string_equal(b.p, "{\"ProxyConfig\":{},\"UpstreamConfig\":{}}");
    cn_buf_free(&b);
    state_free(e);
    state_free(s);
}

static char *merge(const char *own, const char *def)
{
    struct json_object *d = def ? json_tokener_parse(def) : NULL;
    char *out = NULL;
    assert_int_equal(api__config_merge(own, d, &out), 0);
    json_object_put(d);
    return out;
}

static void test_merge(void **st)
{
    (void)st;
    /* nothing to add: the registration's own stands (NULL) */
    assert_null(merge("{\"a\":1}", NULL));
    assert_null(merge("{\"a\":1}", "{}"));
    assert_null(merge("{\"a\":1}", "[1]"));
    /* a stored Config that is not an object stands as it is */
    assert_null(merge("[1]", "{\"a\":2}"));
    /* defaults under the registration's keys, which win; exact key match */
    char *r =
        merge("{\"a\":1,\"P\":\"x\"}", "{\"a\":2,\"p\":\"y\",\"n\":{\"d\":[1,{\"e\":null}]}}");
    assert_string_equal(r, "{\"a\":1,\"P\":\"x\",\"p\":\"y\",\"n\":{\"d\":[1,{\"e\":null}]}}");
    cn_free(r);
    /* no own Config ("" or NULL): the defaults */
    r = merge("", "{\"p\":\"a/b\"}");
    assert_string_equal(r, "{\"p\":\"a/b\"}");
    cn_free(r);
    r = merge(NULL, "{\"p\":1}");
    assert_string_equal(r, "{\"p\":1}");
    cn_free(r);
    /* idempotent: merging the merged form again changes nothing */
    r = merge("{\"a\":1}", "{\"a\":2,\"b\":3}");
    char *r2 = merge(r, "{\"a\":2,\"b\":3}");
    assert_string_equal(r, r2);
    cn_free(r);
    cn_free(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_ok),           cmocka_unit_test(test_decode_refusals),
        cmocka_unit_test(test_resolve_merge_order), cmocka_unit_test(test_resolve_upstreams),
        cmocka_unit_test(test_resolve_upstream),    cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
