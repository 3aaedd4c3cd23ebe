/* Fuzz acl/rules.c and acl/authz.c: any bytes as ACL rules (HCL or JSON)
 * give a policy or a Consul-style error, never a crash, leak or hang; a
 * policy that parses compiles into an authorizer whose lookups (exact,
 * prefixes, the tree checks) are total, and merging it with itself changes
 * no decision. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct acl_policy p;
    char err[512];
    if (acl_policy_parse((const char *)data, size, &p, err, sizeof(err)))
        return 0;
    const struct acl_policy *pp[2] = {&p, &p};
    struct acl_authz *z1 = acl_authz_new(pp, 1, false);
    struct acl_authz *z2 = acl_authz_new(pp, 2, false);
    if (!z1 || !z2)
        abort();
    static const char *const names[] = {"", "a", "app/", "app/x", "web", "n1"};
    for (int r = ACL_R_KEY; r < ACL_R__COUNT; r++)
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            for (int a = ACL_A_READ; a <= ACL_A_WRITE; a++) {
                bool x = acl_allowed(z1, (enum acl_res)r, names[i], (enum acl_access)a);
                if (x != acl_allowed(z2, (enum acl_res)r, names[i], (enum acl_access)a))
                    abort();
                (void)acl_prefix_ok(z1, (enum acl_res)r, names[i], (enum acl_access)a);
            }
    for (size_t i = 0; i < p.n; i++) /* the rule's own name decides by itself */
        if (p.rules[i].res < ACL_R_FIRST_SINGLE &&
            acl_level_for(z1, p.rules[i].res, p.rules[i].name) == ACL_L_UNSET)
            abort();
    acl_authz_unref(z1);
    acl_authz_unref(z2);
    acl_policy_clear(&p);
    return 0;
}
