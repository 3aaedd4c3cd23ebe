/* Unit tests for filter/filter.h: go-bexpr v0.1.2's grammar, validation
 * texts and evaluation rules (grammar.peg, validate.go, evaluate.go), over
 * JSON items shaped like Consul's (website/content/api-docs/features/
 * filtering.mdx), and out-of-memory at every allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "filter/filter.h"

static const struct filter_field f_weights[] = {
    {"Passing", FILTER_INT, NULL},
    {"Warning", FILTER_INT, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_addr[] = {
    {"Address", FILTER_STR, NULL},
    {"Port", FILTER_INT, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_addr_elem[] = {
    {"*", FILTER_STRUCT, f_addr},
    {NULL, 0, NULL},
};
static const struct filter_field f_node[] = {
    {"Node", FILTER_STR, NULL},
    {"Meta", FILTER_STR_MAP, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_svc[] = {
    {"Service", FILTER_STR, NULL},
    {"Tags", FILTER_STR_LIST, NULL},
    {"Meta", FILTER_STR_MAP, NULL},
    {"Port", FILTER_INT, NULL},
    {"EnableTagOverride", FILTER_BOOL, NULL},
    {"Weights", FILTER_STRUCT, f_weights},
    {"TaggedAddresses", FILTER_STRUCT_MAP, f_addr_elem},
    {NULL, 0, NULL},
};
static const struct filter_field f_chk[] = {
    {"Status", FILTER_STR, NULL},
    {"Output", FILTER_STR, NULL},
    {NULL, 0, NULL},
};
/* CheckServiceNode */
static const struct filter_field schema[] = {
    {"Node", FILTER_STRUCT, f_node},
    {"Service", FILTER_STRUCT, f_svc},
    {"Checks", FILTER_STRUCT_LIST, f_chk},
    {NULL, 0, NULL},
};

static const char item_json[] =
    "{\"Node\":{\"Node\":\"db-1\",\"Meta\":{\"env\":\"prod\",\"rack\":\"r1\"}},"
    "\"Service\":{\"Service\":\"web\",\"Tags\":[\"primary\",\"v2\"],\"Meta\":{},"
    "\"Port\":8080,\"EnableTagOverride\":true,\"Weights\":{\"Passing\":3,\"Warning\":1},"
    "\"TaggedAddresses\":{\"lan_ipv4\":{\"Address\":\"10.0.0.1\",\"Port\":8080}}},"
    "\"Checks\":[{\"Status\":\"passing\",\"Output\":\"HTTP GET ok\"},"
    "{\"Status\":\"critical\",\"Output\":\"connection refused\"}]}";

static char err[512];

/* 1 match, 0 no match, or the error code (err holds the text). */
static int run(const char *expr)
{
    struct json_object *item = json_tokener_parse(item_json);
    assert_non_null(item);
    struct filter *f = NULL;
    err[0] = 0;
    int rc = filter_new(expr, strlen(expr), schema, &f, err, sizeof(err));
    if (rc == 0) {
        assert_non_null(f);
        rc = filter_match(f, item) ? 1 : 0;
    } else {
        assert_null(f);
    }
    filter_free(f);
    json_object_put(item);
    return rc;
}

static void yes(const char *expr)
{
    int rc = run(expr);
    if (rc != 1)
        fail_msg("%s: expected a match, got %d (%s)", expr, rc, err);
}

static void no(const char *expr)
{
    int rc = run(expr);
    if (rc != 0)
        fail_msg("%s: expected no match, got %d (%s)", expr, rc, err);
}

static void bad(const char *expr, const char *msg)
{
    int rc = run(expr);
    if (rc != CN_EINVAL)
        fail_msg("%s: expected CN_EINVAL, got %d", expr, rc);
    if (msg && strcmp(err, msg) != 0)
        fail_msg("%s: expected error\n  %s\ngot\n  %s", expr, msg, err);
}

static void test_equality(void **st)
{
    (void)st;
    yes("Service.Service == web");
    yes("Service.Service == \"web\"");
    yes("Service.Service == `web`");
    no("Service.Service == Web"); /* case-sensitive */
    yes("Service.Service != db");
    yes("Service.Port == 8080");
    yes("Service.Port == \"0x1f90\"");   /* strconv.ParseInt base 0 */
    bad("Service.Port == 0x1f90", NULL); /* an unquoted number is decimal only */
    no("Service.Port != 8080");
    yes("Service.EnableTagOverride == true");
    yes("Service.EnableTagOverride == T");
    yes("Service.EnableTagOverride != 0");
    yes("Service.Weights.Passing == 3");
    yes("Node.Meta.env == prod");
    yes("Node.Meta[\"env\"] == prod");
    yes("Node.Meta[`rack`] == \"r1\"");
}

static void test_containment(void **st)
{
    (void)st;
    yes("Service.Tags contains primary");
    yes("primary in Service.Tags");
    yes("\"v2\" in Service.Tags");
    no("prim in Service.Tags"); /* element equality, not substring */
    yes("prim not in Service.Tags");
    yes("Service.Tags not contains v3");
    yes("Service.Service contains eb"); /* substring on strings */
    yes("eb in Service.Service");
    yes("env in Node.Meta"); /* key membership on maps */
    no("prod in Node.Meta");
    yes("lan_ipv4 in Service.TaggedAddresses");
    yes("Service.TaggedAddresses.lan_ipv4.Port == 8080");
    yes("Service.TaggedAddresses.lan_ipv4.Address matches \"^10\\\\.\"");
}

static void test_emptiness_and_absent_keys(void **st)
{
    (void)st;
    yes("Service.Meta is empty");
    no("Service.Meta is not empty");
    yes("Service.Tags is not empty");
    yes("Checks is not empty");
    /* evaluate.go: an absent key makes ==, is not empty and in false, the others true */
    no("Node.Meta.zone == a");
    yes("Node.Meta.zone != a");
    no("x in Node.Meta.zone");
    yes("x not in Node.Meta.zone");
    yes("Node.Meta.zone matches a"); /* sic: every other operator is true */
    yes("Node.Meta.zone not matches a");
}

static void test_lists_of_structs_are_any(void **st)
{
    (void)st;
    yes("Checks.Status == critical");
    yes("Checks.Status == passing");
    no("Checks.Status == warning");
    yes("Checks.Status != passing"); /* the critical one is != passing */
    yes("Checks.Output contains refused");
}

static void test_logic(void **st)
{
    (void)st;
    yes("Service.Service == web and Service.Port == 8080");
    no("Service.Service == web and Service.Port == 1");
    yes("Service.Service == db or Service.Port == 8080");
    yes("not Service.Service == db");
    yes("not not Service.Service == web");
    yes("(Service.Service == db or Service.Port == 8080) and Node.Node == \"db-1\"");
    no("Service.Service == db or Service.Port == 1 and Service.Service == web");
    yes("Service.Service == web or Service.Port == 1 and Service.Service == db");
    yes("  ( Service.Service == web )  ");
    yes("Service.Service==web");
    yes("Service.Service\t==\n\"web\"");
}

static void test_regex(void **st)
{
    (void)st;
    yes("Node.Node matches \"^db-[0-9]+$\"");
    no("Node.Node matches `^web`");
    yes("Node.Node not matches `^web`");
    yes("Service.Service matches \"w|x\"");
}

static void test_string_escapes(void **st)
{
    (void)st;
    yes("Service.Service == \"\\x77eb\"");
    yes("Service.Service == \"w\\u0065b\"");
    yes("Service.Service == \"\\167eb\"");
    bad("Service.Service == \"\\q\"", NULL);
    bad("Service.Service == \"unterminated", NULL);
}

static void test_validation_texts(void **st)
{
    (void)st;
    bad("Foo == 1", "Selector \"Foo\" is not valid");
    bad("Service.Foo == 1", "Selector \"Service.Foo\" is not valid");
    bad("service.Service == web", "Selector \"service\" is not valid"); /* case-sensitive */
    bad("Service.Tags.x == 1", "Selector \"Service.Tags.x\" is not valid");
    bad("Service == web", "Invalid match operator \"Equal\" for selector \"Service\"");
    bad("Service.Tags == web", "Invalid match operator \"Equal\" for selector \"Service.Tags\"");
    bad("Service.Service is empty",
        "Invalid match operator \"Is Empty\" for selector \"Service.Service\"");
    bad("Checks contains x", "Invalid match operator \"In\" for selector \"Checks\"");
    bad("Service.Port matches 1",
        "Invalid match operator \"Matches\" for selector \"Service.Port\"");
    bad("Service.Port == abc", "Failed to coerce value \"abc\" for selector \"Service.Port\": "
                               "strconv.ParseInt: parsing \"abc\": invalid syntax");
    bad("Service.EnableTagOverride == yes",
        "Failed to coerce value \"yes\" for selector \"Service.EnableTagOverride\": "
        "strconv.ParseBool: parsing \"yes\": invalid syntax");
    bad("Node.Node matches \"(\"", NULL);
    assert_non_null(strstr(err, "Failed to compile regular expression \"(\""));
}

static void test_syntax_errors(void **st)
{
    (void)st;
    bad("", NULL);
    bad("   ", NULL);
    bad("((", NULL);
    assert_int_equal(strncmp(err, "1:", 2), 0);
    bad("(Service.Service == web", NULL);
    bad("Service.Service == web)", NULL);
    bad("Service.Service ==", NULL);
    bad("Service.Service = web", NULL);
    bad("Service.Service == web and", NULL);
    bad("Service.Service == web or or x == y", NULL);
    bad("Service.Port == 12abc", NULL);
    bad("Node.Meta[env] == x", NULL);
    bad("Node.Meta[\"env\" == x", NULL);
    bad("x in", NULL);
    bad("x in 1", NULL);
    bad("Service.Service == web andService.Port == 1", NULL);
    /* pigeon's positions and rule names, as Consul's answers show them
     * (hashicorp/consul#9441, #7338) */
    bad("Node.Node == 10.10.10.10", "1:19 (18): rule \"number\": Invalid number literal");
    bad("foo", NULL);
    assert_int_equal(strncmp(err, "1:4 (3): no match found", 23), 0);
    bad("Node.Node == \"abc", "1:18 (17): rule \"string\": Unterminated string literal");
    bad("(Node.Node == x", "1:16 (15): rule \"grouping\": Unmatched parentheses");
    /* too long a chain */
    {
        size_t n = 5000 * 27 + 32;
        char *chain = malloc(n);
        assert_non_null(chain);
        size_t o = 0;
        for (int i = 0; i < 5000; i++)
            o += (size_t)snprintf(chain + o, n - o, "%sService.Port == 1", i ? " or " : "");
        bad(chain, NULL);
        assert_non_null(strstr(err, "and/or operators"));
        free(chain);
    }
    /* too deep */
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "Service.Service == web");
    bad(deep, NULL);
}

static void test_nul_and_binary(void **st)
{
    (void)st;
    /* grammar.peg: a double-quoted string holds any byte but '"', NUL too */
    struct filter *f = NULL;
    static const char expr[] = "Service.Service == \"a\0b\" or a\0b in Service.Tags";
    int rc = filter_new(expr, sizeof(expr) - 1, schema, &f, err, sizeof(err));
    assert_int_not_equal(rc, 0); /* a NUL is no identifier character */
    static const char expr2[] = "Service.Service == \"we\0b\" or \"a\0\" in Node.Meta";
    rc = filter_new(expr2, sizeof(expr2) - 1, schema, &f, err, sizeof(err));
    assert_int_equal(rc, 0);
    struct json_object *item = json_tokener_parse(item_json);
    bool m = filter_match(f, item);
    json_object_put(item);
    filter_free(f);
    assert_false(m);
}

static void test_oom(void **st)
{
    (void)st;
    const char *expr = "(Service.Tags contains primary or not Node.Meta[\"env\"] == prod) and "
                       "Checks.Status matches \"^pass\"";
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
        struct filter *f = NULL;
        cn_mem_fail_after(k);
        int rc = filter_new(expr, strlen(expr), schema, &f, err, sizeof(err));
        cn_mem_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            filter_free(f);
        } else {
            assert_int_equal(rc, CN_ENOMEM);
            assert_null(f);
        }
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_containment),
        cmocka_unit_test(test_emptiness_and_absent_keys),
        cmocka_unit_test(test_lists_of_structs_are_any),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_validation_texts),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nul_and_binary),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
