/* cli/cmd_catalog.c: the read-only views: `cairn members`, `cairn info`,
 * `cairn catalog services` and `cairn catalog nodes`, laid out as Consul's
 * commands print them (columnize tables, sorted keys). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/regex.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli_int.h"

const struct cli_flag cli__members_flags[] = {
    {"detailed", CLI_BOOL, NULL, "Provides detailed information about nodes."},
    {"wan", CLI_BOOL, NULL,
     "If the agent is in server mode, this can be used to return the other peers in the WAN "
     "pool."},
    {"status", CLI_STR, "regexp",
     "If provided, output is filtered to only nodes matching the regular expression for "
     "status."},
    {"segment", CLI_STR, "string", "(Enterprise-only) accepted for compatibility."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__catalog_services_flags[] = {
    {"node", CLI_STR, "id or name", "Node `id or name` for which to list services."},
    {"node-meta", CLI_MAP, "key=value",
     "Metadata to filter nodes with the given `key=value` pairs. If specified, only services "
     "running on nodes matching the given metadata will be returned. This flag may be "
     "specified multiple times to filter on multiple sources of metadata."},
    {"tags", CLI_BOOL, NULL,
     "Display each service's tags as a comma-separated list beside each service entry."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__catalog_nodes_flags[] = {
    {"detailed", CLI_BOOL, NULL,
     "Output detailed information about the nodes including their addresses and metadata."},
    {"near", CLI_STR, "node name",
     "Node name to sort the node list in ascending order based on estimated round-trip time "
     "from that node. Passing \"_agent\" will use this agent's node for sorting."},
    {"node-meta", CLI_MAP, "key=value",
     "Metadata to filter nodes with the given `key=value` pairs. This flag may be specified "
     "multiple times to filter on multiple sources of metadata."},
    {"service", CLI_STR, "id or name",
     "Service `id or name` to filter nodes. Only nodes which are providing the given service "
     "will be returned."},
    {"filter", CLI_STR, "expression", "Filter to use with the request."},
    {NULL, 0, NULL, NULL},
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of a JSON object, sorted (Go's sort.Strings: bytewise). The array is
 * cn_free'd by the caller; the strings are borrowed from obj. */
static const char **sorted_keys(struct json_object *obj, size_t *n)
{
    *n = 0;
    if (!obj || !json_object_is_type(obj, json_type_object))
        return NULL;
    size_t cnt = (size_t)json_object_object_length(obj);
    const char **k = cn_calloc(cnt ? cnt : 1, sizeof(*k));
    if (!k)
        return NULL;
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        k[(*n)++] = key;
    }
    qsort(k, *n, sizeof(*k), cmp_str);
    return k;
}

/* Consul answers `null` for an unknown node: no data, not an error. */
static int body_is_null(const struct cli_resp *r)
{
    const char *p = r->body.p ? r->body.p : "";
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return *p == '\0' || strncmp(p, "null", 4) == 0;
}

static const char *jstr(struct json_object *o, const char *k)
{
    const char *s = NULL;
    return cn_json_get_str(o, k, &s) == 1 && s ? s : "";
}

/* A string map as Consul's mapToKV prints it: "a=1, b=2", sorted by key. */
static int map_kv(struct cn_buf *b, struct json_object *m)
{
    size_t n;
    const char **k = sorted_keys(m, &n);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct json_object *v = json_object_object_get(m, k[i]);
        rc = cn_buf_printf(b, "%s%s=%s", i ? ", " : "", k[i], v ? json_object_get_string(v) : "");
    }
    cn_free(k);
    return rc;
}

/* Print rows (each a cn_buf of '\x1f'-separated cells) with columnize. */
static void print_rows(struct cli_ctx *c, struct cn_buf *rows, size_t n)
{
    const char **r = cn_calloc(n ? n : 1, sizeof(*r));
    if (!r) {
        fprintf(c->err, "out of memory\n");
        return;
    }
    for (size_t i = 0; i < n; i++)
        r[i] = rows[i].p ? rows[i].p : "";
    cli__columnize(c->out, r, n);
    cn_free(r);
}

static void free_rows(struct cn_buf *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        cn_buf_free(&rows[i]);
    cn_free(rows);
}

/* ---- members ---------------------------------------------------------------- */

struct member {
    struct json_object *m;
    const char *name, *role, *segment, *partition;
};

static int is_default_part(const char *s)
{
    return !*s || strcmp(s, "default") == 0;
}

/* Consul's order: servers first, the default partition next, then by segment,
 * partition and name. */
static int cmp_member(const void *pa, const void *pb)
{
    const struct member *a = pa, *b = pb;
    int sa = strcmp(a->role, "consul") == 0, sb = strcmp(b->role, "consul") == 0;
    if (sa != sb)
        return sb - sa;
    int da = is_default_part(a->partition), db = is_default_part(b->partition);
    if (da != db)
        return db - da;
    int r = strcmp(a->segment, b->segment);
    if (r)
        return r;
    r = strcmp(a->partition, b->partition);
    return r ? r : strcmp(a->name, b->name);
}

static const char *status_name(int64_t s)
{
    /* serf.MemberStatus */
    static const char *const names[] = {"none", "alive", "leaving", "left", "failed"};
    return s >= 0 && s <= 4 ? names[s] : "unknown";
}

static int fmt_addr(struct cn_buf *b, struct json_object *m)
{
    const char *addr = jstr(m, "Addr");
    uint64_t port = 0;
    cn_json_get_u64(m, "Port", &port);
    if (strchr(addr, ':'))
        return cn_buf_printf(b, "[%s]:%llu", addr, (unsigned long long)port);
    return cn_buf_printf(b, "%s:%llu", addr, (unsigned long long)port);
}

int cli__run_members(struct cli_ctx *c, const struct cli_args *a)
{
    const char *status_re = cli__flag_str(a, "status", ".*");
    regex_t re;
    char why[160];
    if (cn_regcomp(&re, status_re, REG_EXTENDED | REG_NOSUB, why, sizeof(why)) != 0) {
        fprintf(c->err, "Failed to compile status regexp: %s: %s\n", status_re, why);
        return 1;
    }
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    struct member *mem = NULL;
    struct cn_buf *rows = NULL;
    size_t nrows = 0;
    int ret = 1;
    if (cli__call(c, "Error retrieving members", "GET", "/v1/agent/members",
                  cli__flag_bool(a, "wan") ? "wan=1" : "", NULL, 0, 0, &r))
        goto out;
    root = cli__json_body(c, "Error retrieving members", &r);
    if (!root)
        goto out;
    if (!json_object_is_type(root, json_type_array)) {
        fprintf(c->err, "Error retrieving members: expected a JSON array\n");
        goto out;
    }
    size_t n = json_object_array_length(root), nm = 0;
    mem = cn_calloc(n ? n : 1, sizeof(*mem));
    rows = cn_calloc(n + 1, sizeof(*rows));
    if (!mem || !rows) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(root, i);
        struct json_object *tags = cn_json_get(m, "Tags");
        int64_t st = 0;
        cn_json_get_i64(m, "Status", &st);
        if (regexec(&re, status_name(st), 0, NULL, 0) != 0)
            continue;
        mem[nm] = (struct member){m, jstr(m, "Name"), jstr(tags, "role"), jstr(tags, "segment"),
                                  jstr(tags, "ap")};
        nm++;
    }
    if (nm == 0) {
        ret = 2; /* Consul: no matching members */
        goto out;
    }
    qsort(mem, nm, sizeof(*mem), cmp_member);
    int detailed = cli__flag_bool(a, "detailed");
    int rc = cn_buf_puts(&rows[0], detailed ? "Node\x1f"
                                              "Address\x1f"
                                              "Status\x1f"
                                              "Tags"
                                            : "Node\x1f"
                                              "Address\x1f"
                                              "Status\x1f"
                                              "Type\x1f"
                                              "Build\x1f"
                                              "Protocol\x1f"
                                              "DC\x1f"
                                              "Partition\x1f"
                                              "Segment");
    nrows = 1;
    for (size_t i = 0; rc == 0 && i < nm; i++) {
        struct json_object *m = mem[i].m, *tags = cn_json_get(m, "Tags");
        struct cn_buf *row = &rows[nrows++];
        int64_t st = 0;
        cn_json_get_i64(m, "Status", &st);
        rc = cn_buf_printf(row, "%s\x1f", mem[i].name);
        if (rc == 0)
            rc = fmt_addr(row, m);
        if (rc == 0)
            rc = cn_buf_printf(row, "\x1f%s\x1f", status_name(st));
        if (rc == 0 && detailed) {
            size_t nk;
            const char **k = sorted_keys(tags, &nk);
            for (size_t j = 0; rc == 0 && j < nk; j++)
                rc = cn_buf_printf(row, "%s%s=%s", j ? "," : "", k[j], jstr(tags, k[j]));
            cn_free(k);
        } else if (rc == 0) {
            const char *role = mem[i].role;
            const char *type = strcmp(role, "consul") == 0 ? "server"
                               : strcmp(role, "node") == 0 ? "client"
                                                           : NULL;
            if (!type) {
                rc = cn_buf_puts(row, "unknown\x1f\x1f\x1f\x1f\x1f");
                continue;
            }
            /* Consul shows the build up to its ':' and fills partition/segment. */
            const char *build = jstr(tags, "build");
            size_t bl = strcspn(build, ":");
            const char *part = *mem[i].partition ? mem[i].partition : "default";
            const char *seg = mem[i].segment;
            if (is_default_part(part))
                seg = strcmp(role, "consul") == 0 ? "<all>" : (*seg ? seg : "<default>");
            else
                seg = "";
            rc = cn_buf_printf(row, "%s\x1f%.*s\x1f%s\x1f%s\x1f%s\x1f%s", type,
                               *build ? (int)bl : 5, *build ? build : "< 0.3", jstr(tags, "vsn"),
                               jstr(tags, "dc"), part, seg);
        }
    }
    for (size_t i = 0; rc == 0 && i < nrows; i++)
        rc = cn_buf_cstr(&rows[i]);
    if (rc < 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    print_rows(c, rows, nrows);
    ret = 0;
out:
    regfree(&re);
    free_rows(rows, nrows);
    cn_free(mem);
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    return ret;
}

/* ---- info ------------------------------------------------------------------- */

int cli__run_info(struct cli_ctx *c, const struct cli_args *a)
{
    (void)a;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    if (cli__call(c, "Error querying agent", "GET", "/v1/agent/self", "", NULL, 0, 0, &r))
        goto out;
    root = cli__json_body(c, "Error querying agent", &r);
    if (!root)
        goto out;
    struct json_object *stats = NULL;
    if (!json_object_object_get_ex(root, "Stats", &stats) ||
        !json_object_is_type(stats, json_type_object)) {
        fprintf(c->err, "Agent response did not contain 'Stats' key\n");
        goto out;
    }
    size_t ns;
    const char **sec = sorted_keys(stats, &ns);
    for (size_t i = 0; i < ns; i++) {
        struct json_object *sub = json_object_object_get(stats, sec[i]);
        fprintf(c->out, "%s:\n", sec[i]);
        if (!json_object_is_type(sub, json_type_object)) {
            fprintf(c->err, "Got invalid subkey in stats: %s\n", sec[i]);
            cn_free(sec);
            goto out;
        }
        size_t nk;
        const char **k = sorted_keys(sub, &nk);
        for (size_t j = 0; j < nk; j++) {
            struct json_object *v = json_object_object_get(sub, k[j]);
            fprintf(c->out, "\t%s = %s\n", k[j], v ? json_object_get_string(v) : "");
        }
        cn_free(k);
    }
    cn_free(sec);
    ret = 0;
out:
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    return ret;
}

/* ---- catalog ---------------------------------------------------------------- */

/* The NUL-terminated path of a catalog listing into b: `all`, or `one` followed by
 * the escaped name when a name is given. */
static int list_path(struct cn_buf *b, const char *all, const char *one, const char *name)
{
    int rc = cn_buf_puts(b, *name ? one : all);
    if (rc == 0 && *name)
        rc = cli__url_escape(b, name, 0);
    return rc ? rc : cn_buf_cstr(b);
}

/* "node-meta=k:v&..." query parameters from the repeatable -node-meta flag. */
static int node_meta_query(struct cn_buf *q, const struct cli_args *a)
{
    const struct cli_flag_val *v = cli__flag(a, "node-meta");
    int rc = 0;
    for (size_t i = 0; v && rc == 0 && i < v->nlist; i++) {
        const char *eq = strchr(v->list[i], '=');
        struct cn_buf kv = CN_BUF_INIT;
        rc = cn_buf_printf(&kv, "%.*s:%s", (int)(eq - v->list[i]), v->list[i], eq + 1);
        if (rc == 0)
            rc = cn_buf_cstr(&kv);
        if (rc == 0)
            rc = cli__query_param(q, "node-meta", kv.p);
        cn_buf_free(&kv);
    }
    return rc ? rc : cn_buf_cstr(q);
}

int cli__run_catalog_services(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    const char *node = cli__flag_str(a, "node", "");
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT, out = CN_BUF_INIT, t = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *root = NULL, *services = NULL;
    int ret = 1, own_services = 0;
    int rc = node_meta_query(&q, a);
    if (rc == 0)
        rc = list_path(&path, "/v1/catalog/services", "/v1/catalog/node/", node);
    if (rc < 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    const char *what = *node ? "Error listing services for node" : "Error listing services";
    if (cli__call(c, what, "GET", path.p, q.p ? q.p : "", NULL, 0, 0, &r))
        goto out;
    if (!body_is_null(&r) && !(root = cli__json_body(c, what, &r)))
        goto out;
    if (*node) {
        /* Fold {"Services": {id: {Service, Tags}}} into name -> tags. */
        services = json_object_new_object();
        own_services = 1;
        struct json_object *svcs = cn_json_get(root, "Services");
        if (svcs && json_object_is_type(svcs, json_type_object)) {
            json_object_object_foreach(svcs, id, s)
            {
                (void)id;
                const char *name = jstr(s, "Service");
                struct json_object *acc = json_object_object_get(services, name);
                if (!acc) {
                    acc = json_object_new_array();
                    json_object_object_add(services, name, acc);
                }
                struct json_object *tags = cn_json_get(s, "Tags");
                for (size_t i = 0; tags && i < json_object_array_length(tags); i++)
                    json_object_array_add(acc, json_object_get(json_object_array_get_idx(tags, i)));
            }
        }
    } else {
        services = root;
    }
    size_t n;
    const char **names = sorted_keys(services, &n);
    if (n == 0) {
        fprintf(c->err, "No services match the given query - try expanding your search.\n");
        cn_free(names);
        ret = 0;
        goto out;
    }
    if (!cli__flag_bool(a, "tags")) {
        for (size_t i = 0; i < n; i++)
            fprintf(c->out, "%s\n", names[i]);
        cn_free(names);
        ret = 0;
        goto out;
    }
    /* Consul: tabwriter, tags sorted and comma-joined, then TrimSpace. */
    rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct json_object *tags = json_object_object_get(services, names[i]);
        size_t nt =
            tags && json_object_is_type(tags, json_type_array) ? json_object_array_length(tags) : 0;
        const char **ts = cn_calloc(nt ? nt : 1, sizeof(*ts));
        if (!ts) {
            rc = CN_ENOMEM;
            break;
        }
        for (size_t j = 0; j < nt; j++)
            ts[j] = json_object_get_string(json_object_array_get_idx(tags, j));
        qsort(ts, nt, sizeof(*ts), cmp_str);
        rc = cn_buf_printf(&t, "%s\t", names[i]);
        for (size_t j = 0; rc == 0 && j < nt; j++)
            rc = cn_buf_printf(&t, "%s%s", j ? "," : "", ts[j] ? ts[j] : "");
        if (rc == 0)
            rc = cn_buf_putc(&t, '\n');
        cn_free(ts);
    }
    cn_free(names);
    if (rc == 0)
        rc = cli__tabwrite(&out, t.p, t.len);
    if (rc < 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    size_t b = 0, e = out.len;
    while (b < e && (out.p[b] == ' ' || out.p[b] == '\n'))
        b++;
    while (e > b && (out.p[e - 1] == ' ' || out.p[e - 1] == '\n'))
        e--;
    fwrite(out.p + b, 1, e - b, c->out);
    fputc('\n', c->out);
    ret = 0;
out:
    if (own_services && services)
        json_object_put(services);
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    cn_buf_free(&out);
    cn_buf_free(&t);
    return ret;
}

int cli__run_catalog_nodes(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    const char *svc = cli__flag_str(a, "service", "");
    const char *near = cli__flag_str(a, "near", "");
    const char *filter = cli__flag_str(a, "filter", "");
    int detailed = cli__flag_bool(a, "detailed");
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cn_buf *rows = NULL;
    size_t nrows = 0;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    int rc = node_meta_query(&q, a);
    if (rc == 0 && *near)
        rc = cli__query_param(&q, "near", near);
    if (rc == 0 && *filter)
        rc = cli__query_param(&q, "filter", filter);
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc == 0)
        rc = list_path(&path, "/v1/catalog/nodes", "/v1/catalog/service/", svc);
    if (rc < 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    const char *what = *svc ? "Error listing nodes for service" : "Error listing nodes";
    if (cli__call(c, what, "GET", path.p, q.p, NULL, 0, 0, &r))
        goto out;
    if (!body_is_null(&r) && !(root = cli__json_body(c, what, &r)))
        goto out;
    if (root && !json_object_is_type(root, json_type_array)) {
        fprintf(c->err, "%s: expected a JSON array\n", what);
        goto out;
    }
    size_t n = root ? json_object_array_length(root) : 0;
    if (n == 0) {
        fprintf(c->err, "No nodes match the given query - try expanding your search.\n");
        ret = 0;
        goto out;
    }
    rows = cn_calloc(n + 1, sizeof(*rows));
    if (!rows) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    rc = cn_buf_puts(&rows[0], detailed ? "Node\x1fID\x1f"
                                          "Address\x1f"
                                          "DC\x1f"
                                          "TaggedAddresses\x1fMeta"
                                        : "Node\x1fID\x1f"
                                          "Address\x1f"
                                          "DC");
    nrows = 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct json_object *nd = json_object_array_get_idx(root, i);
        struct cn_buf *row = &rows[nrows++];
        const char *id = jstr(nd, "ID");
        /* Non-detailed output shortens the ID to its first group. */
        int idlen = (int)strlen(id);
        const char *dash = strchr(id, '-');
        if (!detailed && dash && dash > id)
            idlen = (int)(dash - id);
        rc = cn_buf_printf(row, "%s\x1f%.*s\x1f%s\x1f%s", jstr(nd, "Node"), idlen, id,
                           jstr(nd, "Address"), jstr(nd, "Datacenter"));
        if (rc == 0 && detailed) {
            rc = cn_buf_putc(row, '\x1f');
            if (rc == 0)
                rc = map_kv(row, cn_json_get(nd, "TaggedAddresses"));
            if (rc == 0)
                rc = cn_buf_putc(row, '\x1f');
            if (rc == 0)
                rc = map_kv(row, cn_json_get(nd, *svc ? "NodeMeta" : "Meta"));
        }
    }
    for (size_t i = 0; rc == 0 && i < nrows; i++)
        rc = cn_buf_cstr(&rows[i]);
    if (rc < 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    print_rows(c, rows, nrows);
    ret = 0;
out:
    free_rows(rows, nrows);
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}

/* ---- cairn catalog datacenters ------------------------------------------------- */

const struct cli_flag cli__catalog_datacenters_flags[] = {
    {NULL, 0, NULL, NULL},
};

/* Consul's `catalog datacenters`: one name per line, as the agent lists them. */
int cli__run_catalog_datacenters(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    const char *what = "Error listing datacenters";
    if (cli__call(c, what, "GET", "/v1/catalog/datacenters", "", NULL, 0, 0, &r))
        goto out;
    if (!(root = cli__json_body(c, what, &r)))
        goto out;
    size_t n = json_object_is_type(root, json_type_array) ? json_object_array_length(root) : 0;
    if (n == 0) {
        fprintf(c->err, "No datacenters found\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(c->out, "%s\n", json_object_get_string(json_object_array_get_idx(root, i)));
    ret = 0;
out:
    json_object_put(root);
    cli__resp_free(&r);
    return ret;
}
