/* api/filter.c: `?filter=` on the endpoints Consul documents it for
 * (website/content/api-docs/features/filtering.mdx and each endpoint's
 * "Filtering" table). The schemas name the selectors each endpoint accepts,
 * with the Go types go-bexpr derives from Consul's structs; the expression is
 * evaluated against the JSON object the endpoint writes for each item, so
 * what a filter sees is exactly what the client reads. */
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"

/* structs.Weights */
static const struct filter_field f_weights[] = {
    {"Passing", FILTER_INT, NULL},
    {"Warning", FILTER_INT, NULL},
    {NULL, 0, NULL},
};

/* structs.ServiceAddress, the element of a service's TaggedAddresses */
static const struct filter_field f_svc_addr[] = {
    {"Address", FILTER_STR, NULL},
    {"Port", FILTER_INT, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_svc_addr_elem[] = {
    {"*", FILTER_STRUCT, f_svc_addr},
    {NULL, 0, NULL},
};

/* structs.ServiceConnect and the parts of ConnectProxyConfig a filter may
 * name (cairn refuses both on registration, so they are always empty). */
static const struct filter_field f_connect[] = {
    {"Native", FILTER_BOOL, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_proxy[] = {
    {"DestinationServiceName", FILTER_STR, NULL},
    {"DestinationServiceID", FILTER_STR, NULL},
    {"LocalServiceAddress", FILTER_STR, NULL},
    {"LocalServicePort", FILTER_INT, NULL},
    {"LocalServiceSocketPath", FILTER_STR, NULL},
    {"Mode", FILTER_STR, NULL},
    {NULL, 0, NULL},
};

/* structs.Node (catalog nodes; health service's Node) */
const struct filter_field api_filter_node[] = {
    {"ID", FILTER_STR, NULL},
    {"Node", FILTER_STR, NULL},
    {"Address", FILTER_STR, NULL},
    {"Datacenter", FILTER_STR, NULL},
    {"TaggedAddresses", FILTER_STR_MAP, NULL},
    {"Meta", FILTER_STR_MAP, NULL},
    {NULL, 0, NULL},
};

/* structs.NodeService (catalog node/node-services; health service's Service)
 * and structs.AgentService (agent services) share these selectors. */
const struct filter_field api_filter_service[] = {
    {"Kind", FILTER_STR, NULL},
    {"ID", FILTER_STR, NULL},
    {"Service", FILTER_STR, NULL},
    {"Tags", FILTER_STR_LIST, NULL},
    {"Address", FILTER_STR, NULL},
    {"TaggedAddresses", FILTER_STRUCT_MAP, f_svc_addr_elem},
    {"Meta", FILTER_STR_MAP, NULL},
    {"Port", FILTER_INT, NULL},
    {"Weights", FILTER_STRUCT, f_weights},
    {"EnableTagOverride", FILTER_BOOL, NULL},
    {"Proxy", FILTER_STRUCT, f_proxy},
    {"Connect", FILTER_STRUCT, f_connect},
    {"Datacenter", FILTER_STR, NULL},
    {NULL, 0, NULL},
};

/* structs.ServiceNode (catalog service/:name and catalog services) */
const struct filter_field api_filter_service_node[] = {
    {"ID", FILTER_STR, NULL},
    {"Node", FILTER_STR, NULL},
    {"Address", FILTER_STR, NULL},
    {"Datacenter", FILTER_STR, NULL},
    {"TaggedAddresses", FILTER_STR_MAP, NULL},
    {"NodeMeta", FILTER_STR_MAP, NULL},
    {"ServiceKind", FILTER_STR, NULL},
    {"ServiceID", FILTER_STR, NULL},
    {"ServiceName", FILTER_STR, NULL},
    {"ServiceTags", FILTER_STR_LIST, NULL},
    {"ServiceAddress", FILTER_STR, NULL},
    {"ServiceTaggedAddresses", FILTER_STRUCT_MAP, f_svc_addr_elem},
    {"ServiceWeights", FILTER_STRUCT, f_weights},
    {"ServiceMeta", FILTER_STR_MAP, NULL},
    {"ServicePort", FILTER_INT, NULL},
    {"ServiceEnableTagOverride", FILTER_BOOL, NULL},
    {"ServiceProxy", FILTER_STRUCT, f_proxy},
    {"ServiceConnect", FILTER_STRUCT, f_connect},
    {NULL, 0, NULL},
};

/* structs.HealthCheck (health node/checks/state, agent checks) */
const struct filter_field api_filter_check[] = {
    {"Node", FILTER_STR, NULL},
    {"CheckID", FILTER_STR, NULL},
    {"Name", FILTER_STR, NULL},
    {"Status", FILTER_STR, NULL},
    {"Notes", FILTER_STR, NULL},
    {"Output", FILTER_STR, NULL},
    {"ServiceID", FILTER_STR, NULL},
    {"ServiceName", FILTER_STR, NULL},
    {"ServiceTags", FILTER_STR_LIST, NULL},
    {"Type", FILTER_STR, NULL},
    {NULL, 0, NULL},
};

/* structs.CheckServiceNode (health service/:name) */
const struct filter_field api_filter_check_service_node[] = {
    {"Node", FILTER_STRUCT, api_filter_node},
    {"Service", FILTER_STRUCT, api_filter_service},
    {"Checks", FILTER_STRUCT_LIST, api_filter_check},
    {NULL, 0, NULL},
};

/* Consul's prefix for every expression error (go-bexpr filter.go CreateFilter). */
#define EVAL_PREFIX "Failed to create boolean expression evaluator: "

int api_filter_open(struct api_ctx *c, const struct filter_field *schema, struct filter **out,
                    struct api_read *r)
{
    *out = NULL;
    const char *expr = api_param(c, "filter");
    if (!expr || !*expr)
        return 0; /* an empty filter is no filter (CreateFilter's nil filter) */
    char err[512];
    int rc = filter_new(expr, strlen(expr), schema, out, err, sizeof(err));
    if (rc == 0)
        return 0;
    cn_buf_reset(&r->body);
    if (rc == CN_ENOMEM) {
        cn_buf_puts(&r->body, "out of memory");
        r->status = 500;
    } else {
        cn_buf_puts(&r->body, EVAL_PREFIX);
        cn_buf_puts(&r->body, err);
        r->status = 400;
    }
    return -1;
}

void api_filter_mark(const struct cn_jsonw *w, struct api_fmark *m)
{
    m->len = w->b->len;
    m->comma = w->need_comma[w->depth - 1];
    m->after_key = w->after_key;
}

bool api_filter_test(const struct filter *f, const char *p, size_t n)
{
    /* skip what precedes the value: a comma, a key's colon, pretty spacing */
    size_t i = 0;
    while (i < n && strchr(",: \t\r\n", p[i]) && p[i])
        i++;
    char err[128];
    struct json_object *o = cn_json_parse(p + i, n - i, err, sizeof(err));
    if (!o)
        return false; /* our own JSON: cannot happen but for memory */
    bool keep = filter_match(f, o);
    json_object_put(o);
    return keep;
}

bool api_filter_keep(const struct filter *f, struct cn_jsonw *w, const struct api_fmark *m,
                     size_t value_at)
{
    if (!f || w->err)
        return true;
    if (api_filter_test(f, w->b->p + value_at, w->b->len - value_at))
        return true;
    w->b->len = m->len;
    w->need_comma[w->depth - 1] = m->comma;
    w->after_key = m->after_key;
    return false;
}
