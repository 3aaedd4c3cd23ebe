/* acl/: the rule language (HCL and JSON forms, Consul's error texts) and the
 * authorizer: exact beats prefix, the longest prefix wins, deny wins at equal
 * specificity when policies merge, read < list < write, the defaults, and
 * the single-valued resources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acl/acl.h"
#include "base/err.h"

static struct acl_policy parse_ok(const char *s)
{
    struct acl_policy p;
    char err[512];
    int rc = acl_policy_parse(s, strlen(s), &p, err, sizeof(err));
    if (rc)
        fail_msg("parse failed: %s\n%s", err, s);
    return p;
}

static void parse_err(const char *s, const char *want)
{
    struct acl_policy p;
    char err[512];
    int rc = acl_policy_parse(s, strlen(s), &p, err, sizeof(err));
    assert_int_equal(rc, CN_EINVAL);
    if (!strstr(err, want))
        fail_msg("error %s\n does not contain %s", err, want);
    assert_int_equal(p.n, 0);
}

static struct acl_authz *authz1(const char *rules, bool dflt_allow)
{
    struct acl_policy p = parse_ok(rules);
    const struct acl_policy *pp = &p;
    struct acl_authz *z = acl_authz_new(&pp, 1, dflt_allow);
    acl_policy_clear(&p);
    assert_non_null(z);
    return z;
}

static void test_hcl_forms(void **st)
{
    (void)st;
    struct acl_policy p = parse_ok("key_prefix \"app/\" { policy = \"write\" }\n"
                                   "key \"app/secret\" { policy = \"deny\" }\n"
                                   "service_prefix \"\" { policy = \"read\" }\n"
                                   "service \"web\" { policy = \"write\" intentions = \"read\" }\n"
                                   "node_prefix \"\" { policy = \"read\" }\n"
                                   "operator = \"read\"\nacl = \"write\"\nkeyring = \"\"\n");
    assert_int_equal(p.n, 7);
    acl_policy_clear(&p);
    /* repeated blocks, several names in one block (HCL object form) */
    p = parse_ok(
        "key_prefix \"a/\" { policy = \"read\" }\nkey_prefix \"b/\" { policy = \"list\" }\n"
        "session_prefix { \"\" { policy = \"write\" } }\n");
    assert_int_equal(p.n, 3);
    acl_policy_clear(&p);
    /* empty text: an empty policy */
    p = parse_ok("  \n");
    assert_int_equal(p.n, 0);
}

static void test_json_form(void **st)
{
    (void)st;
    struct acl_policy p = parse_ok(
        "{\"key_prefix\": {\"app/\": {\"policy\": \"write\"}, \"x/\": {\"policy\": \"deny\"}},"
        " \"agent\": {\"n1\": {\"policy\": \"read\"}}, \"operator\": \"write\"}");
    assert_int_equal(p.n, 4);
    acl_policy_clear(&p);
}

static void test_errors(void **st)
{
    (void)st;
    parse_err("key_prefix \"app/\" { policy = \"bogus\" }",
              "Invalid key_prefix policy: &acl.KeyPolicy{Prefix:\"app/\", Policy:\"bogus\"}");
    parse_err("service \"web\" { policy = \"list\" }", "Invalid service policy");
    parse_err("operator = \"list\"", "Invalid operator policy: \"list\"");
    parse_err("foo \"x\" { policy = \"read\" }",
              "Failed to parse ACL rules: unknown resource \"foo\"");
    parse_err("key_prefix \"x\" { policy = \"read\" extra = 1 }", "unsupported field \"extra\"");
    parse_err("key_prefix \"x\" {", "Failed to parse ACL rules:");
    parse_err("{\"key\": 1}", "Failed to parse ACL rules");
    parse_err("service \"web\" { policy = \"read\" intentions = \"bad\" }",
              "Invalid service intentions policy");
}

static void test_exact_beats_prefix(void **st)
{
    (void)st;
    struct acl_authz *z = authz1("key_prefix \"app/\" { policy = \"write\" }\n"
                                 "key \"app/secret\" { policy = \"deny\" }\n"
                                 "key \"app/ro\" { policy = \"read\" }\n",
                                 false);
    assert_true(acl_allowed(z, ACL_R_KEY, "app/x", ACL_A_WRITE));
    assert_false(acl_allowed(z, ACL_R_KEY, "app/secret", ACL_A_READ));
    assert_true(acl_allowed(z, ACL_R_KEY, "app/secret2", ACL_A_WRITE)); /* exact only */
    assert_true(acl_allowed(z, ACL_R_KEY, "app/ro", ACL_A_READ));
    assert_false(acl_allowed(z, ACL_R_KEY, "app/ro", ACL_A_WRITE));
    assert_false(acl_allowed(z, ACL_R_KEY, "other", ACL_A_READ)); /* default deny */
    acl_authz_unref(z);
}

static void test_longest_prefix(void **st)
{
    (void)st;
    struct acl_authz *z = authz1("key_prefix \"\" { policy = \"read\" }\n"
                                 "key_prefix \"a/\" { policy = \"write\" }\n"
                                 "key_prefix \"a/b/\" { policy = \"deny\" }\n"
                                 "key_prefix \"a/b/c/\" { policy = \"list\" }\n",
                                 false);
    assert_true(acl_allowed(z, ACL_R_KEY, "z", ACL_A_READ));
    assert_false(acl_allowed(z, ACL_R_KEY, "z", ACL_A_WRITE));
    assert_true(acl_allowed(z, ACL_R_KEY, "a/x", ACL_A_WRITE));
    assert_false(acl_allowed(z, ACL_R_KEY, "a/b/x", ACL_A_READ));
    assert_true(acl_allowed(z, ACL_R_KEY, "a/b/c/d", ACL_A_LIST));
    assert_true(acl_allowed(z, ACL_R_KEY, "a/b/c/d", ACL_A_READ));
    assert_false(acl_allowed(z, ACL_R_KEY, "a/b/c/d", ACL_A_WRITE));
    assert_int_equal(acl_level_for(z, ACL_R_KEY, "a/b"),
                     ACL_L_WRITE); /* "a/b" is not under "a/b/" */
    /* KeyWritePrefix: a deny beneath stops a tree write */
    assert_false(acl_write_prefix_ok(z, ACL_R_KEY, "a/"));
    assert_true(acl_prefix_ok(z, ACL_R_KEY, "a/b/c/", ACL_A_READ));
    acl_authz_unref(z);
}

static void test_merge_deny_wins(void **st)
{
    (void)st;
    struct acl_policy p1 = parse_ok("key_prefix \"app/\" { policy = \"write\" }\n"
                                    "service \"web\" { policy = \"read\" }\n");
    struct acl_policy p2 = parse_ok("key_prefix \"app/\" { policy = \"deny\" }\n"
                                    "service \"web\" { policy = \"write\" }\n"
                                    "operator = \"read\"\n");
    struct acl_policy p3 = parse_ok("operator = \"write\"\n");
    const struct acl_policy *pp[] = {&p1, &p2, &p3};
    struct acl_authz *z = acl_authz_new(pp, 3, true);
    assert_false(acl_allowed(z, ACL_R_KEY, "app/x", ACL_A_READ));     /* deny wins */
    assert_true(acl_allowed(z, ACL_R_SERVICE, "web", ACL_A_WRITE));   /* write > read */
    assert_true(acl_allowed(z, ACL_R_OPERATOR, NULL, ACL_A_WRITE));   /* single merged */
    assert_true(acl_allowed(z, ACL_R_KEY, "unrelated", ACL_A_WRITE)); /* default allow */
    assert_true(acl_allowed(z, ACL_R_MESH, NULL, ACL_A_WRITE));       /* mesh from operator */
    acl_authz_unref(z);
    acl_policy_clear(&p1);
    acl_policy_clear(&p2);
    acl_policy_clear(&p3);
}

static void test_levels_and_manage(void **st)
{
    (void)st;
    struct acl_authz *z = authz1("node_prefix \"\" { policy = \"read\" }\nacl = \"read\"\n", false);
    assert_true(acl_allowed(z, ACL_R_NODE, "n1", ACL_A_READ));
    assert_false(acl_allowed(z, ACL_R_NODE, "n1", ACL_A_WRITE));
    assert_true(acl_allowed(z, ACL_R_ACL, NULL, ACL_A_READ));
    assert_false(acl_allowed(z, ACL_R_ACL, NULL, ACL_A_WRITE));
    assert_false(acl_allowed(z, ACL_R_KEYRING, NULL, ACL_A_READ));
    assert_true(acl_allowed(z, ACL_R_NONE, NULL, ACL_A_WRITE));
    acl_authz_unref(z);
    z = acl_authz_manage();
    assert_true(acl_authz_is_manage(z));
    assert_true(acl_allowed(z, ACL_R_KEY, "anything", ACL_A_WRITE));
    assert_true(acl_write_prefix_ok(z, ACL_R_KEY, ""));
    struct acl_authz *r = acl_authz_ref(z);
    acl_authz_unref(z);
    assert_true(acl_allowed(r, ACL_R_OPERATOR, NULL, ACL_A_WRITE)); /* still alive */
    acl_authz_unref(r);
}

static void test_twenty_rules(void **st)
{
    (void)st;
    char rules[4096] = "";
    for (int i = 0; i < 20; i++) {
        char line[128];
        snprintf(line, sizeof(line), "key_prefix \"svc%02d/\" { policy = \"%s\" }\n", i,
                 i % 3 ? "read" : "write");
        strcat(rules, line);
    }
    struct acl_authz *z = authz1(rules, false);
    assert_true(acl_allowed(z, ACL_R_KEY, "svc00/x", ACL_A_WRITE));
    assert_false(acl_allowed(z, ACL_R_KEY, "svc01/x", ACL_A_WRITE));
    assert_true(acl_allowed(z, ACL_R_KEY, "svc19/x", ACL_A_READ));
    assert_false(acl_allowed(z, ACL_R_KEY, "svc20/x", ACL_A_READ));
    acl_authz_unref(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hcl_forms),
        cmocka_unit_test(test_json_form),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_exact_beats_prefix),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_merge_deny_wins),
        cmocka_unit_test(test_levels_and_manage),
        cmocka_unit_test(test_twenty_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
