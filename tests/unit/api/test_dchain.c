/* tests/unit/api/test_dchain.c: the discovery chain (api/dchain.c,
 * api/dchain_decode.c): the default chain's JSON byte for byte as Consul's
 * encoder writes it, the protocol from service-defaults or proxy-defaults
 * (mapstructure's weak decoding of Config["protocol"]), ServiceMeta sorted,
 * the overrides and Consul's customization hash (the sample of
 * api-docs/discovery-chain.mdx), and the POST body's decoder: Consul's texts
 * and cairn's refusals. Allocation failures leak nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/dchain.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/mem.h"

#define TD "11111111-2222-3333-4444-555555555555.consul"

static struct state_config_entry entry(const char *kind, const char *name, const char *json)
{
    struct state_config_entry e = {kind, name, (const uint8_t *)json, strlen(json), 3, 4};
    return e;
}

/* Compile and write; the JSON into out (cap bytes). */
static int chain_json(const struct state_config_entry *pd, const struct state_config_entry *sd,
                      const struct api_dchain_override *o, const char *dc, char *out, size_t cap)
{
    struct api_dchain_in in = {"web", dc ? dc : "dc1", TD, pd, sd, o};
    struct api_dchain c;
    int rc = api__dchain_compile(&in, &c);
    if (rc)
        return rc;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 0);
    api__dchain_json(&w, &c);
    api__dchain_clear(&c);
    rc = w.err ? w.err : cn_buf_cstr(&b);
    if (!rc)
        snprintf(out, cap, "%s", b.p);
    cn_buf_free(&b);
    return rc;
}

static const char *proto_of(const char *json, char *buf, size_t cap)
{
    const char *p = strstr(json, "\"Protocol\":\"");
    assert_non_null(p);
    p += 12;
    size_t n = (size_t)(strchr(p, '"') - p);
    snprintf(buf, cap, "%.*s", (int)n, p);
    return buf;
}

static void test_default_chain_bytes(void **st)
{
    (void)st;
    char out[4096];
    assert_int_equal(chain_json(NULL, NULL, NULL, NULL, out, sizeof(out)), 0);
    assert_string_equal(
        out, "{\"Chain\":{\"ServiceName\":\"web\",\"Namespace\":\"default\",\"Partition\":"
             "\"default\",\"Datacenter\":\"dc1\",\"Default\":true,\"Protocol\":\"tcp\","
             "\"StartNode\":\"resolver:web.default.default.dc1\",\"Nodes\":{"
             "\"resolver:web.default.default.dc1\":{\"Type\":\"resolver\",\"Name\":"
             "\"web.default.default.dc1\",\"Resolver\":{\"ConnectTimeout\":\"5s\",\"Default\":"
             "true,\"Target\":\"web.default.default.dc1\"}}},\"Targets\":{"
             "\"web.default.default.dc1\":{\"ConnectTimeout\":\"5s\",\"ID\":"
             "\"web.default.default.dc1\",\"Service\":\"web\",\"Namespace\":\"default\","
             "\"Partition\":\"default\",\"Datacenter\":\"dc1\",\"MeshGateway\":{},\"Subset\":{},"
             "\"TransparentProxy\":{},\"SNI\":\"web.default.dc1.internal." TD "\",\"Name\":"
             "\"web.default.dc1.internal." TD "\"}},\"AutoVirtualIPs\":null,"
             "\"ManualVirtualIPs\":null}}");
    /* ?compile-dc names the target's datacenter, SNI and all */
    assert_int_equal(chain_json(NULL, NULL, NULL, "dc2", out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"Datacenter\":\"dc2\""));
    assert_non_null(strstr(out, "\"StartNode\":\"resolver:web.default.default.dc2\""));
    assert_non_null(strstr(out, "\"SNI\":\"web.default.dc2.internal." TD "\""));
    assert_null(strstr(out, "dc1"));
}

static void test_protocol_from_entries(void **st)
{
    (void)st;
    char out[4096], p[64];
    struct state_config_entry sd = entry("service-defaults", "web",
                                         "{\"Kind\":\"service-defaults\",\"Name\":\"web\","
                                         "\"Protocol\":\"http\",\"Meta\":{\"z\":\"1\",\"a\":\"2\","
                                         "\"M\":\"3\"}}");
    struct state_config_entry pd = entry("proxy-defaults", "global",
                                         "{\"Kind\":\"proxy-defaults\",\"Name\":\"global\","
                                         "\"Config\":{\"protocol\":\"GRPC\"}}");
    assert_int_equal(chain_json(&pd, &sd, NULL, NULL, out, sizeof(out)), 0);
    assert_string_equal(proto_of(out, p, sizeof(p)), "http");
    /* Go sorts a map's keys: byte order */
    assert_non_null(strstr(out, "\"Protocol\":\"http\",\"ServiceMeta\":{\"M\":\"3\",\"a\":\"2\","
                                "\"z\":\"1\"},\"StartNode\""));
    /* proxy-defaults when the service has no entry, lower-cased */
    assert_int_equal(chain_json(&pd, NULL, NULL, NULL, out, sizeof(out)), 0);
    assert_string_equal(proto_of(out, p, sizeof(p)), "grpc");
    assert_null(strstr(out, "ServiceMeta"));
    /* the service's entry decides even without a protocol: tcp */
    struct state_config_entry sd0 =
        entry("service-defaults", "web",
              "{\"Kind\":\"service-defaults\",\"Name\":\"web\",\"Protocol\":\"\",\"Meta\":{}}");
    assert_int_equal(chain_json(&pd, &sd0, NULL, NULL, out, sizeof(out)), 0);
    assert_string_equal(proto_of(out, p, sizeof(p)), "tcp");
    assert_null(strstr(out, "ServiceMeta")); /* empty: omitted */
    /* WeakDecode of Config["protocol"] (any case of the key) */
    static const struct {
        const char *config, *want;
    } weak[] = {
        {"{\"Protocol\":\"HTTP2\"}", "http2"},
        {"{\"protocol\":true}", "1"},
        {"{\"protocol\":false}", "0"},
        {"{\"protocol\":2}", "2"},
        {"{\"protocol\":2.0}", "2"},
        {"{\"protocol\":2.5}", "2.5"},
        {"{\"protocol\":1e-7}", "0.0000001"},
        {"{\"protocol\":1e21}", "1000000000000000000000"},
        {"{\"protocol\":-0.125}", "-0.125"},
        {"{\"protocol\":{\"a\":1}}", "tcp"},
        {"{\"protocol\":[\"http\"]}", "tcp"},
        {"{\"protocol\":null}", "tcp"},
        {"{\"protocol\":\"\"}", "tcp"},
        {"{\"other\":\"http\"}", "tcp"},
        {"null", "tcp"},
    };
    for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"Kind\":\"proxy-defaults\",\"Name\":\"global\",\"Config\":%s}", weak[i].config);
        struct state_config_entry e = entry("proxy-defaults", "global", json);
        assert_int_equal(chain_json(&e, NULL, NULL, NULL, out, sizeof(out)), 0);
        if (strcmp(proto_of(out, p, sizeof(p)), weak[i].want) != 0)
            fail_msg("Config %s: protocol %s, want %s", weak[i].config, p, weak[i].want);
    }
    /* a stored entry that is not an object */
    struct state_config_entry bad = entry("service-defaults", "web", "[1]");
    assert_int_equal(chain_json(NULL, &bad, NULL, NULL, out, sizeof(out)), CN_ECORRUPT);
}

static void test_overrides_and_hash(void **st)
{
    (void)st;
    /* api-docs/discovery-chain.mdx, "Datacenter Redirect with Overrides":
     * 7s, grpc, remote give CustomizationHash "b94f529a" */
    char hex[17];
    snprintf(hex, sizeof(hex), "%llx",
             (unsigned long long)api__dchain_customization("remote", "grpc", 7 * 1000000000LL));
    assert_string_equal(hex, "b94f529aaa4aa6b0");
    char out[4096], p[64];
    struct api_dchain_override o = {7 * 1000000000LL, (char *)"grpc", true};
    assert_int_equal(chain_json(NULL, NULL, &o, NULL, out, sizeof(out)), 0);
    snprintf(hex, sizeof(hex), "%llx",
             (unsigned long long)api__dchain_customization("none", "grpc", 7 * 1000000000LL));
    char want[64];
    snprintf(want, sizeof(want), "\"CustomizationHash\":\"%.8s\",\"Default\":true", hex);
    assert_non_null(strstr(out, want));
    assert_string_equal(proto_of(out, p, sizeof(p)), "grpc");
    assert_non_null(strstr(out, "\"Resolver\":{\"ConnectTimeout\":\"7s\""));
    assert_non_null(strstr(out, "{\"ConnectTimeout\":\"7s\",\"ID\""));
    assert_non_null(strstr(out, "\"MeshGateway\":{\"Mode\":\"none\"}"));
    /* overrides equal to what the chain has change nothing: no hash */
    struct api_dchain_override same = {5 * 1000000000LL, (char *)"tcp", false};
    assert_int_equal(chain_json(NULL, NULL, &same, NULL, out, sizeof(out)), 0);
    assert_null(strstr(out, "CustomizationHash"));
    assert_non_null(strstr(out, "\"ConnectTimeout\":\"5s\""));
    /* only what changed is hashed; the override is not lower-cased */
    struct api_dchain_override up = {90 * 1000000000LL, (char *)"TCP", false};
    assert_int_equal(chain_json(NULL, NULL, &up, NULL, out, sizeof(out)), 0);
    assert_string_equal(proto_of(out, p, sizeof(p)), "TCP");
    assert_non_null(strstr(out, "\"ConnectTimeout\":\"1m30s\""));
    snprintf(hex, sizeof(hex), "%llx",
             (unsigned long long)api__dchain_customization("", "TCP", 90 * 1000000000LL));
    snprintf(want, sizeof(want), "\"CustomizationHash\":\"%.8s\"", hex);
    assert_non_null(strstr(out, want));
    /* a mode the entries give (service-defaults first) is the target's;
     * overriding it with itself changes nothing */
    struct state_config_entry pdm = entry("proxy-defaults", "global",
                                          "{\"Kind\":\"proxy-defaults\",\"Name\":\"global\","
                                          "\"MeshGateway\":{\"Mode\":\"none\"}}");
    struct state_config_entry sdm = entry("service-defaults", "web",
                                          "{\"Kind\":\"service-defaults\",\"Name\":\"web\","
                                          "\"MeshGateway\":{\"Mode\":\"local\"}}");
    struct api_dchain_override none = {0, NULL, true};
    assert_int_equal(chain_json(&pdm, NULL, &none, NULL, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"MeshGateway\":{\"Mode\":\"none\"}"));
    assert_null(strstr(out, "CustomizationHash"));
    assert_int_equal(chain_json(&pdm, &sdm, NULL, NULL, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"MeshGateway\":{\"Mode\":\"local\"}"));
    assert_int_equal(chain_json(&pdm, &sdm, &none, NULL, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"MeshGateway\":{\"Mode\":\"none\"}"));
    snprintf(hex, sizeof(hex), "%llx",
             (unsigned long long)api__dchain_customization("none", "", 0));
    snprintf(want, sizeof(want), "\"CustomizationHash\":\"%.8s\"", hex);
    assert_non_null(strstr(out, want));
    struct api_dchain_override t = {1500 * 1000000LL, NULL, false};
    assert_int_equal(chain_json(NULL, NULL, &t, NULL, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"ConnectTimeout\":\"1.5s\""));
    snprintf(hex, sizeof(hex), "%llx",
             (unsigned long long)api__dchain_customization("", "", 1500 * 1000000LL));
    snprintf(want, sizeof(want), "\"CustomizationHash\":\"%.8s\"", hex);
    assert_non_null(strstr(out, want));
}

static int dec(const char *body, struct api_dchain_override *o, char *err, size_t cap)
{
    err[0] = 0;
    return api__dchain_override_decode(body, strlen(body), o, err, cap);
}

static void test_decode_ok(void **st)
{
    (void)st;
    char err[600];
    struct api_dchain_override o;
    assert_int_equal(dec("{\"OverrideConnectTimeout\":\"7s\",\"OverrideProtocol\":\"grpc\","
                         "\"OverrideMeshGateway\":{\"Mode\":\"none\"}}",
                         &o, err, sizeof(err)),
                     0);
    assert_true(o.connect_timeout_ns == 7 * 1000000000LL);
    assert_string_equal(o.protocol, "grpc");
    assert_true(o.mgw_none);
    api__dchain_override_clear(&o);
    /* snake_case, nanoseconds, an empty mode, nulls */
    assert_int_equal(dec("{\"override_connect_timeout\":250000000,\"override_protocol\":null,"
                         "\"override_mesh_gateway\":{\"mode\":\"\"}}",
                         &o, err, sizeof(err)),
                     0);
    assert_true(o.connect_timeout_ns == 250000000LL);
    assert_null(o.protocol);
    assert_false(o.mgw_none);
    api__dchain_override_clear(&o);
    assert_int_equal(dec(" {} ", &o, err, sizeof(err)), 0);
    assert_true(o.connect_timeout_ns == 0 && !o.protocol && !o.mgw_none);
    assert_int_equal(dec("{\"OverrideConnectTimeout\":2e9,\"OverrideProtocol\":\"\","
                         "\"OverrideMeshGateway\":{}}",
                         &o, err, sizeof(err)),
                     0);
    assert_true(o.connect_timeout_ns == 2000000000LL && !o.protocol);
    assert_int_equal(dec("{\"OverrideConnectTimeout\":\"0s\",\"OverrideMeshGateway\":null}", &o,
                         err, sizeof(err)),
                     0);
    assert_true(o.connect_timeout_ns == 0);
}

static void test_decode_refusals(void **st)
{
    (void)st;
    static const struct {
        const char *body, *text;
    } cases[] = {
        {"", "Request decoding failed: EOF"},
        {" \n", "Request decoding failed: EOF"},
        {"{", "Request decoding failed: "},
        {"[]", "Request decoding failed: cannot use array as object"},
        {"{\"Nope\":1}", "Request decoding failed: invalid key \"Nope\""},
        {"{\"OverrideProtocol\":\"a\",\"override_protocol\":\"b\"}",
         "OverrideProtocol given twice"},
        {"{\"OverrideConnectTimeout\":\"7\"}", "Request decoding failed: time: invalid duration "
                                               "\"7\""},
        {"{\"OverrideConnectTimeout\":\"\"}", "time: invalid duration \"\""},
        {"{\"OverrideConnectTimeout\":\"-5s\"}", "OverrideConnectTimeout must not be negative "
                                                 "(-5s)"},
        {"{\"OverrideConnectTimeout\":true}", "OverrideConnectTimeout: cannot use bool as "
                                              "duration"},
        {"{\"OverrideConnectTimeout\":1e300}", "is out of range for a duration"},
        {"{\"OverrideProtocol\":2}", "OverrideProtocol: cannot use number as string"},
        {"{\"OverrideMeshGateway\":\"none\"}", "OverrideMeshGateway: cannot use string as object"},
        {"{\"OverrideMeshGateway\":{\"Mode\":\"none\",\"Port\":1}}", "invalid key \"Port\""},
        {"{\"OverrideMeshGateway\":{\"Mode\":\"none\",\"mode\":\"none\"}}", "Mode given twice"},
        {"{\"OverrideMeshGateway\":{\"Mode\":\"sideways\"}}",
         "Invalid OverrideMeshGateway.Mode parameter"},
        {"{\"OverrideMeshGateway\":{\"Mode\":3}}", "Invalid OverrideMeshGateway.Mode parameter"},
        {"{\"OverrideMeshGateway\":{\"Mode\":\"local\"}}",
         "OverrideMeshGateway.Mode \"local\" is not supported: cairn has no mesh gateways"},
        {"{\"OverrideMeshGateway\":{\"Mode\":\"remote\"}}",
         "OverrideMeshGateway.Mode \"remote\" is not supported"},
        {"{\"OverrideProtocol\":\"a\\u0000b\"}", "NUL character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[600];
        struct api_dchain_override o;
        int rc = dec(cases[i].body, &o, err, sizeof(err));
        if (rc != CN_EINVAL || !strstr(err, cases[i].text))
            fail_msg("%s: rc %d, %s; want %s", cases[i].body, rc, err, cases[i].text);
        assert_true(!o.protocol && !o.mgw_none && !o.connect_timeout_ns);
    }
}

static void test_out_of_memory(void **st)
{
    (void)st;
    struct state_config_entry sd = entry(
        "service-defaults", "web",
        "{\"Kind\":\"service-defaults\",\"Name\":\"web\",\"Protocol\":\"http\",\"Meta\":{\"a\":"
        "\"1\"}}");
    struct state_config_entry pd = entry("proxy-defaults", "global",
                                         "{\"Kind\":\"proxy-defaults\",\"Name\":\"global\","
                                         "\"Config\":{\"protocol\":1.5}}");
    struct api_dchain_override o = {7 * 1000000000LL, (char *)"grpc", true};
    bool ok_seen = false;
    for (long k = 0; k < 40 && !ok_seen; k++) {
        char out[4096];
        cn_mem_fail_after(k);
        int a = chain_json(NULL, &sd, &o, NULL, out, sizeof(out));
        int b = chain_json(&pd, NULL, NULL, NULL, out, sizeof(out));
        char err[600];
        struct api_dchain_override d;
        int c = dec("{\"OverrideProtocol\":\"http\"}", &d, err, sizeof(err));
        cn_mem_fail_after(-1);
        assert_true(a == 0 || a == CN_ENOMEM);
        assert_true(b == 0 || b == CN_ENOMEM);
        assert_true(c == 0 || c == CN_ENOMEM);
        api__dchain_override_clear(&d);
        ok_seen = !a && !b && !c;
    }
    assert_true(ok_seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_chain_bytes), cmocka_unit_test(test_protocol_from_entries),
        cmocka_unit_test(test_overrides_and_hash),  cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_refusals),     cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
