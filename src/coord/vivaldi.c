/* coord/vivaldi.c: coordinates and the client that moves this node's one
 * (Serf's coordinate.Client; coord.h). */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/enc.h"
#include "base/mem.h"
#include "coord/coord.h"

#define ZERO_THRESHOLD 1.0e-6
#define FILTER_BUCKETS 64

/* One node's latency samples (newest last). */
struct lf {
    struct lf *next;
    unsigned n;
    double s[COORD_FILTER_MAX];
    char name[];
};

struct coord_client {
    struct coord_config cfg;
    struct coord c, origin;
    double adj[COORD_ADJ_WINDOW_MAX];
    unsigned adj_index;
    struct lf *buckets[FILTER_BUCKETS];
    size_t nfilter;
    uint64_t rng;
    unsigned resets;
};

void coord_config_default(struct coord_config *c)
{
    c->error_max = 1.5;
    c->ce = 0.25;
    c->cc = 0.25;
    c->adjustment_window = 20;
    c->height_min = 10.0e-6;
    c->latency_filter = 3;
    c->gravity_rho = 150.0;
}

void coord_init(struct coord *c, const struct coord_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->error = cfg->error_max;
    c->height = cfg->height_min;
}

static bool is_finite(double f)
{
    return !isnan(f) && !isinf(f);
}

bool coord_valid(const struct coord *c)
{
    for (int i = 0; i < COORD_DIM; i++)
        if (!is_finite(c->vec[i]))
            return false;
    return is_finite(c->error) && is_finite(c->adjustment) && is_finite(c->height);
}

static double magnitude(const double *v)
{
    double sum = 0;
    for (int i = 0; i < COORD_DIM; i++)
        sum += v[i] * v[i];
    return sqrt(sum);
}

double coord_raw_distance(const struct coord *a, const struct coord *b)
{
    double d[COORD_DIM];
    for (int i = 0; i < COORD_DIM; i++)
        d[i] = a->vec[i] - b->vec[i];
    return magnitude(d) + a->height + b->height;
}

double coord_distance(const struct coord *a, const struct coord *b)
{
    double dist = coord_raw_distance(a, b);
    double adjusted = dist + a->adjustment + b->adjustment;
    return adjusted > 0.0 ? adjusted : dist;
}

/* splitmix64: a uniform double in [0, 1). */
static double rnd(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Serf's unitVectorAt: the unit vector from b to a and the distance; two
 * coordinates at the same spot get a random direction (distance 0). */
static double unit_vector_at(uint64_t *rng, const double *a, const double *b, double *out)
{
    for (int i = 0; i < COORD_DIM; i++)
        out[i] = a[i] - b[i];
    double mag = magnitude(out);
    if (mag > ZERO_THRESHOLD) {
        for (int i = 0; i < COORD_DIM; i++)
            out[i] /= mag;
        return mag;
    }
    for (int i = 0; i < COORD_DIM; i++)
        out[i] = rnd(rng) - 0.5;
    mag = magnitude(out);
    if (mag > ZERO_THRESHOLD) {
        for (int i = 0; i < COORD_DIM; i++)
            out[i] /= mag;
        return 0.0;
    }
    memset(out, 0, sizeof(double) * COORD_DIM);
    out[0] = 1.0;
    return 0.0;
}

/* Serf's ApplyForce: move c by `force` along the direction away from
 * `other` (towards it when negative); the height follows. */
static void apply_force(struct coord_client *cl, struct coord *c, double force,
                        const struct coord *other)
{
    double unit[COORD_DIM];
    double mag = unit_vector_at(&cl->rng, c->vec, other->vec, unit);
    for (int i = 0; i < COORD_DIM; i++)
        c->vec[i] += unit[i] * force;
    if (mag > ZERO_THRESHOLD) {
        c->height = (c->height + other->height) * force / mag + c->height;
        c->height = fmax(c->height, cl->cfg.height_min);
    }
}

struct coord_client *coord_client_new(const struct coord_config *cfg, uint64_t seed)
{
    if (cfg->adjustment_window > COORD_ADJ_WINDOW_MAX || !cfg->latency_filter ||
        cfg->latency_filter > COORD_FILTER_MAX || !(cfg->gravity_rho > 0) ||
        !(cfg->error_max > 0) || !(cfg->height_min > 0) || !is_finite(cfg->ce) ||
        !is_finite(cfg->cc) || !is_finite(cfg->gravity_rho) || !is_finite(cfg->error_max) ||
        !is_finite(cfg->height_min))
        return NULL;
    struct coord_client *cl = cn_calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->cfg = *cfg;
    coord_init(&cl->c, cfg);
    coord_init(&cl->origin, cfg);
    cl->rng = seed;
    return cl;
}

void coord_client_free(struct coord_client *cl)
{
    if (!cl)
        return;
    for (size_t i = 0; i < FILTER_BUCKETS; i++) {
        struct lf *f = cl->buckets[i];
        while (f) {
            struct lf *n = f->next;
            cn_free(f);
            f = n;
        }
    }
    cn_free(cl);
}

const struct coord *coord_client_get(const struct coord_client *cl)
{
    return &cl->c;
}

int coord_client_set(struct coord_client *cl, const struct coord *c)
{
    if (!coord_valid(c))
        return CN_EINVAL;
    cl->c = *c;
    return 0;
}

unsigned coord_client_resets(const struct coord_client *cl)
{
    return cl->resets;
}

size_t coord_client_filter_nodes(const struct coord_client *cl)
{
    return cl->nfilter;
}

static size_t bucket_of(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * UINT64_C(0x100000001b3);
    return (size_t)(h % FILTER_BUCKETS);
}

static struct lf **filter_slot(struct coord_client *cl, const char *node)
{
    struct lf **pp = &cl->buckets[bucket_of(node)];
    while (*pp && strcmp((*pp)->name, node))
        pp = &(*pp)->next;
    return pp;
}

void coord_client_forget(struct coord_client *cl, const char *node)
{
    struct lf **pp = filter_slot(cl, node);
    if (*pp) {
        struct lf *f = *pp;
        *pp = f->next;
        cn_free(f);
        cl->nfilter--;
    }
}

/* Serf's latencyFilter: the median of the node's last samples. */
static double latency_filter(struct lf *f, unsigned size, double rtt)
{
    if (f->n == size) {
        memmove(f->s, f->s + 1, sizeof(double) * (size - 1));
        f->n--;
    }
    f->s[f->n++] = rtt;
    double sorted[COORD_FILTER_MAX];
    memcpy(sorted, f->s, sizeof(double) * f->n);
    for (unsigned i = 1; i < f->n; i++) /* insertion sort: at most 16 */
        for (unsigned j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    return sorted[f->n / 2];
}

static void update_vivaldi(struct coord_client *cl, const struct coord *other, double rtt)
{
    double dist = coord_distance(&cl->c, other);
    if (rtt < ZERO_THRESHOLD)
        rtt = ZERO_THRESHOLD;
    double wrongness = fabs(dist - rtt) / rtt;
    double total = cl->c.error + other->error;
    if (total < ZERO_THRESHOLD)
        total = ZERO_THRESHOLD;
    double weight = cl->c.error / total;
    cl->c.error = cl->cfg.ce * weight * wrongness + cl->c.error * (1.0 - cl->cfg.ce * weight);
    if (cl->c.error > cl->cfg.error_max)
        cl->c.error = cl->cfg.error_max;
    double force = cl->cfg.cc * weight * (rtt - dist);
    apply_force(cl, &cl->c, force, other);
}

static void update_adjustment(struct coord_client *cl, const struct coord *other, double rtt)
{
    unsigned w = cl->cfg.adjustment_window;
    if (!w)
        return;
    cl->adj[cl->adj_index] = rtt - coord_raw_distance(&cl->c, other);
    cl->adj_index = (cl->adj_index + 1) % w;
    double sum = 0;
    for (unsigned i = 0; i < w; i++)
        sum += cl->adj[i];
    cl->c.adjustment = sum / (2.0 * (double)w);
}

static void update_gravity(struct coord_client *cl)
{
    double dist = coord_distance(&cl->origin, &cl->c);
    double force = -1.0 * pow(dist / cl->cfg.gravity_rho, 2.0);
    apply_force(cl, &cl->c, force, &cl->origin);
}

int coord_client_update(struct coord_client *cl, const char *node, const struct coord *other,
                        int64_t rtt_ns)
{
    if (!coord_valid(other))
        return CN_EINVAL;
    if (rtt_ns < 0 || rtt_ns > COORD_MAX_RTT_NS)
        return CN_ERANGE;
    struct lf **pp = filter_slot(cl, node);
    if (!*pp) {
        size_t n = strlen(node);
        struct lf *f = cn_malloc(sizeof(*f) + n + 1);
        if (!f)
            return CN_ENOMEM;
        f->next = NULL;
        f->n = 0;
        memcpy(f->name, node, n + 1);
        *pp = f;
        cl->nfilter++;
    }
    double rtt = latency_filter(*pp, cl->cfg.latency_filter, (double)rtt_ns / 1.0e9);
    update_vivaldi(cl, other, rtt);
    update_adjustment(cl, other, rtt);
    update_gravity(cl);
    if (!coord_valid(&cl->c)) {
        cl->resets++;
        coord_init(&cl->c, &cl->cfg);
    }
    return 0;
}

/* ---- wire form ------------------------------------------------------------ */

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

int coord_wire_put(struct cn_buf *b, const struct coord *c)
{
    uint8_t p[COORD_WIRE_LEN];
    p[0] = COORD_WIRE_VERSION;
    p[1] = COORD_DIM;
    uint8_t *q = p + 2;
    for (int i = 0; i < COORD_DIM; i++, q += 8)
        cn_put_u64(q, bits_of(c->vec[i]));
    cn_put_u64(q, bits_of(c->error));
    cn_put_u64(q + 8, bits_of(c->adjustment));
    cn_put_u64(q + 16, bits_of(c->height));
    return cn_buf_append(b, p, sizeof(p));
}

int coord_wire_get(const void *data, size_t len, struct coord *out)
{
    const uint8_t *p = data;
    if (len != COORD_WIRE_LEN || p[0] != COORD_WIRE_VERSION || p[1] != COORD_DIM)
        return CN_ECORRUPT;
    const uint8_t *q = p + 2;
    for (int i = 0; i < COORD_DIM; i++, q += 8)
        out->vec[i] = double_of(cn_get_u64(q));
    out->error = double_of(cn_get_u64(q));
    out->adjustment = double_of(cn_get_u64(q + 8));
    out->height = double_of(cn_get_u64(q + 16));
    return 0;
}
