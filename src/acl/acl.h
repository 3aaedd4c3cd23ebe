/* acl/acl.h: Consul's ACL rule language and the authorizer compiled from it
 * (Consul's acl/policy.go, policy_authorizer.go, policy_merger.go).
 *
 * Rules are HCL or JSON (config/hcl.c parses both): `key_prefix "app/" {
 * policy = "write" }`, `key`, `service(_prefix)`, `node(_prefix)`,
 * `session(_prefix)`, `agent(_prefix)`, `event(_prefix)`, `query(_prefix)`,
 * and the single-valued `operator`, `acl`, `keyring`, `mesh` = "read" |
 * "write" | "deny" ("list" for keys). An authorizer merges any number of
 * parsed policies: per (resource, name, exact|prefix) the stronger level wins
 * with deny strongest (deny > write > list > read, takesPrecedenceOver); a
 * lookup takes the exact rule for the name, else the longest prefix rule,
 * else the default (deny, or allow for a default-allow authorizer).
 *
 * Pure: no I/O, no globals. An authorizer is immutable once built: lookups
 * are a binary search in a sorted table per resource plus a walk of the
 * name's prefixes that are rules (no allocation). */
#ifndef CN_ACL_ACL_H
#define CN_ACL_ACL_H

#include <stdbool.h>
#include <stddef.h>

enum acl_res {
    ACL_R_NONE = 0, /* no check (a route Consul serves to anyone) */
    ACL_R_KEY,
    ACL_R_SERVICE,
    ACL_R_NODE,
    ACL_R_SESSION,
    ACL_R_AGENT,
    ACL_R_EVENT,
    ACL_R_QUERY,
    ACL_R_OPERATOR, /* single-valued from here on */
    ACL_R_ACL,
    ACL_R_KEYRING,
    ACL_R_MESH,
    ACL_R__COUNT
};
#define ACL_R_FIRST_SINGLE ACL_R_OPERATOR

/* Levels, weakest first; merging takes the higher, except deny which wins. */
enum acl_level { ACL_L_UNSET = 0, ACL_L_READ, ACL_L_LIST, ACL_L_WRITE, ACL_L_DENY };
/* What a request needs. */
enum acl_access { ACL_A_READ = 1, ACL_A_LIST, ACL_A_WRITE };

/* Consul's resource names ("key", "service", ..., "operator"). */
const char *acl_res_name(enum acl_res r);
const char *acl_access_name(enum acl_access a); /* "read", "list", "write" */

struct acl_rule {
    enum acl_res res;
    bool prefix;
    enum acl_level level;
    char *name; /* owned; "" for single-valued resources */
};
struct acl_policy {
    struct acl_rule *rules;
    size_t n;
};

/* Parse rules text (HCL, or JSON when it starts with '{' after blanks).
 * 0 with *out filled (acl_policy_clear), or CN_EINVAL with Consul's text in
 * err ("Failed to parse ACL rules: ...", "Invalid key_prefix policy: ..."),
 * or CN_ENOMEM. An empty text is an empty policy. */
int acl_policy_parse(const char *text, size_t len, struct acl_policy *out, char *err,
                     size_t errcap);
void acl_policy_clear(struct acl_policy *p);

struct acl_authz;
/* Compile the merge of n policies. default_allow: what a name no rule
 * covers gets (Consul's default_policy as the chained default authorizer);
 * manage: everything allowed (global-management). NULL on OOM. */
struct acl_authz *acl_authz_new(const struct acl_policy *const *pols, size_t n, bool default_allow);
struct acl_authz *acl_authz_manage(void);
/* Authorizers are reference counted (one thread): new/manage return one
 * reference; unref frees at zero. NULL ok. */
struct acl_authz *acl_authz_ref(struct acl_authz *z);
void acl_authz_unref(struct acl_authz *z);
bool acl_authz_default_allow(const struct acl_authz *z);
/* May `access` be had on resource r, name (ignored for single-valued)? */
bool acl_allowed(const struct acl_authz *z, enum acl_res r, const char *name, enum acl_access a);
/* The level that decides (ACL_L_UNSET: no rule, the default applies). */
enum acl_level acl_level_for(const struct acl_authz *z, enum acl_res r, const char *name);
bool acl_authz_is_manage(const struct acl_authz *z);
/* Consul's KeyWritePrefix: write on prefix itself and no rule for a longer
 * name under prefix grants less than write. */
bool acl_write_prefix_ok(const struct acl_authz *z, enum acl_res r, const char *prefix);
/* The same for any access: `a` on prefix and on every rule beneath it. */
bool acl_prefix_ok(const struct acl_authz *z, enum acl_res r, const char *prefix,
                   enum acl_access a);

#endif
