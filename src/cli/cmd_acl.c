/* cli/cmd_acl.c: `cairn acl bootstrap | policy ... | token ... | role ...`,
 * Consul's ACL commands (command/acl/...): each one request to /v1/acl/...,
 * printed as Consul's formatter prints it (command/acl/formatter.go: the
 * pretty form, or -format=json for the API's JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli_int.h"

#define FORMAT_FLAG                                                                                \
    {                                                                                              \
        "format", CLI_STR, "pretty|json", "Output format: \"pretty\" (default) or \"json\"."       \
    }
#define POLICY_LINK_FLAGS                                                                          \
    {"policy-id", CLI_LIST, "value", "ID of a policy to link; may be given several times."},       \
    {                                                                                              \
        "policy-name", CLI_LIST, "value", "Name of a policy to link; may be given several times."  \
    }

const struct cli_flag cli__acl_bootstrap_flags[] = {FORMAT_FLAG, {NULL, 0, NULL, NULL}};
const struct cli_flag cli__acl_list_flags[] = {FORMAT_FLAG, {NULL, 0, NULL, NULL}};
const struct cli_flag cli__acl_policy_flags[] = {
    {"id", CLI_STR, "value", "The ID of the policy (read, update, delete)."},
    {"name", CLI_STR, "value", "The name of the policy (create; read, update, delete by name)."},
    {"description", CLI_STR, "value", "A description of the policy."},
    {"rules", CLI_STR, "value",
     "The policy rules: HCL or JSON text, \"@file\" to read a file, or \"-\" for stdin."},
    {"valid-datacenter", CLI_LIST, "value",
     "Datacenter in which the policy is valid; may be given several times."},
    FORMAT_FLAG,
    {NULL, 0, NULL, NULL},
};
const struct cli_flag cli__acl_token_flags[] = {
    {"id", CLI_STR, "value", "The AccessorID of the token (read, update, delete, clone)."},
    {"accessor", CLI_STR, "value", "Create the token with this AccessorID (a UUID)."},
    {"secret", CLI_STR, "value", "Create the token with this SecretID (a UUID)."},
    {"self", CLI_BOOL, NULL, "Read the token the request is made with (read)."},
    {"description", CLI_STR, "value", "A description of the token."},
    POLICY_LINK_FLAGS,
    {"role-id", CLI_LIST, "value", "ID of a role to link; may be given several times."},
    {"role-name", CLI_LIST, "value", "Name of a role to link; may be given several times."},
    {"merge-policies", CLI_BOOL, NULL, "Update: add the given policies to the token's."},
    {"merge-roles", CLI_BOOL, NULL, "Update: add the given roles to the token's."},
    {"expires-ttl", CLI_STR, "duration", "The token expires this long after its creation."},
    {"local", CLI_BOOL, NULL, "Create a local token (this datacenter only)."},
    FORMAT_FLAG,
    {NULL, 0, NULL, NULL},
};
const struct cli_flag cli__acl_role_flags[] = {
    {"id", CLI_STR, "value", "The ID of the role (read, update, delete)."},
    {"name", CLI_STR, "value", "The name of the role."},
    {"description", CLI_STR, "value", "A description of the role."},
    POLICY_LINK_FLAGS,
    FORMAT_FLAG,
    {NULL, 0, NULL, NULL},
};

static const char *js(struct json_object *o, const char *k)
{
    const char *s = NULL;
    return cn_json_get_str(o, k, &s) == 1 && s ? s : "";
}

static bool want_json(struct cli_ctx *c, const struct cli_args *a, int *bad)
{
    const char *f = cli__flag_str(a, "format", "pretty");
    *bad = strcmp(f, "pretty") && strcmp(f, "json");
    if (*bad)
        fprintf(c->err, "Invalid format: %s (pretty or json)\n", f);
    return !strcmp(f, "json");
}

static void print_links(FILE *f, struct json_object *o, const char *key, const char *title,
                        const char *ind)
{
    struct json_object *arr = cn_json_get(o, key);
    if (!arr || !json_object_is_type(arr, json_type_array) || !json_object_array_length(arr))
        return;
    fprintf(f, "%s%s:\n", ind, title);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *l = json_object_array_get_idx(arr, i);
        fprintf(f, "%s   %s - %s\n", ind, js(l, "ID"), js(l, "Name"));
    }
}

static void print_token(FILE *f, struct json_object *t)
{
    int b = 0;
    cn_json_get_bool(t, "Local", &b);
    fprintf(f, "AccessorID:       %s\n", js(t, "AccessorID"));
    fprintf(f, "SecretID:         %s\n", js(t, "SecretID"));
    fprintf(f, "Description:      %s\n", js(t, "Description"));
    fprintf(f, "Local:            %s\n", b ? "true" : "false");
    fprintf(f, "Create Time:      %s\n", js(t, "CreateTime"));
    if (*js(t, "ExpirationTime"))
        fprintf(f, "Expiration Time:  %s\n", js(t, "ExpirationTime"));
    print_links(f, t, "Policies", "Policies", "");
    print_links(f, t, "Roles", "Roles", "");
}

static void print_dcs(FILE *f, struct json_object *p)
{
    struct json_object *d = cn_json_get(p, "Datacenters");
    size_t n = d && json_object_is_type(d, json_type_array) ? json_object_array_length(d) : 0;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(d, i)));
    fprintf(f, "\n");
}

static void print_policy(FILE *f, struct json_object *p)
{
    fprintf(f, "ID:           %s\n", js(p, "ID"));
    fprintf(f, "Name:         %s\n", js(p, "Name"));
    fprintf(f, "Description:  %s\n", js(p, "Description"));
    fprintf(f, "Datacenters:  ");
    print_dcs(f, p);
    fprintf(f, "Rules:\n%s\n", js(p, "Rules"));
}

static void print_role(FILE *f, struct json_object *r, const char *ind)
{
    fprintf(f, "%sID:           %s\n", ind, js(r, "ID"));
    if (!*ind)
        fprintf(f, "Name:         %s\n", js(r, "Name"));
    fprintf(f, "%sDescription:  %s\n", ind, js(r, "Description"));
    print_links(f, r, "Policies", "Policies", ind);
}

enum kind { K_TOKEN, K_POLICY, K_ROLE };

static void print_obj(struct cli_ctx *c, enum kind k, struct json_object *o, bool json)
{
    if (json) {
        fprintf(c->out, "%s\n",
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_SPACED |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
        return;
    }
    if (k == K_TOKEN)
        print_token(c->out, o);
    else if (k == K_POLICY)
        print_policy(c->out, o);
    else
        print_role(c->out, o, "");
}

/* One request whose JSON answer is printed. */
static int request(struct cli_ctx *c, const struct cli_args *a, enum kind k, const char *what,
                   const char *method, const char *path, struct json_object *body, bool list)
{
    int bad;
    bool json = want_json(c, a, &bad);
    if (bad)
        return 1;
    const char *txt = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
    struct cli_resp r = {0};
    int ret = 1;
    struct json_object *root = NULL;
    if (cli__call(c, what, method, path, "", txt, txt ? strlen(txt) : 0, 0, &r))
        goto out;
    if (!(root = cli__json_body(c, what, &r)))
        goto out;
    ret = 0;
    if (!list) {
        print_obj(c, k, root, json);
        goto out;
    }
    if (json) {
        print_obj(c, k, root, true);
        goto out;
    }
    size_t n = json_object_is_type(root, json_type_array) ? json_object_array_length(root) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(root, i);
        if (k == K_TOKEN) {
            if (i)
                fprintf(c->out, "\n");
            print_token(c->out, o);
        } else if (k == K_POLICY) {
            fprintf(c->out, "%s:\n", js(o, "Name"));
            fprintf(c->out, "   ID:           %s\n", js(o, "ID"));
            fprintf(c->out, "   Description:  %s\n", js(o, "Description"));
            fprintf(c->out, "   Datacenters:  ");
            print_dcs(c->out, o);
        } else {
            fprintf(c->out, "%s:\n", js(o, "Name"));
            print_role(c->out, o, "   ");
        }
    }
out:
    json_object_put(root);
    cli__resp_free(&r);
    return ret;
}

static int path2(struct cn_buf *b, const char *prefix, const char *seg, const char *suffix)
{
    if (cli__path_seg(b, prefix, seg))
        return -1;
    if (suffix && (cn_buf_puts(b, suffix) || cn_buf_cstr(b)))
        return -1;
    return 0;
}

static void add_links(struct json_object *body, const struct cli_args *a, const char *key,
                      const char *idflag, const char *nameflag)
{
    const struct cli_flag_val *ids = cli__flag(a, idflag), *names = cli__flag(a, nameflag);
    size_t n = (ids ? ids->nlist : 0) + (names ? names->nlist : 0);
    if (!n)
        return;
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; ids && i < ids->nlist; i++) {
        struct json_object *l = json_object_new_object();
        json_object_object_add(l, "ID", json_object_new_string(ids->list[i]));
        json_object_array_add(arr, l);
    }
    for (size_t i = 0; names && i < names->nlist; i++) {
        struct json_object *l = json_object_new_object();
        json_object_object_add(l, "Name", json_object_new_string(names->list[i]));
        json_object_array_add(arr, l);
    }
    json_object_object_add(body, key, arr);
}

static void add_str(struct json_object *body, const struct cli_args *a, const char *flag,
                    const char *key)
{
    if (cli__flag_isset(a, flag))
        json_object_object_add(body, key, json_object_new_string(cli__flag_str(a, flag, "")));
}

/* Resolve -id or -name of a policy/role to an ID into b ("" when neither). */
static int resolve_id(struct cli_ctx *c, const struct cli_args *a, enum kind k, struct cn_buf *b)
{
    const char *id = cli__flag_str(a, "id", "");
    if (*id)
        return cn_buf_puts(b, id) || cn_buf_cstr(b) ? -1 : 0;
    const char *name = cli__flag_str(a, "name", "");
    if (!*name) {
        fprintf(c->err, "Must specify the -id or -name parameter\n");
        return -1;
    }
    struct cn_buf p = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int rc = -1;
    const char *what = k == K_POLICY ? "Error reading policy" : "Error reading role";
    if (!cli__path_seg(&p, k == K_POLICY ? "/v1/acl/policy/name/" : "/v1/acl/role/name/", name) &&
        !cli__call(c, what, "GET", p.p, "", NULL, 0, 0, &r) && (root = cli__json_body(c, what, &r)))
        rc = cn_buf_puts(b, js(root, "ID")) || cn_buf_cstr(b) ? -1 : 0;
    json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&p);
    return rc;
}

static int read_rules(struct cli_ctx *c, const char *arg, struct cn_buf *b)
{
    char err[512];
    if (arg[0] == '@' || !strcmp(arg, "-")) {
        if (cli__read_file(b, arg[0] == '@' ? arg + 1 : "-", err, sizeof(err)) < 0) {
            fprintf(c->err, "Failed to read rules: %s\n", err);
            return -1;
        }
        return cn_buf_cstr(b) ? -1 : 0;
    }
    return cn_buf_puts(b, arg) || cn_buf_cstr(b) ? -1 : 0;
}

/* ---- commands ------------------------------------------------------------------- */

int cli__run_acl_bootstrap(struct cli_ctx *c, const struct cli_args *a)
{
    return request(c, a, K_TOKEN, "Failed ACL bootstrapping", "PUT", "/v1/acl/bootstrap", NULL,
                   false);
}

static int policy_write(struct cli_ctx *c, const struct cli_args *a, bool update)
{
    struct cn_buf id = CN_BUF_INIT, rules = CN_BUF_INIT, path = CN_BUF_INIT;
    struct json_object *body = json_object_new_object(), *old = NULL;
    struct cli_resp r = {0};
    int ret = 1;
    if (update) {
        if (resolve_id(c, a, K_POLICY, &id))
            goto out;
        /* Consul's update keeps what is not given: start from the policy. */
        if (path2(&path, "/v1/acl/policy/", id.p, NULL) ||
            cli__call(c, "Error reading policy", "GET", path.p, "", NULL, 0, 0, &r) ||
            !(old = cli__json_body(c, "Error reading policy", &r)))
            goto out;
        json_object_object_add(body, "ID", json_object_new_string(id.p));
        json_object_object_add(body, "Name", json_object_new_string(js(old, "Name")));
        json_object_object_add(body, "Description", json_object_new_string(js(old, "Description")));
        json_object_object_add(body, "Rules", json_object_new_string(js(old, "Rules")));
        if (cli__flag_isset(a, "id"))
            add_str(body, a, "name", "Name");
    } else {
        if (!*cli__flag_str(a, "name", "")) {
            fprintf(c->err, "Missing required '-name' flag\n");
            goto out;
        }
        add_str(body, a, "name", "Name");
    }
    add_str(body, a, "description", "Description");
    if (cli__flag_isset(a, "rules")) {
        if (read_rules(c, cli__flag_str(a, "rules", ""), &rules))
            goto out;
        json_object_object_add(body, "Rules", json_object_new_string(rules.p ? rules.p : ""));
    }
    const struct cli_flag_val *dcs = cli__flag(a, "valid-datacenter");
    if (dcs && dcs->nlist) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < dcs->nlist; i++)
            json_object_array_add(arr, json_object_new_string(dcs->list[i]));
        json_object_object_add(body, "Datacenters", arr);
    }
    cn_buf_reset(&path);
    if (update ? path2(&path, "/v1/acl/policy/", id.p, NULL)
               : (cn_buf_puts(&path, "/v1/acl/policy") || cn_buf_cstr(&path)))
        goto out;
    ret =
        request(c, a, K_POLICY, update ? "Failed to update policy" : "Failed to create new policy",
                "PUT", path.p, body, false);
out:
    json_object_put(body);
    json_object_put(old);
    cli__resp_free(&r);
    cn_buf_free(&id);
    cn_buf_free(&rules);
    cn_buf_free(&path);
    return ret;
}

int cli__run_acl_policy_create(struct cli_ctx *c, const struct cli_args *a)
{
    return policy_write(c, a, false);
}
int cli__run_acl_policy_update(struct cli_ctx *c, const struct cli_args *a)
{
    return policy_write(c, a, true);
}

int cli__run_acl_policy_list(struct cli_ctx *c, const struct cli_args *a)
{
    return request(c, a, K_POLICY, "Failed to retrieve the policy list", "GET", "/v1/acl/policies",
                   NULL, true);
}

static int read_or_delete(struct cli_ctx *c, const struct cli_args *a, enum kind k, bool del)
{
    struct cn_buf id = CN_BUF_INIT, path = CN_BUF_INIT;
    int ret = 1;
    static const char *const prefix[] = {"/v1/acl/token/", "/v1/acl/policy/", "/v1/acl/role/"};
    static const char *const noun[] = {"token", "policy", "role"};
    static const char *const Noun[] = {"Token", "Policy", "Role"};
    if (k == K_TOKEN) {
        if (!del && cli__flag_bool(a, "self")) {
            ret = request(c, a, k, "Error reading token", "GET", "/v1/acl/token/self", NULL, false);
            goto out;
        }
        const char *tid = cli__flag_str(a, "id", "");
        if (!*tid) {
            fprintf(c->err, "Must specify the -id parameter\n");
            goto out;
        }
        if (cn_buf_puts(&id, tid) || cn_buf_cstr(&id))
            goto out;
    } else if (resolve_id(c, a, k, &id)) {
        goto out;
    }
    if (path2(&path, prefix[k], id.p, NULL))
        goto out;
    if (!del) {
        char what[64];
        snprintf(what, sizeof(what), "Error reading %s %s", noun[k], id.p);
        ret = request(c, a, k, what, "GET", path.p, NULL, false);
        goto out;
    }
    struct cli_resp r = {0};
    char what[128];
    snprintf(what, sizeof(what), "Error deleting %s %s", noun[k], id.p);
    if (!cli__call(c, what, "DELETE", path.p, "", NULL, 0, 0, &r)) {
        fprintf(c->out, "%s \"%s\" deleted successfully\n", Noun[k], id.p);
        ret = 0;
    }
    cli__resp_free(&r);
out:
    cn_buf_free(&id);
    cn_buf_free(&path);
    return ret;
}

int cli__run_acl_policy_read(struct cli_ctx *c, const struct cli_args *a)
{
    return read_or_delete(c, a, K_POLICY, false);
}
int cli__run_acl_policy_delete(struct cli_ctx *c, const struct cli_args *a)
{
    return read_or_delete(c, a, K_POLICY, true);
}
int cli__run_acl_token_read(struct cli_ctx *c, const struct cli_args *a)
{
    return read_or_delete(c, a, K_TOKEN, false);
}
int cli__run_acl_token_delete(struct cli_ctx *c, const struct cli_args *a)
{
    return read_or_delete(c, a, K_TOKEN, true);
}
int cli__run_acl_role_read(struct cli_ctx *c, const struct cli_args *a)
{
    return read_or_delete(c, a, K_ROLE, false);
}
int cli__run_acl_role_delete(struct cli_ctx *c, const struct cli_args *a)
{
    return read_or_delete(c, a, K_ROLE, true);
}

int cli__run_acl_token_list(struct cli_ctx *c, const struct cli_args *a)
{
    return request(c, a, K_TOKEN, "Failed to retrieve the token list", "GET", "/v1/acl/tokens",
                   NULL, true);
}
int cli__run_acl_role_list(struct cli_ctx *c, const struct cli_args *a)
{
    return request(c, a, K_ROLE, "Failed to retrieve the role list", "GET", "/v1/acl/roles", NULL,
                   true);
}

/* Merge the old token's links of `key` into body's (update -merge-*). */
static void merge_links(struct json_object *body, struct json_object *old, const char *key)
{
    struct json_object *o = cn_json_get(old, key), *n = NULL;
    if (!o || !json_object_is_type(o, json_type_array))
        return;
    if (!json_object_object_get_ex(body, key, &n)) {
        n = json_object_new_array();
        json_object_object_add(body, key, n);
    }
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        struct json_object *l = json_object_new_object();
        json_object_object_add(l, "ID",
                               json_object_new_string(js(json_object_array_get_idx(o, i), "ID")));
        json_object_array_add(n, l);
    }
}

static int token_write(struct cli_ctx *c, const struct cli_args *a, int mode /* 0 create, 1
                                                                                update, 2 clone */)
{
    struct json_object *body = json_object_new_object(), *old = NULL;
    struct cn_buf path = CN_BUF_INIT;
    struct cli_resp r = {0};
    int ret = 1;
    const char *id = cli__flag_str(a, "id", "");
    if (mode && !*id) {
        fprintf(c->err, "Must specify the -id parameter\n");
        goto out;
    }
    add_str(body, a, "description", "Description");
    if (mode == 2) {
        if (path2(&path, "/v1/acl/token/", id, "/clone"))
            goto out;
        ret = request(c, a, K_TOKEN, "Failed to clone token", "PUT", path.p, body, false);
        goto out;
    }
    add_links(body, a, "Policies", "policy-id", "policy-name");
    add_links(body, a, "Roles", "role-id", "role-name");
    if (mode == 0) {
        add_str(body, a, "accessor", "AccessorID");
        add_str(body, a, "secret", "SecretID");
        add_str(body, a, "expires-ttl", "ExpirationTTL");
        if (cli__flag_bool(a, "local"))
            json_object_object_add(body, "Local", json_object_new_boolean(1));
        ret = request(c, a, K_TOKEN, "Failed to create new token", "PUT", "/v1/acl/token", body,
                      false);
        goto out;
    }
    /* update: Consul's command reads the token and keeps what is not given */
    if (path2(&path, "/v1/acl/token/", id, NULL) ||
        cli__call(c, "Failed to get token", "GET", path.p, "", NULL, 0, 0, &r) ||
        !(old = cli__json_body(c, "Failed to get token", &r)))
        goto out;
    if (!cli__flag_isset(a, "description"))
        json_object_object_add(body, "Description", json_object_new_string(js(old, "Description")));
    bool newpol = json_object_object_get_ex(body, "Policies", NULL);
    bool newrole = json_object_object_get_ex(body, "Roles", NULL);
    if (!newpol || cli__flag_bool(a, "merge-policies"))
        merge_links(body, old, "Policies");
    if (!newrole || cli__flag_bool(a, "merge-roles"))
        merge_links(body, old, "Roles");
    int local = 0;
    cn_json_get_bool(old, "Local", &local);
    json_object_object_add(body, "Local", json_object_new_boolean(local));
    ret = request(c, a, K_TOKEN, "Failed to update token", "PUT", path.p, body, false);
out:
    json_object_put(body);
    json_object_put(old);
    cli__resp_free(&r);
    cn_buf_free(&path);
    return ret;
}

int cli__run_acl_token_create(struct cli_ctx *c, const struct cli_args *a)
{
    return token_write(c, a, 0);
}
int cli__run_acl_token_update(struct cli_ctx *c, const struct cli_args *a)
{
    return token_write(c, a, 1);
}
int cli__run_acl_token_clone(struct cli_ctx *c, const struct cli_args *a)
{
    return token_write(c, a, 2);
}

static int role_write(struct cli_ctx *c, const struct cli_args *a, bool update)
{
    struct json_object *body = json_object_new_object(), *old = NULL;
    struct cn_buf id = CN_BUF_INIT, path = CN_BUF_INIT;
    struct cli_resp r = {0};
    int ret = 1;
    if (update) {
        if (resolve_id(c, a, K_ROLE, &id) || path2(&path, "/v1/acl/role/", id.p, NULL) ||
            cli__call(c, "Error reading role", "GET", path.p, "", NULL, 0, 0, &r) ||
            !(old = cli__json_body(c, "Error reading role", &r)))
            goto out;
        json_object_object_add(body, "Name", json_object_new_string(js(old, "Name")));
        json_object_object_add(body, "Description", json_object_new_string(js(old, "Description")));
        if (cli__flag_isset(a, "id"))
            add_str(body, a, "name", "Name");
    } else {
        if (!*cli__flag_str(a, "name", "")) {
            fprintf(c->err, "Missing required '-name' flag\n");
            goto out;
        }
        add_str(body, a, "name", "Name");
    }
    add_str(body, a, "description", "Description");
    add_links(body, a, "Policies", "policy-id", "policy-name");
    if (update && !json_object_object_get_ex(body, "Policies", NULL))
        merge_links(body, old, "Policies");
    if (!update && (cn_buf_puts(&path, "/v1/acl/role") || cn_buf_cstr(&path)))
        goto out;
    ret = request(c, a, K_ROLE, update ? "Failed to update role" : "Failed to create new role",
                  "PUT", path.p, body, false);
out:
    json_object_put(body);
    json_object_put(old);
    cli__resp_free(&r);
    cn_buf_free(&id);
    cn_buf_free(&path);
    return ret;
}

int cli__run_acl_role_create(struct cli_ctx *c, const struct cli_args *a)
{
    return role_write(c, a, false);
}
int cli__run_acl_role_update(struct cli_ctx *c, const struct cli_args *a)
{
    return role_write(c, a, true);
}
