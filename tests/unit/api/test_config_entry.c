/* tests/unit/api/test_config_entry.c: the PUT /v1/config body decoder
 * (api/config_entry.c): a service-intentions entry in Consul's CamelCase and
 * snake_case, the computed Precedence accepted when it matches, read-only
 * indexes ignored, and each refusal with its reason: other kinds, unknown
 * kinds and keys, L7 Permissions, Meta, legacy fields, duplicates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_int.h"
#include "base/err.h"

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
    assert_int_equal(dec("{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":["
                         "{\"Name\":\"web\",\"Action\":\"allow\",\"Precedence\":9,"
                         "\"Type\":\"consul\",\"Namespace\":\"default\"},"
                         "{\"Name\":\"*\",\"Action\":\"deny\",\"Description\":\"rest\"}],"
                         "\"CreateIndex\":3,\"ModifyIndex\":4}",
                         &e, err, sizeof(err)),
                     0);
    assert_string_equal(e.name, "db");
    assert_int_equal(e.n, 2);
    assert_string_equal(e.src[0].source, "web");
    assert_string_equal(e.src[0].action, "allow");
    assert_string_equal(e.src[1].source, "*");
    assert_string_equal(e.src[1].description, "rest");
    api__config_entry_clear(&e);
    /* snake_case, as an HCL file gives it */
    assert_int_equal(dec("{\"kind\":\"service-intentions\",\"name\":\"db\",\"sources\":["
                         "{\"name\":\"web\",\"action\":\"deny\"}]}",
                         &e, err, sizeof(err)),
                     0);
    assert_int_equal(e.n, 1);
    api__config_entry_clear(&e);
}

static void test_decode_refusals(void **st)
{
    (void)st;
    static const char *const cases[][2] = {
        {"{\"Kind\":\"service-router\",\"Name\":\"web\"}",
         "config entry kind \"service-router\" is not supported by cairn"},
        {"{\"Kind\":\"nope\",\"Name\":\"web\"}", "invalid config entry kind: nope"},
        {"{\"Name\":\"web\"}", "Payload does not contain a kind/Kind key"},
        {"[]", ""},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":[{\"Name\":\"a\","
         "\"Action\":\"allow\",\"Permissions\":[{\"Action\":\"deny\"}]}]}",
         "Sources[0].Permissions: L7 permissions are not supported"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Meta\":{\"a\":\"b\"},"
         "\"Sources\":[{\"Name\":\"a\",\"Action\":\"allow\"}]}",
         "Meta is not supported"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":[{\"Name\":\"a\","
         "\"Action\":\"allow\",\"LegacyMeta\":{\"k\":\"v\"}}]}",
         "Sources[0].LegacyMeta: cannot set this field"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":[{\"Name\":\"*\","
         "\"Action\":\"allow\",\"Precedence\":9}]}",
         "Sources[0].Precedence is computed (8 here)"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":[{\"Name\":\"a\","
         "\"Action\":\"allow\"},{\"Name\":\"a\",\"Action\":\"deny\"}]}",
         "Sources[1].Name: duplicate source \"a\""},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":[{\"Name\":\"a\","
         "\"Action\":\"allow\",\"Bogus\":1}]}",
         "Sources[0].invalid config key \"Bogus\""},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Sources\":{}}",
         "Sources: cannot use object as array"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"\",\"Sources\":[]}", "Name is required"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"d*\",\"Sources\":[]}",
         "Name: wildcard character"},
        {"{\"Kind\":\"service-intentions\",\"Name\":\"db\",\"Partition\":\"p\",\"Sources\":[]}",
         "Partition \"p\" is not supported"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[600];
        struct api_config_entry e;
        assert_int_equal(dec(cases[i][0], &e, err, sizeof(err)), CN_EINVAL);
        assert_true(err[0]);
        if (!strstr(err, cases[i][1]))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i][1]);
        assert_null(e.name);
        assert_int_equal(e.n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
