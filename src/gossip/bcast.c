/* gossip/bcast.c: the transmit-limited broadcast queue (memberlist's
 * TransmitLimitedQueue): one queued update per member, kept in lists by how
 * often it was sent; a packet takes the least-sent first (newest first within
 * a count), and an update sent retransmit_mult * ceil(log10(n + 1)) times is
 * dropped. */
#include <math.h>
#include <string.h>

#include "base/mem.h"
#include "gossip/gossip_int.h"

unsigned gossip__bc_limit(const struct gossip *g)
{
    double n = (double)(g->nalive + g->nfailed);
    unsigned scale = (unsigned)ceil(log10(n + 1.0));
    unsigned lim = g->cfg.retransmit_mult * (scale ? scale : 1);
    return lim >= GOSSIP_BC_LEVELS ? GOSSIP_BC_LEVELS - 1 : (lim ? lim : 1);
}

static void unlink_bc(struct gossip *g, struct gbc *b)
{
    unsigned lvl = b->transmits < GOSSIP_BC_LEVELS ? b->transmits : GOSSIP_BC_LEVELS - 1;
    if (b->prev)
        b->prev->next = b->next;
    else
        g->bq[lvl] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = b->next = NULL;
}

static void link_head(struct gossip *g, struct gbc *b)
{
    unsigned lvl = b->transmits < GOSSIP_BC_LEVELS ? b->transmits : GOSSIP_BC_LEVELS - 1;
    b->prev = NULL;
    b->next = g->bq[lvl];
    if (b->next)
        b->next->prev = b;
    g->bq[lvl] = b;
}

/* Unlinked b leaves the queue for good. */
static void free_bc(struct gossip *g, struct gbc *b)
{
    if (b->x) {
        g->xs[b->x - 1].bc = NULL;
        gossip__x_gc(g, b->x);
    }
    if (b->expires)
        g->nbc_expiring--;
    g->nbc--;
    cn_free(b);
}

void gossip__bc_drop(struct gossip *g, struct gm *m)
{
    struct gmx *x = gossip__x(g, m);
    struct gbc *b = x ? x->bc : NULL;
    if (!b)
        return;
    unlink_bc(g, b);
    free_bc(g, b);
}

void gossip__bc_queue_free(struct gossip *g, const struct gossip_msg *msg, uint64_t expires)
{
    gossip__bc_queue(g, NULL, msg);
    /* the new entry is the head of level 0 */
    struct gbc *b = g->bq[0];
    if (b && !b->x && !b->expires && expires) {
        b->expires = expires;
        g->nbc_expiring++;
    }
}

void gossip__bc_expire(struct gossip *g)
{
    if (!g->nbc_expiring)
        return;
    for (unsigned lvl = 0; lvl < GOSSIP_BC_LEVELS; lvl++) {
        struct gbc *b = g->bq[lvl];
        while (b) {
            struct gbc *nx = b->next;
            if (b->expires && g->now >= b->expires) {
                unlink_bc(g, b);
                free_bc(g, b);
            }
            b = nx;
        }
    }
}

void gossip__bc_queue(struct gossip *g, struct gm *m, const struct gossip_msg *msg)
{
    struct cn_buf e = CN_BUF_INIT;
    if (gossip_enc_msg(&e, msg)) {
        cn_buf_free(&e);
        return; /* out of memory: the update still spreads by push/pull */
    }
    struct gbc *b = cn_malloc(sizeof(*b) + e.len);
    if (!b) {
        cn_buf_free(&e);
        return;
    }
    if (m) {
        gossip__bc_drop(g, m);
        if (!gossip__x_get(g, m)) {
            cn_free(b);
            cn_buf_free(&e);
            return;
        }
    }
    memset(b, 0, sizeof(*b));
    b->x = m ? m->x : 0;
    b->len = (uint16_t)e.len;
    memcpy(b->msg, e.p, e.len);
    cn_buf_free(&e);
    if (m)
        g->xs[m->x - 1].bc = b;
    link_head(g, b);
    g->nbc++;
}

unsigned gossip__bc_fill(struct gossip *g, struct cn_buf *out, size_t space, unsigned max_msgs)
{
    if (!g->nbc || !max_msgs)
        return 0;
    unsigned limit = gossip__bc_limit(g);
    struct gbc *taken[GOSSIP_MAX_MSGS];
    unsigned nt = 0;
    for (unsigned lvl = 0; lvl < GOSSIP_BC_LEVELS && nt < max_msgs && space >= 10; lvl++) {
        for (struct gbc *b = g->bq[lvl]; b && nt < max_msgs && space >= 10; b = b->next) {
            if (b->len > space)
                continue;
            if (cn_buf_append(out, b->msg, b->len))
                break;
            space -= b->len;
            taken[nt++] = b;
        }
    }
    for (unsigned i = 0; i < nt; i++) {
        struct gbc *b = taken[i];
        unlink_bc(g, b);
        b->transmits++;
        if (b->transmits >= limit) {
            free_bc(g, b);
        } else {
            link_head(g, b);
        }
    }
    return nt;
}

void gossip__bc_free_all(struct gossip *g)
{
    for (unsigned lvl = 0; lvl < GOSSIP_BC_LEVELS; lvl++) {
        struct gbc *b = g->bq[lvl];
        while (b) {
            struct gbc *nx = b->next;
            if (b->x)
                g->xs[b->x - 1].bc = NULL;
            cn_free(b);
            b = nx;
        }
        g->bq[lvl] = NULL;
    }
    g->nbc = 0;
    g->nbc_expiring = 0;
}
