/* Unit tests for api/decode.h: agent service and check definitions, catalog
 * register/deregister bodies, check updates. Every field, key case and
 * snake_case variants, defaults, every error path with its text, and
 * out-of-memory at every allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/decode.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/mem.h"

static char err[512];

static int svc(const char *body, struct local_svc_def *d)
{
    err[0] = '\0';
    return api_decode_service_def(body, strlen(body), d, err, sizeof(err));
}

static int chk(const char *body, struct state_check *c)
{
    err[0] = '\0';
    return api_decode_check_def(body, strlen(body), c, err, sizeof(err));
}

static int reg(const char *body, struct state_register *r)
{
    err[0] = '\0';
    return api_decode_catalog_register(body, strlen(body), r, err, sizeof(err));
}

/* The decoder must fail with CN_EINVAL and exactly this message. */
static void svc_fails(const char *body, const char *msg)
{
    struct local_svc_def d;
    assert_int_equal(svc(body, &d), CN_EINVAL);
    assert_string_equal(err, msg);
    assert_null(d.checks);
    assert_null(d.svc.id);
}

static void svc_fails_prefix(const char *body, const char *prefix)
{
    struct local_svc_def d;
    assert_int_equal(svc(body, &d), CN_EINVAL);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, prefix);
}

/* ---- service definitions ------------------------------------------------------ */

static void test_service_every_field(void **state)
{
    (void)state;
    struct local_svc_def d;
    const char *body =
        "{\"ID\":\"redis1\",\"Name\":\"redis\",\"Tags\":[\"primary\",\"v1\"],"
        "\"Address\":\"10.0.0.5\",\"Port\":8000,\"Kind\":\"\","
        "\"Meta\":{\"redis_version\":\"4.0\",\"a\":\"b\"},\"EnableTagOverride\":true,"
        "\"TaggedAddresses\":{\"wan\":{\"Address\":\"1.2.3.4\",\"Port\":80},"
        "\"lan\":{\"address\":\"10.0.0.5\",\"port\":8000}},"
        "\"Weights\":{\"Passing\":10,\"Warning\":3},"
        "\"Check\":{\"HTTP\":\"http://10.0.0.5:8001/health\",\"Interval\":\"10s\","
        "\"Timeout\":\"2s\",\"DeregisterCriticalServiceAfter\":\"90m\",\"Method\":\"POST\","
        "\"Header\":{\"X-A\":[\"1\",\"2\"]},\"Body\":\"{}\",\"TLSSkipVerify\":true,"
        "\"Notes\":\"n\"}}";
    assert_int_equal(svc(body, &d), 0);
    assert_string_equal(d.svc.id, "redis1");
    assert_string_equal(d.svc.service, "redis");
    assert_string_equal(d.svc.node, "");
    assert_int_equal(d.svc.ntags, 2);
    assert_string_equal(d.svc.tags[0], "primary");
    assert_string_equal(d.svc.tags[1], "v1");
    assert_string_equal(d.svc.address, "10.0.0.5");
    assert_int_equal(d.svc.port, 8000);
    assert_true(d.svc.enable_tag_override);
    assert_int_equal(d.svc.meta.n, 2); /* sorted by key */
    assert_string_equal(d.svc.meta.items[0].k, "a");
    assert_string_equal(d.svc.meta.items[1].k, "redis_version");
    assert_string_equal(d.svc.meta.items[1].v, "4.0");
    assert_int_equal(d.svc.ntaddrs, 2); /* sorted by name, lower-case keys accepted */
    assert_string_equal(d.svc.taddrs[0].name, "lan");
    assert_string_equal(d.svc.taddrs[0].address, "10.0.0.5");
    assert_int_equal(d.svc.taddrs[0].port, 8000);
    assert_string_equal(d.svc.taddrs[1].name, "wan");
    assert_int_equal(d.svc.taddrs[1].port, 80);
    assert_int_equal(d.svc.weight_passing, 10);
    assert_int_equal(d.svc.weight_warning, 3);
    assert_int_equal(d.nchecks, 1);
    const struct state_check *c = &d.checks[0];
    assert_string_equal(c->check_id, "service:redis1");
    assert_string_equal(c->name, "Service 'redis' check");
    assert_string_equal(c->status, "critical");
    assert_string_equal(c->service_id, "redis1");
    assert_string_equal(c->service_name, "redis");
    assert_string_equal(c->type, "http");
    assert_string_equal(c->http, "http://10.0.0.5:8001/health");
    assert_string_equal(c->method, "POST");
    assert_string_equal(c->header_json, "{\"X-A\":[\"1\",\"2\"]}");
    assert_string_equal(c->body, "{}");
    assert_string_equal(c->notes, "n");
    assert_true(c->tls_skip_verify);
    assert_int_equal(c->interval_ns, 10 * CN_NS_PER_S);
    assert_int_equal(c->timeout_ns, 2 * CN_NS_PER_S);
    assert_int_equal(c->deregister_after_ns, 90 * 60 * CN_NS_PER_S);
    local_svc_def_free(&d);
    assert_null(d.checks);
}

static void test_service_snake_and_lower_case(void **state)
{
    (void)state;
    struct local_svc_def d;
    const char *body =
        "{\"name\":\"web\",\"id\":\"web-1\",\"tags\":[\"a\"],\"port\":80,"
        "\"enable_tag_override\":true,\"tagged_addresses\":{\"lan\":{\"address\":\"1.1.1.1\","
        "\"port\":1}},\"checks\":[{\"http\":\"http://x/\",\"interval\":\"1.5s\","
        "\"deregister_critical_service_after\":\"1m\",\"tls_skip_verify\":true},"
        "{\"tcp\":\"localhost:22\",\"interval\":\"120000ms\",\"check_id\":\"ssh\"},"
        "{\"ttl\":\"0.001s\",\"service_id\":\"ignored\",\"status\":\"passing\"}]}";
    assert_int_equal(svc(body, &d), 0);
    assert_string_equal(d.svc.service, "web");
    assert_string_equal(d.svc.id, "web-1");
    assert_true(d.svc.enable_tag_override);
    assert_int_equal(d.svc.ntaddrs, 1);
    assert_string_equal(d.svc.taddrs[0].address, "1.1.1.1");
    assert_int_equal(d.nchecks, 3);
    assert_string_equal(d.checks[0].check_id, "service:web-1:1");
    assert_int_equal(d.checks[0].interval_ns, 1500000000);
    assert_int_equal(d.checks[0].deregister_after_ns, 60 * CN_NS_PER_S);
    assert_true(d.checks[0].tls_skip_verify);
    assert_string_equal(d.checks[1].check_id, "ssh");
    assert_string_equal(d.checks[1].type, "tcp");
    assert_int_equal(d.checks[1].interval_ns, 120 * CN_NS_PER_S);
    assert_string_equal(d.checks[2].check_id, "service:web-1:3");
    assert_string_equal(d.checks[2].type, "ttl");
    assert_int_equal(d.checks[2].ttl_ns, 1000000);
    assert_string_equal(d.checks[2].status, "passing");
    /* A service's check always belongs to that service. */
    assert_string_equal(d.checks[2].service_id, "web-1");
    local_svc_def_free(&d);
}

static void test_service_defaults(void **state)
{
    (void)state;
    struct local_svc_def d;
    assert_int_equal(svc("{\"Name\":\"db\"}", &d), 0);
    assert_string_equal(d.svc.id, "db");
    assert_string_equal(d.svc.address, "");
    assert_string_equal(d.svc.kind, "");
    assert_int_equal(d.svc.port, 0);
    assert_int_equal(d.svc.ntags, 0);
    assert_int_equal(d.svc.meta.n, 0);
    assert_int_equal(d.svc.weight_passing, 1);
    assert_int_equal(d.svc.weight_warning, 1);
    assert_false(d.svc.enable_tag_override);
    assert_int_equal(d.nchecks, 0);
    local_svc_def_free(&d);

    /* Check and Checks together: Check first; ids numbered over both. An
     * empty check object is dropped as Consul does (CheckType.Empty). */
    assert_int_equal(svc("{\"Name\":\"db\",\"Check\":{\"TTL\":\"5s\"},"
                         "\"Checks\":[{},{\"TTL\":\"6s\",\"Name\":\"second\"}]}",
                         &d),
                     0);
    assert_int_equal(d.nchecks, 2);
    assert_string_equal(d.checks[0].check_id, "service:db:1");
    assert_string_equal(d.checks[1].check_id, "service:db:3");
    assert_string_equal(d.checks[1].name, "second");
    local_svc_def_free(&d);

    /* null members are absent */
    assert_int_equal(svc("{\"Name\":\"db\",\"Tags\":null,\"Check\":null,\"Meta\":null}", &d), 0);
    assert_int_equal(d.nchecks, 0);
    local_svc_def_free(&d);

    /* ScriptArgs and Args are aliases; both make a script check */
    assert_int_equal(svc("{\"Name\":\"s\",\"Check\":{\"ScriptArgs\":[\"/bin/true\"],"
                         "\"Interval\":\"1s\"}}",
                         &d),
                     0);
    assert_string_equal(d.checks[0].type, "script");
    local_svc_def_free(&d);
    assert_int_equal(svc("{\"Name\":\"s\",\"Check\":{\"args\":[\"/bin/true\"],"
                         "\"interval\":\"1s\"}}",
                         &d),
                     0);
    assert_string_equal(d.checks[0].type, "script");
    local_svc_def_free(&d);
}

static void test_service_errors(void **state)
{
    (void)state;
    svc_fails("{}", "Missing service name");
    svc_fails("{\"Name\":\"\"}", "Missing service name");
    svc_fails("{\"ID\":\"x\"}", "Missing service name");
    svc_fails("{\"Name\":5}", "Request decode failed: Name: cannot use number as string");
    svc_fails("{\"Name\":\"a\",\"Tags\":\"x\"}",
              "Request decode failed: Tags: cannot use string as array of strings");
    svc_fails("{\"Name\":\"a\",\"Tags\":[1]}",
              "Request decode failed: Tags[0]: cannot use number as string");
    svc_fails("{\"Name\":\"a\",\"Port\":\"80\"}",
              "Request decode failed: Port: cannot use string as integer");
    svc_fails("{\"Name\":\"a\",\"Port\":-1}", "Invalid Port: -1 is out of range [0, 65535]");
    svc_fails("{\"Name\":\"a\",\"Port\":65536}", "Invalid Port: 65536 is out of range [0, 65535]");
    svc_fails("{\"Name\":\"a\",\"Port\":1.5}",
              "Request decode failed: Port: cannot use number as integer");
    svc_fails("{\"Name\":\"a\",\"EnableTagOverride\":1}",
              "Request decode failed: EnableTagOverride: cannot use number as bool");
    svc_fails("{\"Name\":\"a\",\"Address\":\"0.0.0.0\"}", "Invalid service address");
    svc_fails("{\"Name\":\"a\",\"Address\":\"::\"}", "Invalid service address");
    svc_fails("{\"Name\":\"a\",\"Meta\":[]}",
              "Request decode failed: Meta: cannot use array as map of strings");
    svc_fails("{\"Name\":\"a\",\"Meta\":{\"k\":1}}",
              "Request decode failed: Meta[\"k\"]: cannot use number as string");
    svc_fails("{\"Name\":\"a\",\"Meta\":{\"bad key\":\"v\"}}",
              "Invalid Service Meta: Couldn't load metadata pair ('bad key', 'v'): Key contains "
              "invalid characters");
    svc_fails("{\"Name\":\"a\",\"Meta\":{\"consul-x\":\"v\"}}",
              "Invalid Service Meta: Couldn't load metadata pair ('consul-x', 'v'): Key prefix "
              "'consul-' is reserved for internal use");
    svc_fails("{\"Name\":\"a\",\"Meta\":{\"\":\"v\"}}",
              "Invalid Service Meta: Couldn't load metadata pair ('', 'v'): Key cannot be blank");
    svc_fails("{\"Name\":\"a\",\"Weights\":{\"Passing\":0,\"Warning\":1}}",
              "Invalid Weights: Passing must be greater than 0");
    svc_fails("{\"Name\":\"a\",\"Weights\":{\"Passing\":1,\"Warning\":-1}}",
              "Invalid Weights: Warning must be greater or equal than 0");
    svc_fails("{\"Name\":\"a\",\"Weights\":5}",
              "Request decode failed: Weights: cannot use number as object");
    svc_fails("{\"Name\":\"a\",\"TaggedAddresses\":{\"lan\":\"1.2.3.4\"}}",
              "Request decode failed: TaggedAddresses[\"lan\"]: cannot use string as object");
    svc_fails("{\"Name\":\"a\",\"TaggedAddresses\":{\"lan\":{\"Port\":99999}}}",
              "Invalid Port: 99999 is out of range [0, 65535]");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"Name\":\"c\"}}",
              "Invalid check: TTL must be > 0 for TTL checks");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":\"-5s\"}}",
              "Invalid check: TTL must be > 0 for TTL checks");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"HTTP\":\"http://x\"}}",
              "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or "
              "OSService checks");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":\"1s\",\"Interval\":\"1s\"}}",
              "Invalid check: Interval and TTL cannot both be specified");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"H2PING\":\"x:1\",\"TCP\":\"x:1\",\"Interval\":"
              "\"1s\"}}",
              "Invalid check: only one of HTTP, TCP, UDP, GRPC and H2PING may be specified");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"H2PING\":\"x:1\"}}",
              "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or "
              "OSService checks");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"GRPC\":\"x:1\",\"TCP\":\"x:1\",\"Interval\":"
              "\"1s\"}}",
              "Invalid check: only one of HTTP, TCP, UDP, GRPC and H2PING may be specified");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"AliasService\":\"x\",\"TCP\":\"h:1\","
              "\"Interval\":\"1s\"}}",
              "Invalid check: Interval cannot be set for Alias checks");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TCP\":\"x:1\",\"Interval\":\"1s\","
              "\"Timeout\":\"-1s\"}}",
              "Invalid check: Timeout must be >= 0");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"HTTP\":\"h\",\"TCP\":\"t\",\"Interval\":\"1s\"}}",
              "Invalid check: HTTP and TCP cannot both be specified");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":\"1s\",\"Status\":\"bad\"}}",
              "Status for checks must 'passing', 'warning', 'critical'");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":\"ten\"}}",
              "Request decode failed: TTL: time: invalid duration \"ten\"");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":true}}",
              "Request decode failed: TTL: cannot use bool as duration");
    svc_fails("{\"Name\":\"a\",\"Check\":[]}",
              "Request decode failed: check: cannot use array as object");
    svc_fails("{\"Name\":\"a\",\"Checks\":{}}",
              "Request decode failed: Checks: cannot use object as array");
    svc_fails("{\"Name\":\"a\",\"Checks\":[null]}",
              "Request decode failed: Checks[0]: cannot use null as object");
    svc_fails("{\"Name\":\"a\",\"Checks\":[{\"TTL\":\"1s\",\"ID\":\"x\"},{\"TTL\":\"1s\","
              "\"CheckID\":\"x\"}]}",
              "Invalid check: duplicate check ID \"x\"");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":\"1s\",\"Header\":{\"A\":\"b\"}}}",
              "Request decode failed: Header[\"A\"]: must be an array of strings");
    svc_fails("{\"Name\":\"a\",\"Check\":{\"TTL\":\"1s\",\"ScriptArgs\":\"x\"}}",
              "Request decode failed: ScriptArgs: cannot use string as array of strings");
    svc_fails("[]", "Request decode failed: cannot use array as object");
    svc_fails("\"x\"", "Request decode failed: cannot use string as object");
    svc_fails_prefix("", "Request decode failed: invalid JSON");
    svc_fails_prefix("{\"Name\":", "Request decode failed: invalid JSON");
    svc_fails_prefix("{\"Name\":\"a\"} x", "Request decode failed: invalid JSON");
    /* Meta limits */
    char body[8192];
    int n = snprintf(body, sizeof(body), "{\"Name\":\"a\",\"Meta\":{");
    for (int i = 0; i < 65; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(body + n, sizeof(body) - (size_t)n, "}}");
    svc_fails(body,
              "Invalid Service Meta: Service metadata cannot contain more than 64 key/value pairs");
    char longkey[200];
    memset(longkey, 'k', 129);
    longkey[129] = '\0';
    snprintf(body, sizeof(body), "{\"Name\":\"a\",\"Meta\":{\"%s\":\"v\"}}", longkey);
    svc_fails_prefix(body, "Invalid Service Meta: Couldn't load metadata pair");
    assert_non_null(strstr(err, "Key is too long (limit: 128 characters)"));
}

/* ---- check definitions ------------------------------------------------------------ */

static void test_check_def(void **state)
{
    (void)state;
    struct state_check c;
    assert_int_equal(chk("{\"Name\":\"mem\",\"TTL\":\"30s\"}", &c), 0);
    assert_string_equal(c.check_id, "mem"); /* ID defaults to Name */
    assert_string_equal(c.name, "mem");
    assert_string_equal(c.status, "critical");
    assert_string_equal(c.type, "ttl");
    assert_string_equal(c.service_id, "");
    assert_string_equal(c.output, "");
    assert_int_equal(c.ttl_ns, 30 * CN_NS_PER_S);
    state_check_clear(&c);
    assert_null(c.check_id);

    assert_int_equal(chk("{\"name\":\"web\",\"id\":\"web-http\",\"service_id\":\"web\","
                         "\"http\":\"http://127.0.0.1:1/\",\"method\":\"HEAD\","
                         "\"interval\":\"10s\",\"timeout\":\"1s\",\"status\":\"warning\","
                         "\"notes\":\"hi\",\"header\":{}}",
                         &c),
                     0);
    assert_string_equal(c.check_id, "web-http");
    assert_string_equal(c.service_id, "web");
    assert_string_equal(c.status, "warning");
    assert_string_equal(c.method, "HEAD");
    assert_string_equal(c.notes, "hi");
    assert_string_equal(c.header_json, "");
    assert_int_equal(c.timeout_ns, CN_NS_PER_S);
    state_check_clear(&c);

    assert_int_equal(chk("{\"Name\":\"n\",\"CheckID\":\"cid\",\"TTL\":1000000000}", &c), 0);
    assert_string_equal(c.check_id, "cid");
    assert_int_equal(c.ttl_ns, CN_NS_PER_S); /* integer nanoseconds */
    state_check_clear(&c);

    assert_int_equal(chk("{\"Name\":\"n\",\"TTL\":\"1s\",\"Status\":\"warning\"}", &c), 0);
    state_check_clear(&c);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"TTL\":\"1s\"}", "Missing check name"},
        {"{\"Name\":\"\",\"TTL\":\"1s\"}", "Missing check name"},
        {"{\"Name\":\"n\",\"TTL\":\"1s\",\"Status\":\"up\"}", "Bad check status"},
        {"{\"Name\":\"n\"}", "Invalid check: TTL must be > 0 for TTL checks"},
        {"{\"Name\":\"n\",\"TCP\":\"h:1\"}",
         "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
         "checks"},
        {"{\"Name\":\"n\",\"DockerContainerID\":\"x\",\"Interval\":\"1s\"}",
         "Invalid check: Docker checks are not supported by cairn (TTL, HTTP, TCP, UDP, gRPC, "
         "H2PING, "
         "script and alias checks are)"},
        {"{\"Name\":\"n\",\"TTL\":\"1s\",\"TLSSkipVerify\":\"yes\"}",
         "Request decode failed: TLSSkipVerify: cannot use string as bool"},
        {"{\"Name\":\"n\",\"TTL\":\"1s\",\"Header\":[]}",
         "Request decode failed: Header: cannot use array as map of string arrays"},
        {"{\"Name\":\"n\",\"TTL\":\"1s\",\"ServiceID\":{}}",
         "Request decode failed: ServiceID: cannot use object as string"},
        {"1", "Request decode failed: cannot use number as object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(chk(bad[i].body, &c), CN_EINVAL);
        assert_string_equal(err, bad[i].msg);
        assert_null(c.check_id);
    }
}

/* ---- catalog register / deregister ------------------------------------------------- */

static void test_catalog_register(void **state)
{
    (void)state;
    struct state_register r;
    const char *body =
        "{\"Datacenter\":\"dc1\",\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950b5\","
        "\"Node\":\"foobar\",\"Address\":\"192.168.10.10\","
        "\"TaggedAddresses\":{\"lan\":\"192.168.10.10\",\"wan\":\"10.0.10.10\"},"
        "\"NodeMeta\":{\"somekey\":\"somevalue\"},"
        "\"Service\":{\"ID\":\"redis1\",\"Service\":\"redis\",\"Tags\":[\"primary\",\"v1\"],"
        "\"Address\":\"127.0.0.1\",\"TaggedAddresses\":{\"lan\":{\"address\":\"127.0.0.1\","
        "\"port\":8000}},\"Meta\":{\"redis_version\":\"4.0\"},\"Port\":8000},"
        "\"Check\":{\"Node\":\"foobar\",\"CheckID\":\"service:redis1\",\"Name\":\"Redis health "
        "check\",\"Notes\":\"Script based health check\",\"Status\":\"passing\","
        "\"ServiceID\":\"redis1\",\"Output\":\"ok\",\"Definition\":{\"TCP\":\"localhost:8888\","
        "\"Interval\":\"5s\",\"Timeout\":\"1s\",\"DeregisterCriticalServiceAfter\":\"30s\"}},"
        "\"Checks\":[{\"Name\":\"other\",\"Definition\":{\"HTTP\":\"http://x/\","
        "\"Interval\":\"2s\"}}],\"SkipNodeUpdate\":false}";
    assert_int_equal(reg(body, &r), 0);
    assert_string_equal(r.node.name, "foobar");
    assert_string_equal(r.node.id, "40e4a748-2192-161a-0510-9bf59fe950b5");
    assert_string_equal(r.node.address, "192.168.10.10");
    assert_int_equal(r.node.tagged_addresses.n, 2);
    assert_string_equal(r.node.tagged_addresses.items[1].k, "wan");
    assert_string_equal(r.node.tagged_addresses.items[1].v, "10.0.10.10");
    assert_int_equal(r.node.meta.n, 1);
    assert_false(r.skip_node_update);
    assert_non_null(r.service);
    assert_string_equal(r.service->id, "redis1");
    assert_string_equal(r.service->service, "redis");
    assert_string_equal(r.service->node, "foobar");
    assert_int_equal(r.service->port, 8000);
    assert_int_equal(r.service->ntaddrs, 1);
    assert_int_equal(r.service->weight_passing, 1);
    assert_int_equal(r.nchecks, 2);
    assert_string_equal(r.checks[0].check_id, "service:redis1");
    assert_string_equal(r.checks[0].node, "foobar");
    assert_string_equal(r.checks[0].status, "passing");
    assert_string_equal(r.checks[0].output, "ok");
    assert_string_equal(r.checks[0].tcp, "localhost:8888");
    assert_string_equal(r.checks[0].type, "tcp");
    assert_int_equal(r.checks[0].interval_ns, 5 * CN_NS_PER_S);
    assert_int_equal(r.checks[0].deregister_after_ns, 30 * CN_NS_PER_S);
    assert_string_equal(r.checks[1].check_id, "other"); /* CheckID defaults to Name */
    assert_string_equal(r.checks[1].status, "critical");
    assert_string_equal(r.checks[1].type, "http");
    assert_string_equal(r.checks[1].node, "foobar");
    state_register_clear(&r);
    assert_null(r.node.name);

    /* lower-case keys, service ID defaulted, SkipNodeUpdate without address */
    assert_int_equal(reg("{\"node\":\"n1\",\"skip_node_update\":true,"
                         "\"service\":{\"service\":\"web\",\"port\":80}}",
                         &r),
                     0);
    assert_string_equal(r.node.address, "");
    assert_true(r.skip_node_update);
    assert_string_equal(r.service->id, "web");
    assert_int_equal(r.nchecks, 0);
    state_register_clear(&r);

    /* A check with flat Interval and no Definition; type given explicitly */
    assert_int_equal(reg("{\"Node\":\"n\",\"Address\":\"1.2.3.4\",\"Check\":{\"CheckID\":\"c\","
                         "\"Type\":\"ttl\",\"TTL\":\"10s\",\"Status\":\"warning\"}}",
                         &r),
                     0);
    assert_string_equal(r.checks[0].type, "ttl");
    assert_int_equal(r.checks[0].ttl_ns, 10 * CN_NS_PER_S);
    assert_null(r.service);
    state_register_clear(&r);

    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{}", "Must provide node"},
        {"{\"Address\":\"1.2.3.4\"}", "Must provide node"},
        {"{\"Node\":\"n\"}", "Must provide address if SkipNodeUpdate is not set"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"ID\":\"nope\"}",
         "Bad node ID: uuid string is wrong length or improperly formatted"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"ID\":\"40e4a748-2192-161a-0510-9bf59fe950bZ\"}",
         "Bad node ID: uuid string is wrong length or improperly formatted"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Service\":{\"ID\":\"x\"}}",
         "Must provide service name (Service.Service) with ID"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Service\":\"x\"}",
         "Request decode failed: Service: cannot use string as object"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Service\":{\"Service\":\"s\",\"Port\":-2}}",
         "Invalid Port: -2 is out of range [0, 65535]"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Check\":{\"Status\":\"passing\"}}",
         "Missing check ID or name"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Check\":{\"Name\":\"c\",\"Status\":\"ok\"}}",
         "Invalid check status: 'ok'"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Check\":{\"Name\":\"c\",\"Node\":\"m\"}}",
         "Check node 'm' does not match register node 'n'"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Check\":{\"Name\":\"c\",\"Definition\":[]}}",
         "Request decode failed: Check.Definition: cannot use array as object"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Checks\":[1]}",
         "Request decode failed: Check: cannot use number as object"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"Checks\":{}}",
         "Request decode failed: Checks: cannot use object as array"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"NodeMeta\":{\"a b\":\"c\"}}",
         "Invalid node metadata: Couldn't load metadata pair ('a b', 'c'): Key contains invalid "
         "characters"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"TaggedAddresses\":{\"lan\":1}}",
         "Request decode failed: TaggedAddresses[\"lan\"]: cannot use number as string"},
        {"{\"Node\":\"n\",\"Address\":\"a\",\"SkipNodeUpdate\":\"yes\"}",
         "Request decode failed: SkipNodeUpdate: cannot use string as bool"},
        {"{\"Node\":1}", "Request decode failed: Node: cannot use number as string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(reg(bad[i].body, &r), CN_EINVAL);
        assert_string_equal(err, bad[i].msg);
        assert_null(r.node.name);
        assert_null(r.checks);
    }
    /* node meta may carry the segment key Consul agents set */
    assert_int_equal(
        reg("{\"Node\":\"n\",\"Address\":\"a\",\"NodeMeta\":{\"consul-network-segment\":\"\"}}",
            &r),
        0);
    state_register_clear(&r);
}

/* catalog.mdx / structs.NodeService.ToServiceNode: the catalog keeps the
 * default weights when the given ones are invalid (the Go client sends
 * {0,0}); the agent endpoint refuses them (test_service_errors). */
static void test_catalog_register_lenient_weights(void **state)
{
    (void)state;
    struct state_register r;
    assert_int_equal(reg("{\"Node\":\"n\",\"Address\":\"1.2.3.4\",\"Service\":{"
                         "\"Service\":\"s\",\"Weights\":{\"Passing\":0,\"Warning\":0}}}",
                         &r),
                     0);
    assert_int_equal(r.service->weight_passing, 1);
    assert_int_equal(r.service->weight_warning, 1);
    state_register_clear(&r);
    assert_int_equal(reg("{\"Node\":\"n\",\"Address\":\"1.2.3.4\",\"Service\":{"
                         "\"Service\":\"s\",\"Weights\":{\"Passing\":5,\"Warning\":2}}}",
                         &r),
                     0);
    assert_int_equal(r.service->weight_passing, 5);
    assert_int_equal(r.service->weight_warning, 2);
    state_register_clear(&r);
}

/* No service mesh: Kind, Proxy and Connect (Native, SidecarService) are
 * refused on both decoders; empty values are what clients send for none. */
/* Connect: proxies, native services and sidecars as Consul stores them; what
 * cairn does not build (gateways, transparent proxy, Envoy's knobs, other
 * datacenters' upstreams are refused by the agent: local/) is refused. */
static void test_mesh_decode(void **state)
{
    (void)state;
    struct local_svc_def d;
    assert_int_equal(
        svc("{\"Name\":\"web-proxy\",\"Kind\":\"connect-proxy\",\"Port\":21000,\"Proxy\":{"
            "\"DestinationServiceName\":\"web\",\"DestinationServiceID\":\"web1\","
            "\"LocalServiceAddress\":\"127.0.0.1\",\"LocalServicePort\":8080,"
            "\"Config\":{\"b\":[1,{\"x\":null}],\"a\":\"s\"},\"Upstreams\":[{\"DestinationName\":"
            "\"db\",\"LocalBindPort\":9191},{\"DestinationType\":\"service\",\"DestinationName\":"
            "\"cache\",\"Datacenter\":\"dc1\",\"LocalBindAddress\":\"127.0.0.2\","
            "\"LocalBindPort\":9192}]}}",
            &d),
        0);
    assert_string_equal(d.svc.kind, "connect-proxy");
    assert_string_equal(d.svc.proxy.dest_name, "web");
    assert_string_equal(d.svc.proxy.dest_id, "web1");
    assert_int_equal(d.svc.proxy.local_port, 8080);
    assert_string_equal(d.svc.proxy.config, "{\"b\":[1,{\"x\":null}],\"a\":\"s\"}");
    assert_int_equal(d.svc.proxy.nups, 2);
    assert_string_equal(d.svc.proxy.ups[0].dest_name, "db");
    assert_int_equal(d.svc.proxy.ups[0].local_bind_port, 9191);
    assert_string_equal(d.svc.proxy.ups[1].local_bind_address, "127.0.0.2");
    assert_string_equal(d.svc.proxy.ups[1].datacenter, "dc1");
    assert_null(d.sidecar);
    local_svc_def_free(&d);
    assert_int_equal(svc("{\"Name\":\"n\",\"Port\":1,\"Connect\":{\"Native\":true}}", &d), 0);
    assert_true(d.svc.connect_native);
    local_svc_def_free(&d);

    /* A sidecar from Connect.SidecarService, with Consul's defaults. */
    assert_int_equal(svc("{\"ID\":\"web1\",\"Name\":\"web\",\"Port\":8080,\"Tags\":[\"t\"],"
                         "\"Meta\":{\"k\":\"v\"},\"Connect\":{\"SidecarService\":{}}}",
                         &d),
                     0);
    assert_non_null(d.sidecar);
    assert_false(d.svc.connect_native);
    const struct state_service *sc = &d.sidecar->svc;
    assert_true(d.sidecar->is_sidecar);
    assert_string_equal(sc->id, "web1-sidecar-proxy");
    assert_string_equal(sc->service, "web-sidecar-proxy");
    assert_string_equal(sc->kind, "connect-proxy");
    assert_int_equal(sc->port, 0); /* the agent allocates it */
    assert_int_equal(sc->ntags, 1);
    assert_string_equal(sc->tags[0], "t");
    assert_int_equal(sc->meta.n, 1);
    assert_string_equal(sc->proxy.dest_name, "web");
    assert_string_equal(sc->proxy.dest_id, "web1");
    assert_string_equal(sc->proxy.local_address, "127.0.0.1");
    assert_int_equal(sc->proxy.local_port, 8080);
    assert_int_equal(d.sidecar->nchecks, 0); /* the agent adds the defaults */
    local_svc_def_free(&d);
    /* Given fields win; a given check gets the sidecar's check ID. */
    assert_int_equal(
        svc("{\"Name\":\"web\",\"Port\":8080,\"connect\":{\"sidecar_service\":{\"port\":21005,"
            "\"name\":\"px\",\"tags\":[\"own\"],\"proxy\":{\"local_service_port\":9000,"
            "\"upstreams\":[{\"destination_name\":\"db\",\"local_bind_port\":5000}]},"
            "\"check\":{\"ttl\":\"10s\"}}}}",
            &d),
        0);
    sc = &d.sidecar->svc;
    assert_string_equal(sc->id, "web-sidecar-proxy");
    assert_string_equal(sc->service, "px");
    assert_int_equal(sc->port, 21005);
    assert_string_equal(sc->tags[0], "own");
    assert_int_equal(sc->proxy.local_port, 9000);
    assert_int_equal(sc->proxy.nups, 1);
    assert_int_equal(d.sidecar->nchecks, 1);
    assert_string_equal(d.sidecar->checks[0].check_id, "service:web-sidecar-proxy");
    local_svc_def_free(&d);

    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1}",
              "Invalid service: Proxy.DestinationServiceName must be non-empty for Connect "
              "proxy services");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Proxy\":{"
              "\"DestinationServiceName\":\"b\"}}",
              "Invalid service: Port must be set for a Connect proxy");
    svc_fails("{\"Name\":\"a\",\"Proxy\":{\"DestinationServiceName\":\"b\"}}",
              "Invalid service: Proxy is only valid on a service of Kind \"connect-proxy\"");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"mesh-gateway\",\"Port\":1}",
              "Invalid service: Kind \"mesh-gateway\" is not supported: cairn has no gateways "
              "(only typical services and \"connect-proxy\")");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Connect\":{\"Native\":"
              "true},\"Proxy\":{\"DestinationServiceName\":\"b\"}}",
              "Invalid service: A Proxy cannot also be Connect Native, only typical services");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Proxy\":{"
              "\"DestinationServiceName\":\"b\",\"Mode\":\"transparent\"}}",
              "Invalid service: Proxy.Mode \"transparent\" is not supported by cairn (only "
              "\"direct\")");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Proxy\":{"
              "\"DestinationServiceName\":\"b\",\"Expose\":{\"Checks\":true}}}",
              "Invalid service: Proxy.Expose is not supported by cairn");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Proxy\":{"
              "\"DestinationServiceName\":\"b\",\"Upstreams\":[{\"DestinationName\":\"c\"}]}}",
              "Invalid service: upstream local bind port cannot be zero");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Proxy\":{"
              "\"DestinationServiceName\":\"b\",\"Upstreams\":[{\"DestinationType\":"
              "\"prepared_query\",\"DestinationName\":\"c\",\"LocalBindPort\":1}]}}",
              "Invalid service: upstream DestinationType \"prepared_query\" is not supported by "
              "cairn (only \"service\")");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Proxy\":{"
              "\"DestinationServiceName\":\"b\",\"Upstreams\":[{\"DestinationName\":\"c\","
              "\"LocalBindPort\":1},{\"DestinationName\":\"d\",\"LocalBindPort\":1}]}}",
              "Invalid service: upstreams c and d both bind port 1");
    svc_fails("{\"Name\":\"a\",\"Kind\":\"connect-proxy\",\"Port\":1,\"Proxy\":{"
              "\"DestinationServiceName\":\"b\",\"Config\":[1]}}",
              "Request decode failed: Proxy.Config: cannot use array as map");
    svc_fails("{\"Name\":\"a\",\"Connect\":{\"SidecarService\":{\"ID\":\"x\"}}}",
              "Invalid service: SidecarService cannot specify an ID");
    svc_fails("{\"Name\":\"a\",\"Connect\":{\"SidecarService\":{\"Connect\":{"
              "\"SidecarService\":{}}}}}",
              "Invalid service: A SidecarService cannot have a nested SidecarService");
    svc_fails("{\"Name\":\"a\",\"Connect\":{\"Native\":true,\"SidecarService\":{}}}",
              "Invalid service: A SidecarService cannot be added to a Connect native service");
    assert_int_equal(svc("{\"Name\":\"a\",\"Kind\":\"\",\"Proxy\":null,\"Connect\":{"
                         "\"Native\":false,\"SidecarService\":null}}",
                         &d),
                     0);
    assert_null(d.sidecar);
    local_svc_def_free(&d);
    struct state_register r;
    assert_int_equal(reg("{\"Node\":\"n\",\"Address\":\"1.2.3.4\",\"Service\":{"
                         "\"Service\":\"s\",\"Kind\":\"mesh-gateway\"}}",
                         &r),
                     CN_EINVAL);
    assert_non_null(strstr(err, "Kind \"mesh-gateway\" is not supported"));
    state_register_clear(&r);
    assert_int_equal(reg("{\"Node\":\"n\",\"Address\":\"1.2.3.4\",\"Service\":{"
                         "\"Service\":\"s\",\"Connect\":{\"SidecarService\":{}}}}",
                         &r),
                     CN_EINVAL);
    assert_non_null(strstr(err, "expanded only by an agent"));
    state_register_clear(&r);
    assert_int_equal(reg("{\"Node\":\"n\",\"Address\":\"1.2.3.4\",\"Service\":{"
                         "\"Service\":\"p\",\"Kind\":\"connect-proxy\",\"Port\":2,\"Proxy\":{"
                         "\"DestinationServiceName\":\"s\"}}}",
                         &r),
                     0);
    assert_string_equal(r.service->proxy.dest_name, "s");
    state_register_clear(&r);
}

static void test_catalog_deregister(void **state)
{
    (void)state;
    struct api_catalog_dereg d;
    const char *b = "{\"Node\":\"n\",\"ServiceID\":\"s\",\"CheckID\":\"c\"}";
    assert_int_equal(api_decode_catalog_deregister(b, strlen(b), &d, err, sizeof(err)), 0);
    assert_string_equal(d.node, "n");
    assert_string_equal(d.service_id, "s");
    assert_string_equal(d.check_id, "c");
    api_catalog_dereg_free(&d);
    b = "{\"node\":\"n\",\"service_id\":\"\"}";
    assert_int_equal(api_decode_catalog_deregister(b, strlen(b), &d, err, sizeof(err)), 0);
    assert_null(d.service_id);
    assert_null(d.check_id);
    api_catalog_dereg_free(&d);
    b = "{\"ServiceID\":\"s\"}";
    assert_int_equal(api_decode_catalog_deregister(b, strlen(b), &d, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "Must provide node");
    assert_null(d.node);
    b = "{\"Node\":\"n\",\"CheckID\":7}";
    assert_int_equal(api_decode_catalog_deregister(b, strlen(b), &d, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "Request decode failed: CheckID: cannot use number as string");
}

/* An escaped NUL would cut the C strings built from the tree ("a\u0000b" -> "a"):
 * every decoder refuses it, in values, array elements and object keys. */
static void test_nul_escape_refused(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"Node\":\"a\\u0000b\",\"Address\":\"1\"}",
        "{\"Node\":\"a\",\"Address\":\"1\",\"NodeMeta\":{\"k\\u0000x\":\"v\"}}",
        "{\"Node\":\"a\",\"Address\":\"1\",\"Service\":{\"Service\":\"s\",\"Tags\":[\"\\u0000\"]}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct state_register r;
        assert_int_equal(reg(bodies[i], &r), CN_EINVAL);
        if (!strstr(err, "NUL character"))
            fail_msg("body %zu: unexpected error '%s'", i, err);
    }
    svc_fails_prefix("{\"Name\":\"w\\u0000eb\"}", "Request decode failed: invalid JSON at offset");
    struct state_check c;
    assert_int_equal(chk("{\"Name\":\"c\",\"TTL\":\"1s\",\"Notes\":\"\\u0000\"}", &c), CN_EINVAL);
    struct api_catalog_dereg d;
    const char *b = "{\"Node\":\"n\\u0000x\"}";
    assert_int_equal(api_decode_catalog_deregister(b, strlen(b), &d, err, sizeof(err)), CN_EINVAL);
    /* Not a NUL: an escaped backslash before "u0000", and other \u escapes. */
    struct state_register r;
    assert_int_equal(reg("{\"Node\":\"a\\\\u0000\",\"Address\":\"\\u0031\"}", &r), 0);
    assert_string_equal(r.node.name, "a\\u0000");
    assert_string_equal(r.node.address, "1");
    state_register_clear(&r);
}

/* ---- check update and output truncation ---------------------------------------------- */

static void test_check_update(void **state)
{
    (void)state;
    char *st, *out;
    const char *b = "{\"Status\":\"warning\",\"Output\":\"disk 91%\"}";
    assert_int_equal(api_decode_check_update(b, strlen(b), &st, &out, err, sizeof(err)), 0);
    assert_string_equal(st, "warning");
    assert_string_equal(out, "disk 91%");
    cn_free(st);
    cn_free(out);
    b = "{\"status\":\"passing\"}";
    assert_int_equal(api_decode_check_update(b, strlen(b), &st, &out, err, sizeof(err)), 0);
    assert_string_equal(out, "");
    cn_free(st);
    cn_free(out);
    b = "{\"Status\":\"ok\"}";
    assert_int_equal(api_decode_check_update(b, strlen(b), &st, &out, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "Invalid check status: 'ok'");
    assert_null(st);
    b = "{}";
    assert_int_equal(api_decode_check_update(b, strlen(b), &st, &out, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "Invalid check status: ''");

    /* Output longer than 4 KiB is cut the way Consul does. */
    static char big[6000 + 64];
    int n = snprintf(big, sizeof(big), "{\"Status\":\"passing\",\"Output\":\"");
    memset(big + n, 'x', 5000);
    snprintf(big + n + 5000, sizeof(big) - (size_t)n - 5000, "\"}");
    assert_int_equal(api_decode_check_update(big, strlen(big), &st, &out, err, sizeof(err)), 0);
    assert_int_equal(strncmp(out + 4096, " ... (captured 4096 of 5000 bytes)", 40), 0);
    assert_int_equal(strlen(out), 4096 + strlen(" ... (captured 4096 of 5000 bytes)"));
    cn_free(st);
    cn_free(out);

    assert_true(state_check_status_valid("passing"));
    assert_true(state_check_status_valid("warning"));
    assert_true(state_check_status_valid("critical"));
    assert_false(state_check_status_valid("maintenance"));
    assert_false(state_check_status_valid(NULL));
}

static void test_copies(void **state)
{
    (void)state;
    struct local_svc_def d;
    assert_int_equal(svc("{\"Name\":\"a\",\"Tags\":[\"x\",\"y\"],\"Meta\":{\"k\":\"v\"},"
                         "\"TaggedAddresses\":{\"lan\":{\"Address\":\"1.1.1.1\",\"Port\":2}},"
                         "\"Check\":{\"TTL\":\"3s\"}}",
                         &d),
                     0);
    struct state_service s;
    assert_int_equal(state_service_copy(&s, &d.svc), 0);
    assert_string_equal(s.tags[1], "y");
    assert_string_equal(s.meta.items[0].v, "v");
    assert_string_equal(s.taddrs[0].address, "1.1.1.1");
    assert_int_equal(s.taddrs[0].port, 2);
    assert_ptr_not_equal(s.id, d.svc.id);
    struct state_check c;
    assert_int_equal(state_check_copy(&c, &d.checks[0]), 0);
    assert_string_equal(c.check_id, "service:a");
    assert_int_equal(c.ttl_ns, 3 * CN_NS_PER_S);
    state_service_clear(&s);
    state_check_clear(&c);
    /* NULL strings in a source become "" */
    struct state_check z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(state_check_copy(&c, &z), 0);
    assert_string_equal(c.status, "");
    state_check_clear(&c);
    for (long k = 0; k < 60; k++) {
        cn_mem_fail_after(k);
        int rc1 = state_service_copy(&s, &d.svc);
        int rc2 = state_check_copy(&c, &d.checks[0]);
        cn_mem_fail_after(-1);
        if (!rc1)
            state_service_clear(&s);
        if (!rc2)
            state_check_clear(&c);
        assert_true(rc1 == 0 || rc1 == CN_ENOMEM);
        assert_true(rc2 == 0 || rc2 == CN_ENOMEM);
    }
    local_svc_def_free(&d);
}

/* Every allocation failing in turn: CN_ENOMEM and nothing leaked (ASan). */
static void test_out_of_memory(void **state)
{
    (void)state;
    const char *sbody =
        "{\"Name\":\"a\",\"Tags\":[\"x\"],\"Meta\":{\"k\":\"v\"},\"TaggedAddresses\":{\"lan\":"
        "{\"Address\":\"1.1.1.1\",\"Port\":2}},\"Checks\":[{\"TTL\":\"3s\"},{\"HTTP\":\"h\","
        "\"Interval\":\"1s\",\"Header\":{\"a\":[\"b\"]}}]}";
    const char *cbody = "{\"Name\":\"a\",\"TTL\":\"1s\",\"ServiceID\":\"s\"}";
    const char *rbody = "{\"Node\":\"n\",\"Address\":\"a\",\"NodeMeta\":{\"k\":\"v\"},"
                        "\"TaggedAddresses\":{\"lan\":\"x\"},\"Service\":{\"Service\":\"s\","
                        "\"Tags\":[\"t\"]},\"Checks\":[{\"Name\":\"c\",\"Output\":\"o\"}]}";
    const char *dbody = "{\"Node\":\"n\",\"ServiceID\":\"s\",\"CheckID\":\"c\"}";
    const char *ubody = "{\"Status\":\"passing\",\"Output\":\"o\"}";
    bool done = false;
    for (long k = 0; !done; k++) {
        struct local_svc_def d;
        struct state_check c;
        struct state_register r;
        struct api_catalog_dereg dd;
        char *st = NULL, *out = NULL;
        cn_mem_fail_after(k);
        int rcs = svc(sbody, &d);
        cn_mem_fail_after(k);
        int rcc = chk(cbody, &c);
        cn_mem_fail_after(k);
        int rcr = reg(rbody, &r);
        cn_mem_fail_after(k);
        int rcd = api_decode_catalog_deregister(dbody, strlen(dbody), &dd, err, sizeof(err));
        cn_mem_fail_after(k);
        int rcu = api_decode_check_update(ubody, strlen(ubody), &st, &out, err, sizeof(err));
        cn_mem_fail_after(-1);
        int rcs_all[] = {rcs, rcc, rcr, rcd, rcu};
        done = true;
        for (int i = 0; i < 5; i++) {
            assert_true(rcs_all[i] == 0 || rcs_all[i] == CN_ENOMEM);
            if (rcs_all[i])
                done = false;
        }
        if (!rcs)
            local_svc_def_free(&d);
        if (!rcc)
            state_check_clear(&c);
        if (!rcr)
            state_register_clear(&r);
        if (!rcd)
            api_catalog_dereg_free(&dd);
        cn_free(st);
        cn_free(out);
        assert_true(k < 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_every_field),
        cmocka_unit_test(test_service_snake_and_lower_case),
        cmocka_unit_test(test_service_defaults),
        cmocka_unit_test(test_service_errors),
        cmocka_unit_test(test_check_def),
        cmocka_unit_test(test_catalog_register),
        cmocka_unit_test(test_catalog_register_lenient_weights),
        cmocka_unit_test(test_mesh_decode),
        cmocka_unit_test(test_catalog_deregister),
        cmocka_unit_test(test_nul_escape_refused),
        cmocka_unit_test(test_check_update),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
