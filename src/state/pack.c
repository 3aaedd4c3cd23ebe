/* state/pack.c: packed deep copies of service and check records. A catalog
 * record holds its strings and arrays in the same allocation, right after
 * the struct: one malloc header and one rounding per record instead of one
 * per string (a service with 3 tags and 2 meta pairs was 17 allocations,
 * most of them 32-byte chunks holding a few bytes). Records are immutable,
 * so nothing ever frees or replaces one of their strings.
 *
 * Each packer runs twice: with block NULL it only counts the bytes it needs;
 * then it fills dst with pointers into block. Arrays come first (8-byte
 * aligned: block itself is, right after the record struct), strings after.
 * NULL strings become "" as state_*_copy makes them, except the agent-only
 * check fields, which stay NULL (state_check_copy keeps them so). */
#include <stdalign.h>
#include <string.h>

#include "base/assert.h"
#include "state/state_int.h"

struct pk {
    char *b; /* NULL: count only */
    size_t n;
};

static void *pk_arr(struct pk *k, size_t count, size_t elem)
{
    if (!count)
        return NULL;
    k->n = (k->n + alignof(void *) - 1) & ~(alignof(void *) - 1);
    void *p = k->b ? k->b + k->n : NULL;
    k->n += count * elem;
    return p;
}

static char *pk_str(struct pk *k, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *p = k->b ? k->b + k->n : NULL;
    if (p)
        memcpy(p, s, n);
    k->n += n;
    return p;
}

static char *pk_opt(struct pk *k, const char *s)
{
    return s ? pk_str(k, s) : NULL;
}

static void pk_map(struct pk *k, struct state_map *dst, const struct state_map *src)
{
    dst->n = src->n;
    dst->items = pk_arr(k, src->n, sizeof(*src->items));
}

static void pk_map_strs(struct pk *k, struct state_map *dst, const struct state_map *src)
{
    for (size_t i = 0; i < src->n; i++) {
        char *a = pk_str(k, src->items[i].k), *b = pk_str(k, src->items[i].v);
        if (k->b) {
            dst->items[i].k = a;
            dst->items[i].v = b;
        }
    }
}

size_t state_service_pack(struct state_service *dst, const struct state_service *src, char *block)
{
    struct pk k = {block, 0};
    struct state_service tmp;
    if (!block)
        dst = &tmp;
    *dst = *src; /* scalars; every pointer is replaced below */
    const struct state_proxy *sp = &src->proxy;
    struct state_proxy *dp = &dst->proxy;
    dst->tags = pk_arr(&k, src->ntags, sizeof(*src->tags));
    pk_map(&k, &dst->meta, &src->meta);
    dst->taddrs = pk_arr(&k, src->ntaddrs, sizeof(*src->taddrs));
    dp->ups = pk_arr(&k, sp->nups, sizeof(*sp->ups));
    dst->node = pk_str(&k, src->node);
    dst->id = pk_str(&k, src->id);
    dst->service = pk_str(&k, src->service);
    dst->kind = pk_str(&k, src->kind);
    dst->address = pk_str(&k, src->address);
    for (size_t i = 0; i < src->ntags; i++) {
        char *t = pk_str(&k, src->tags[i]);
        if (block)
            dst->tags[i] = t;
    }
    pk_map_strs(&k, &dst->meta, &src->meta);
    for (size_t i = 0; i < src->ntaddrs; i++) {
        char *a = pk_str(&k, src->taddrs[i].name), *b = pk_str(&k, src->taddrs[i].address);
        if (block) {
            dst->taddrs[i] = src->taddrs[i];
            dst->taddrs[i].name = a;
            dst->taddrs[i].address = b;
        }
    }
    dp->dest_name = pk_str(&k, sp->dest_name);
    dp->dest_id = pk_str(&k, sp->dest_id);
    dp->local_address = pk_str(&k, sp->local_address);
    dp->config = pk_str(&k, sp->config);
    for (size_t i = 0; i < sp->nups; i++) {
        const struct state_upstream *su = &sp->ups[i];
        char *a = pk_str(&k, su->dest_type), *b = pk_str(&k, su->dest_name);
        char *c = pk_str(&k, su->datacenter), *d = pk_str(&k, su->local_bind_address);
        char *e = pk_str(&k, su->config);
        if (block) {
            struct state_upstream *du = &dp->ups[i];
            *du = *su;
            du->dest_type = a;
            du->dest_name = b;
            du->datacenter = c;
            du->local_bind_address = d;
            du->config = e;
        }
    }
    return k.n;
}

size_t state_check_pack(struct state_check *dst, const struct state_check *src, char *block)
{
    struct pk k = {block, 0};
    struct state_check tmp;
    if (!block)
        dst = &tmp;
    *dst = *src;
    dst->args = pk_arr(&k, src->nargs, sizeof(*src->args));
    char **strs[] = {&dst->node,   &dst->check_id,   &dst->name,         &dst->status, &dst->notes,
                     &dst->output, &dst->service_id, &dst->service_name, &dst->type,   &dst->http,
                     &dst->method, &dst->tcp,        &dst->header_json,  &dst->body};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        *strs[i] = pk_str(&k, *strs[i]); /* still src's pointer: read, then replaced */
    char **ext[] = {&dst->tls_server_name, &dst->udp,           &dst->grpc,
                    &dst->alias_node,      &dst->alias_service, &dst->h2ping};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        *ext[i] = pk_opt(&k, *ext[i]);
    for (size_t i = 0; i < src->nargs; i++) {
        char *a = pk_str(&k, src->args[i]);
        if (block)
            dst->args[i] = a;
    }
    return k.n;
}
