/* acl/authz.c: the authorizer compiled from merged policies (Consul's
 * policy_merger.go + policy_authorizer.go). Per named resource two tables:
 * exact rules sorted by name (binary search), prefix rules sorted longest
 * first (the first that matches is the longest: two distinct prefixes of one
 * length cannot both match). Single-valued resources keep one level. */
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"
#include "base/err.h"
#include "base/mem.h"

struct ent {
    const char *name; /* into the authorizer's string block */
    size_t len;
    enum acl_level level;
};
struct table {
    struct ent *exact, *prefix;
    size_t nexact, nprefix;
};
struct acl_authz {
    unsigned refs;
    bool manage, default_allow;
    struct table t[ACL_R_FIRST_SINGLE];
    enum acl_level single[ACL_R__COUNT];
    struct ent *ents; /* one array for every table */
    char *strs;       /* one block for every name */
};

/* takesPrecedenceOver: deny > write > list > read. */
static enum acl_level merge(enum acl_level a, enum acl_level b)
{
    if (a == ACL_L_DENY || b == ACL_L_DENY)
        return ACL_L_DENY;
    return a > b ? a : b;
}

static int by_name(const void *x, const void *y)
{
    const struct ent *a = x, *b = y;
    return strcmp(a->name, b->name);
}
static int by_len_desc(const void *x, const void *y)
{
    const struct ent *a = x, *b = y;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Sort and merge duplicates of one run; returns the new count. */
static size_t dedup(struct ent *e, size_t n, int (*cmp)(const void *, const void *))
{
    if (!n)
        return 0;
    qsort(e, n, sizeof(*e), cmp);
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(e[w].name, e[i].name))
            e[w].level = merge(e[w].level, e[i].level);
        else
            e[++w] = e[i];
    }
    return w + 1;
}

static void acl_authz_free(struct acl_authz *z);

struct acl_authz *acl_authz_new(const struct acl_policy *const *pols, size_t n, bool default_allow)
{
    struct acl_authz *z = cn_calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    z->default_allow = default_allow;
    z->refs = 1;
    size_t total = 0, bytes = 0;
    size_t cnt[ACL_R_FIRST_SINGLE][2] = {{0}};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < pols[i]->n; j++) {
            const struct acl_rule *r = &pols[i]->rules[j];
            if (r->res >= ACL_R_FIRST_SINGLE) {
                if (r->res < ACL_R__COUNT)
                    z->single[r->res] = z->single[r->res] == ACL_L_UNSET
                                            ? r->level
                                            : merge(z->single[r->res], r->level);
                continue;
            }
            if (r->res == ACL_R_NONE)
                continue;
            cnt[r->res][r->prefix]++;
            total++;
            bytes += strlen(r->name) + 1;
        }
    z->ents = cn_malloc((total ? total : 1) * sizeof(struct ent));
    z->strs = cn_malloc(bytes ? bytes : 1);
    if (!z->ents || !z->strs) {
        acl_authz_free(z);
        return NULL;
    }
    /* Carve the array into tables. */
    size_t off = 0;
    for (int r = 0; r < ACL_R_FIRST_SINGLE; r++) {
        z->t[r].exact = z->ents + off;
        off += cnt[r][0];
        z->t[r].prefix = z->ents + off;
        off += cnt[r][1];
    }
    char *at = z->strs;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < pols[i]->n; j++) {
            const struct acl_rule *r = &pols[i]->rules[j];
            if (r->res == ACL_R_NONE || r->res >= ACL_R_FIRST_SINGLE)
                continue;
            struct table *t = &z->t[r->res];
            size_t len = strlen(r->name);
            memcpy(at, r->name, len + 1);
            struct ent e = {at, len, r->level};
            at += len + 1;
            if (r->prefix)
                t->prefix[t->nprefix++] = e;
            else
                t->exact[t->nexact++] = e;
        }
    for (int r = 0; r < ACL_R_FIRST_SINGLE; r++) {
        z->t[r].nexact = dedup(z->t[r].exact, z->t[r].nexact, by_name);
        z->t[r].nprefix = dedup(z->t[r].prefix, z->t[r].nprefix, by_len_desc);
    }
    return z;
}

struct acl_authz *acl_authz_manage(void)
{
    struct acl_authz *z = acl_authz_new(NULL, 0, true);
    if (z)
        z->manage = true;
    return z;
}

struct acl_authz *acl_authz_ref(struct acl_authz *z)
{
    if (z)
        z->refs++;
    return z;
}

void acl_authz_unref(struct acl_authz *z)
{
    if (z && --z->refs == 0)
        acl_authz_free(z);
}

bool acl_authz_default_allow(const struct acl_authz *z)
{
    return z && z->default_allow;
}

static void acl_authz_free(struct acl_authz *z)
{
    if (!z)
        return;
    cn_free(z->ents);
    cn_free(z->strs);
    cn_free(z);
}

bool acl_authz_is_manage(const struct acl_authz *z)
{
    return z && z->manage;
}

enum acl_level acl_level_for(const struct acl_authz *z, enum acl_res r, const char *name)
{
    if (!z || r == ACL_R_NONE || (unsigned)r >= ACL_R__COUNT)
        return ACL_L_UNSET;
    if (r >= ACL_R_FIRST_SINGLE) {
        /* Consul: mesh rules fall back to the operator rule. */
        if (r == ACL_R_MESH && z->single[r] == ACL_L_UNSET)
            return z->single[ACL_R_OPERATOR];
        return z->single[r];
    }
    const struct table *t = &z->t[r];
    if (!name)
        name = "";
    size_t lo = 0, hi = t->nexact;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, t->exact[mid].name);
        if (!c)
            return t->exact[mid].level;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t nl = strlen(name);
    for (size_t i = 0; i < t->nprefix; i++) {
        const struct ent *e = &t->prefix[i];
        if (e->len <= nl && !memcmp(name, e->name, e->len))
            return e->level;
    }
    return ACL_L_UNSET;
}

bool acl_allowed(const struct acl_authz *z, enum acl_res r, const char *name, enum acl_access a)
{
    if (!z)
        return false;
    if (z->manage || r == ACL_R_NONE)
        return true;
    switch (acl_level_for(z, r, name)) {
    case ACL_L_UNSET:
        return z->default_allow;
    case ACL_L_DENY:
        return false;
    case ACL_L_READ:
        return a == ACL_A_READ;
    case ACL_L_LIST:
        return a == ACL_A_READ || a == ACL_A_LIST;
    case ACL_L_WRITE:
        return true;
    }
    return false;
}

static bool grants(enum acl_level l, enum acl_access a)
{
    return l == ACL_L_WRITE || (l == ACL_L_LIST && a != ACL_A_WRITE) ||
           (l == ACL_L_READ && a == ACL_A_READ);
}

bool acl_write_prefix_ok(const struct acl_authz *z, enum acl_res r, const char *prefix)
{
    return acl_prefix_ok(z, r, prefix, ACL_A_WRITE);
}

bool acl_prefix_ok(const struct acl_authz *z, enum acl_res r, const char *prefix, enum acl_access a)
{
    if (!z)
        return false;
    if (z->manage)
        return true;
    if (!acl_allowed(z, r, prefix, a))
        return false;
    if (r >= ACL_R_FIRST_SINGLE || r == ACL_R_NONE)
        return true;
    const struct table *t = &z->t[r];
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < t->nexact; i++)
        if (t->exact[i].len >= pl && !memcmp(t->exact[i].name, prefix, pl) &&
            !grants(t->exact[i].level, a))
            return false;
    for (size_t i = 0; i < t->nprefix; i++)
        if (t->prefix[i].len > pl && !memcmp(t->prefix[i].name, prefix, pl) &&
            !grants(t->prefix[i].level, a))
            return false;
    return true;
}
