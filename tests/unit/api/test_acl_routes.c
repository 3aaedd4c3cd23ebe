/* Every route of every table declares its ACL column (api_int.h API_ACL):
 * a route added without one fails here, so no endpoint can be served
 * unchecked by omission. Also: the resource and access of each declaration
 * are in range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "api/api_int.h"

static void check(const struct api_route *r, uint16_t d, const char *which)
{
    enum api_acl_how how = API_ACL_HOW(d);
    if (!d || how < API_ACL_ARG || how > API_ACL_NOCHECK)
        fail_msg("route %s: %s ACL column undeclared (API_ACL in api_int.h)", r->path, which);
    if (how == API_ACL_ARG || how == API_ACL_SELF || how == API_ACL_FIXED) {
        if (API_ACL_RES(d) == ACL_R_NONE || API_ACL_RES(d) >= ACL_R__COUNT)
            fail_msg("route %s: %s: bad resource", r->path, which);
        if (API_ACL_ACC(d) < ACL_A_READ || API_ACL_ACC(d) > ACL_A_WRITE)
            fail_msg("route %s: %s: bad access", r->path, which);
    }
}

static void test_every_route_declared(void **st)
{
    (void)st;
    size_t n = 0;
    for (size_t t = 0; api__route_tables[t]; t++)
        for (const struct api_route *r = api__route_tables[t]; r->path; r++) {
            check(r, r->acl_get, "GET");
            check(r, r->acl_set, "write");
            n++;
        }
    assert_true(n > 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_route_declared)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
