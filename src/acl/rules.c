/* acl/rules.c: Consul's ACL rule language (acl/policy.go parseCurrent) into
 * a flat list of rules. The text is HCL or JSON, parsed by config/hcl.c into
 * the same json-c tree either way; each resource key holds name -> { policy
 * = "..." } (a repeated HCL block becomes a list of such objects). Unknown
 * resources and fields are refused (Consul's HCL decoder dropped them
 * silently: cairn never accepts what it would ignore). */
#include <stdio.h>
#include <string.h>

#include "acl/acl.h"
#include "base/err.h"
#include "base/mem.h"
#include "config/hcl.h"

static const char *const res_names[ACL_R__COUNT] = {
    [ACL_R_NONE] = "",       [ACL_R_KEY] = "key",         [ACL_R_SERVICE] = "service",
    [ACL_R_NODE] = "node",   [ACL_R_SESSION] = "session", [ACL_R_AGENT] = "agent",
    [ACL_R_EVENT] = "event", [ACL_R_QUERY] = "query",     [ACL_R_OPERATOR] = "operator",
    [ACL_R_ACL] = "acl",     [ACL_R_KEYRING] = "keyring", [ACL_R_MESH] = "mesh",
};

const char *acl_res_name(enum acl_res r)
{
    return (unsigned)r < ACL_R__COUNT ? res_names[r] : "";
}

const char *acl_access_name(enum acl_access a)
{
    return a == ACL_A_WRITE ? "write" : a == ACL_A_LIST ? "list" : "read";
}

/* Go's %#v of the policy structs, as Consul's texts print them. */
static const char *go_type(enum acl_res r, const char **field)
{
    switch (r) {
    case ACL_R_KEY:
        *field = "Prefix";
        return "KeyPolicy";
    case ACL_R_SERVICE:
        *field = "Name";
        return "ServicePolicy";
    case ACL_R_NODE:
        *field = "Name";
        return "NodePolicy";
    case ACL_R_SESSION:
        *field = "Node";
        return "SessionPolicy";
    case ACL_R_AGENT:
        *field = "Node";
        return "AgentPolicy";
    case ACL_R_EVENT:
        *field = "Event";
        return "EventPolicy";
    default:
        *field = "Prefix";
        return "PreparedQueryPolicy";
    }
}

static int level_of(const char *s, bool list_ok, enum acl_level *out)
{
    if (!strcmp(s, "read"))
        *out = ACL_L_READ;
    else if (!strcmp(s, "write"))
        *out = ACL_L_WRITE;
    else if (!strcmp(s, "deny"))
        *out = ACL_L_DENY;
    else if (list_ok && !strcmp(s, "list"))
        *out = ACL_L_LIST;
    else
        return -1;
    return 0;
}

struct pctx {
    struct acl_policy *p;
    size_t cap;
    char *err;
    size_t errcap;
};

static int add(struct pctx *c, enum acl_res r, bool prefix, const char *name, enum acl_level l)
{
    if (c->p->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct acl_rule *nr = cn_realloc(c->p->rules, nc * sizeof(*nr));
        if (!nr)
            return CN_ENOMEM;
        c->p->rules = nr;
        c->cap = nc;
    }
    char *d = cn_strdup(name);
    if (!d)
        return CN_ENOMEM;
    c->p->rules[c->p->n++] = (struct acl_rule){.res = r, .prefix = prefix, .level = l, .name = d};
    return 0;
}

static int bad(struct pctx *c, const char *fmt, const char *a, const char *b)
{
    snprintf(c->err, c->errcap, fmt, a, b);
    return CN_EINVAL;
}

/* One `name { policy = "..." }` entry. */
static int rule(struct pctx *c, enum acl_res r, bool prefix, const char *key, const char *name,
                struct json_object *body)
{
    if (!json_object_is_type(body, json_type_object))
        return bad(c, "Failed to parse ACL rules: %s \"%s\": expected a block", key, name);
    const char *pol = NULL, *intentions = NULL;
    json_object_object_foreach(body, k, v)
    {
        if (!strcmp(k, "policy") && json_object_is_type(v, json_type_string))
            pol = json_object_get_string(v);
        else if (r == ACL_R_SERVICE && !strcmp(k, "intentions") &&
                 json_object_is_type(v, json_type_string))
            intentions = json_object_get_string(v);
        else
            return bad(c, "Failed to parse ACL rules: %s: unsupported field \"%s\"", key, k);
    }
    enum acl_level l;
    if (!pol || level_of(pol, r == ACL_R_KEY, &l)) {
        const char *field, *type = go_type(r, &field);
        char msg[512];
        snprintf(msg, sizeof(msg), "&acl.%s{%s:\"%s\", Policy:\"%s\"}", type, field, name,
                 pol ? pol : "");
        return bad(c, "Invalid %s policy: %s", key, msg);
    }
    enum acl_level il;
    if (intentions && level_of(intentions, false, &il))
        return bad(c, "Invalid %s intentions policy: \"%s\"", key, intentions);
    return add(c, r, prefix, name, l);
}

/* key_prefix = { "a" = {...}, "b" = {...} } or a list of such objects. */
static int entries(struct pctx *c, enum acl_res r, bool prefix, const char *key,
                   struct json_object *v, int depth)
{
    if (json_object_is_type(v, json_type_array)) {
        if (depth > 2)
            return bad(c, "Failed to parse ACL rules: %s: nested lists%s", key, "");
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++)
            CN_TRY(entries(c, r, prefix, key, json_object_array_get_idx(v, i), depth + 1));
        return 0;
    }
    if (!json_object_is_type(v, json_type_object))
        return bad(c, "Failed to parse ACL rules: %s: expected `%s \"name\" { policy = ... }`", key,
                   key);
    json_object_object_foreach(v, name, body)
    {
        if (json_object_is_type(body, json_type_array)) {
            size_t n = json_object_array_length(body);
            for (size_t i = 0; i < n; i++)
                CN_TRY(rule(c, r, prefix, key, name, json_object_array_get_idx(body, i)));
        } else {
            CN_TRY(rule(c, r, prefix, key, name, body));
        }
    }
    return 0;
}

static int top(struct pctx *c, const char *k, struct json_object *v)
{
    for (int r = ACL_R_KEY; r < ACL_R__COUNT; r++) {
        const char *rn = res_names[r];
        size_t n = strlen(rn);
        if (strncmp(k, rn, n) != 0)
            continue;
        if (r >= ACL_R_FIRST_SINGLE) {
            if (k[n])
                continue;
            enum acl_level l;
            const char *s =
                json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
            if (!s)
                return bad(c, "Failed to parse ACL rules: %s: expected a string%s", k, "");
            if (!*s)
                return 0; /* Consul: "this one is allowed to be empty" */
            if (level_of(s, false, &l))
                return bad(c, "Invalid %s policy: \"%s\"", k, s);
            return add(c, (enum acl_res)r, false, "", l);
        }
        if (!k[n])
            return entries(c, (enum acl_res)r, false, k, v, 0);
        if (!strcmp(k + n, "_prefix"))
            return entries(c, (enum acl_res)r, true, k, v, 0);
    }
    return bad(c, "Failed to parse ACL rules: unknown resource \"%s\"%s", k, "");
}

int acl_policy_parse(const char *text, size_t len, struct acl_policy *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    if (err && errcap)
        err[0] = '\0';
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i == len)
        return 0;
    char perr[256];
    struct json_object *tree =
        cfg_parse(text, len, text[i] == '{' ? CFG_FMT_JSON : CFG_FMT_HCL, perr, sizeof(perr));
    struct pctx c = {.p = out, .err = err, .errcap = errcap};
    char dummy[1];
    if (!err || !errcap) {
        c.err = dummy;
        c.errcap = sizeof(dummy);
    }
    if (!tree)
        return bad(&c, "Failed to parse ACL rules: %s%s", perr, "");
    int rc = 0;
    json_object_object_foreach(tree, k, v)
    {
        if ((rc = top(&c, k, v)))
            break;
    }
    json_object_put(tree);
    if (rc)
        acl_policy_clear(out);
    return rc;
}

void acl_policy_clear(struct acl_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        cn_free(p->rules[i].name);
    cn_free(p->rules);
    memset(p, 0, sizeof(*p));
}
