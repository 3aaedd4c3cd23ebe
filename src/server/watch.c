/* server/watch.c: the registry of parked blocking queries.
 *
 * Watches hang off buckets keyed by (table, prefix?, key) in a chained hash.
 * A change to (table, key) fires, in O(1) per bucket: the exact bucket, the
 * table-wide bucket (key NULL) and — for KV only, when any prefix watch exists
 * — the bucket of every prefix of the key, found with an incrementally
 * computed hash so the cost is O(len(key)), not O(len^2). Fired watches move
 * to a list whose callbacks run after the whole command has been applied
 * (srv__watches_flush), so callbacks see a consistent state. An unrelated
 * write touches no parked query. */
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

struct srv_watch_bucket {
    struct srv_watch_bucket *chain;
    struct srv_watch *head; /* doubly linked watchers */
    uint64_t hash;
    uint8_t table;
    uint8_t prefix;
    uint8_t any; /* key NULL: whole table */
    size_t key_len;
    char key[]; /* NUL-terminated */
};

struct srv_watches {
    struct srv_watch_bucket **slots;
    size_t nslots; /* power of two */
    size_t nbuckets;
    size_t nwatches;
    size_t nprefix;                /* prefix buckets alive (KV) */
    struct srv_watch_bucket fired; /* pseudo-bucket holding fired watches */
};

#define FNV_OFF 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

static uint64_t seed(enum state_table t, bool prefix, bool any)
{
    uint64_t h = FNV_OFF;
    h = step(h, (unsigned char)t);
    h = step(h, (unsigned char)(prefix | (any << 1)));
    return h;
}

/* Service and node names match case-insensitively (state/catalog.c
 * name_cmp), so their watch keys do too: a query for WEB wakes on "web". */
static bool folded(enum state_table t)
{
    return t == STATE_T_SERVICES || t == STATE_T_NODES;
}

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static uint64_t hash_key(enum state_table t, const char *key, size_t len, bool prefix, bool any)
{
    uint64_t h = seed(t, prefix, any);
    bool f = folded(t);
    for (size_t i = 0; i < len; i++)
        h = step(h, f ? fold((unsigned char)key[i]) : (unsigned char)key[i]);
    return h;
}

static bool key_eq(enum state_table t, const char *a, const char *b, size_t len)
{
    if (!folded(t))
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return false;
    return true;
}

struct srv_watches *srv__watches_new(void)
{
    struct srv_watches *ws = cn_calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    ws->nslots = 256;
    ws->slots = cn_calloc(ws->nslots, sizeof(*ws->slots));
    if (!ws->slots) {
        cn_free(ws);
        return NULL;
    }
    return ws;
}

void srv__watches_free(struct srv_watches *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->nslots; i++) {
        struct srv_watch_bucket *b = ws->slots[i];
        while (b) {
            struct srv_watch_bucket *n = b->chain;
            for (struct srv_watch *w = b->head; w; w = w->next)
                w->bucket = NULL;
            cn_free(b);
            b = n;
        }
    }
    for (struct srv_watch *w = ws->fired.head; w; w = w->next)
        w->bucket = NULL;
    cn_free(ws->slots);
    cn_free(ws);
}

static struct srv_watch_bucket *lookup(struct srv_watches *ws, uint64_t h, enum state_table t,
                                       const char *key, size_t len, bool prefix, bool any,
                                       struct srv_watch_bucket ***pp)
{
    struct srv_watch_bucket **p = &ws->slots[h & (ws->nslots - 1)];
    for (; *p; p = &(*p)->chain) {
        struct srv_watch_bucket *b = *p;
        if (b->hash == h && b->table == t && b->prefix == prefix && b->any == any &&
            b->key_len == len && key_eq(t, b->key, key, len)) {
            if (pp)
                *pp = p;
            return b;
        }
    }
    if (pp)
        *pp = p;
    return NULL;
}

static void grow(struct srv_watches *ws)
{
    size_t n = ws->nslots * 2;
    struct srv_watch_bucket **slots = cn_calloc(n, sizeof(*slots));
    if (!slots)
        return; /* keep the old table: slower chains, still correct */
    for (size_t i = 0; i < ws->nslots; i++) {
        struct srv_watch_bucket *b = ws->slots[i];
        while (b) {
            struct srv_watch_bucket *next = b->chain;
            b->chain = slots[b->hash & (n - 1)];
            slots[b->hash & (n - 1)] = b;
            b = next;
        }
    }
    cn_free(ws->slots);
    ws->slots = slots;
    ws->nslots = n;
}

static void link_watch(struct srv_watch_bucket *b, struct srv_watch *w)
{
    w->prev = NULL;
    w->next = b->head;
    if (b->head)
        b->head->prev = w;
    b->head = w;
    w->bucket = b;
}

static void unlink_bucket(struct srv_watches *ws, struct srv_watch_bucket *b)
{
    struct srv_watch_bucket **p;
    if (lookup(ws, b->hash, b->table, b->key, b->key_len, b->prefix, b->any, &p) == b) {
        *p = b->chain;
        ws->nbuckets--;
        if (b->prefix)
            ws->nprefix--;
        cn_free(b);
    }
}

int srv__watches_arm(struct srv_watches *ws, struct srv_watch *w, enum state_table t,
                     const char *key, bool prefix)
{
    if (w->bucket)
        srv__watches_disarm(ws, w);
    bool any = key == NULL;
    size_t len = key ? strlen(key) : 0;
    if (!key)
        key = "";
    prefix = prefix && !any;
    uint64_t h = hash_key(t, key, len, prefix, any);
    struct srv_watch_bucket **p;
    struct srv_watch_bucket *b = lookup(ws, h, t, key, len, prefix, any, &p);
    if (!b) {
        b = cn_malloc(sizeof(*b) + len + 1);
        if (!b)
            return CN_ENOMEM;
        memset(b, 0, sizeof(*b));
        b->hash = h;
        b->table = (uint8_t)t;
        b->prefix = prefix;
        b->any = any;
        b->key_len = len;
        memcpy(b->key, key, len + 1);
        *p = b;
        ws->nbuckets++;
        if (prefix)
            ws->nprefix++;
        if (ws->nbuckets > ws->nslots)
            grow(ws);
    }
    link_watch(b, w);
    ws->nwatches++;
    return 0;
}

void srv__watches_disarm(struct srv_watches *ws, struct srv_watch *w)
{
    struct srv_watch_bucket *b = w->bucket;
    if (!b)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        b->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->bucket = NULL;
    ws->nwatches--;
    if (!b->head && b != &ws->fired)
        unlink_bucket(ws, b);
}

/* Move every watcher of b to the fired list and drop b. */
static void fire_bucket(struct srv_watches *ws, struct srv_watch_bucket *b, uint64_t index)
{
    struct srv_watch *w = b->head;
    while (w) {
        struct srv_watch *next = w->next;
        w->fired_index = index;
        link_watch(&ws->fired, w);
        w = next;
    }
    b->head = NULL;
    unlink_bucket(ws, b);
}

static void maybe_fire(struct srv_watches *ws, uint64_t h, enum state_table t, const char *key,
                       size_t len, bool prefix, bool any, uint64_t index)
{
    struct srv_watch_bucket *b = lookup(ws, h, t, key, len, prefix, any, NULL);
    if (b)
        fire_bucket(ws, b, index);
}

void srv__watches_change(struct srv_watches *ws, enum state_table t, const char *key,
                         uint64_t index)
{
    if (ws->nbuckets == 0)
        return;
    maybe_fire(ws, hash_key(t, "", 0, false, true), t, "", 0, false, true, index);
    if (!key)
        return;
    size_t len = strlen(key);
    maybe_fire(ws, hash_key(t, key, len, false, false), t, key, len, false, false, index);
    if (t != STATE_T_KV || ws->nprefix == 0)
        return;
    uint64_t h = seed(t, true, false);
    for (size_t i = 0; i <= len; i++) {
        maybe_fire(ws, h, t, key, i, true, false, index);
        if (i < len)
            h = step(h, (unsigned char)key[i]);
    }
}

void srv__watches_fire_all(struct srv_watches *ws, uint64_t index)
{
    for (size_t i = 0; i < ws->nslots; i++)
        while (ws->slots[i])
            fire_bucket(ws, ws->slots[i], index); /* unlinks it from the slot */
}

/* Wakes of at least this many watchers at once are logged with their
 * duration (bench/parked.sh reads it: the callbacks answer the parked
 * queries, so this is the server's side of a herd's wake). */
#define FLUSH_LOG_MIN 1000

/* CPU time of the loop thread: a herd's wake measured apart from how much
 * of a core a loaded machine gave the agent meanwhile. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void srv__watches_flush(struct srv_watches *ws)
{
    if (!ws->fired.head)
        return;
    uint64_t t0 = cn_now_ns(), c0 = thread_cpu_ns();
    size_t n = 0;
    while (ws->fired.head) {
        struct srv_watch *w = ws->fired.head;
        srv__watches_disarm(ws, w);
        w->cb(w, w->fired_index);
        n++;
    }
    if (n >= FLUSH_LOG_MIN)
        cn_info("server", "woke %zu watchers in %llu ms (%llu ms of CPU)", n,
                (unsigned long long)((cn_now_ns() - t0) / 1000000),
                (unsigned long long)((thread_cpu_ns() - c0) / 1000000));
}

size_t srv__watches_count(const struct srv_watches *ws)
{
    return ws->nwatches;
}

bool srv__watches_live(const struct srv_watches *ws, const struct srv_watch *w)
{
    return w->bucket && w->bucket != &ws->fired;
}
