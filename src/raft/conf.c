/* raft/conf.c: membership configurations — their stable encoding, single-
 * server changes (thesis §4.2, 4.4), and what a leader does when a change it
 * manages commits. The rule for when a configuration takes effect is the
 * thesis's (pitfall #21): the latest CONF entry in the log, committed or not;
 * raft.c recomputes it when the log is truncated. */
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "raft/raft_int.h"

#define CONF_VERSION 1

/* Layout, little endian:
 *   u8 version (1), u8 n,
 *   n x { u64 id, u8 role, u8 addr_len, addr bytes (no NUL) } */
size_t raft__conf_encoded_size(const struct raft_conf *c)
{
    size_t sz = 2;
    for (size_t i = 0; i < c->n && i < RAFT_MAX_SERVERS; i++)
        sz += 8 + 1 + 1 + strnlen(c->servers[i].addr, sizeof(c->servers[i].addr) - 1);
    return sz;
}

int raft_conf_encode(const struct raft_conf *c, void *out, size_t cap, size_t *len)
{
    if (c->n > RAFT_MAX_SERVERS)
        return CN_EINVAL;
    size_t need = raft__conf_encoded_size(c);
    *len = need;
    if (!out || cap < need)
        return CN_ETOOBIG;
    uint8_t *p = out;
    *p++ = CONF_VERSION;
    *p++ = (uint8_t)c->n;
    for (size_t i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        size_t al = strnlen(s->addr, sizeof(s->addr) - 1);
        cn_put_u64(p, s->id);
        p += 8;
        *p++ = (uint8_t)s->role;
        *p++ = (uint8_t)al;
        memcpy(p, s->addr, al);
        p += al;
    }
    return 0;
}

int raft_conf_decode(const void *p, size_t len, struct raft_conf *out)
{
    struct cn_dec d;
    struct raft_conf c;
    memset(&c, 0, sizeof(c));
    cn_dec_init(&d, p, len);
    if (cn_dec_u8(&d) != CONF_VERSION || d.err)
        return CN_ECORRUPT;
    c.n = cn_dec_u8(&d);
    if (d.err || c.n > RAFT_MAX_SERVERS)
        return CN_ECORRUPT;
    for (size_t i = 0; i < c.n; i++) {
        struct raft_server *s = &c.servers[i];
        s->id = cn_dec_u64(&d);
        uint8_t role = cn_dec_u8(&d);
        uint8_t al = cn_dec_u8(&d);
        if (d.err || s->id == RAFT_NONE || role > RAFT_LEARNER || al >= sizeof(s->addr))
            return CN_ECORRUPT;
        if (d.len - d.off < al)
            return CN_ECORRUPT;
        memcpy(s->addr, d.p + d.off, al);
        d.off += al;
        if (memchr(s->addr, 0, al))
            return CN_ECORRUPT;
        s->role = role;
        for (size_t j = 0; j < i; j++)
            if (c.servers[j].id == s->id)
                return CN_ECORRUPT;
    }
    if (!cn_dec_done(&d))
        return CN_ECORRUPT;
    *out = c;
    return 0;
}

const struct raft_server *raft_conf_find(const struct raft_conf *c, uint64_t id)
{
    for (size_t i = 0; i < c->n && i < RAFT_MAX_SERVERS; i++)
        if (c->servers[i].id == id)
            return &c->servers[i];
    return NULL;
}

size_t raft__conf_voters(const struct raft_conf *c)
{
    size_t v = 0;
    for (size_t i = 0; i < c->n; i++)
        v += c->servers[i].role == RAFT_VOTER;
    return v;
}

bool raft__conf_is_voter(const struct raft_conf *c, uint64_t id)
{
    const struct raft_server *s = raft_conf_find(c, id);
    return s && s->role == RAFT_VOTER;
}

int raft__conf_change(const struct raft_conf *c, enum raft_conf_change cc, uint64_t id,
                      const char *addr, struct raft_conf *out)
{
    if (id == RAFT_NONE)
        return CN_EINVAL;
    const struct raft_server *s = raft_conf_find(c, id);
    *out = *c;
    switch (cc) {
    case RAFT_CC_ADD_LEARNER: {
        if (s)
            return CN_EEXIST;
        if (c->n >= RAFT_MAX_SERVERS)
            return CN_ETOOBIG;
        size_t al = addr ? strlen(addr) : 0;
        if (al >= sizeof(out->servers[0].addr))
            return CN_EINVAL;
        struct raft_server *ns = &out->servers[out->n++];
        memset(ns, 0, sizeof(*ns));
        ns->id = id;
        ns->role = RAFT_LEARNER;
        if (al)
            memcpy(ns->addr, addr, al);
        return 0;
    }
    case RAFT_CC_PROMOTE:
        if (!s)
            return CN_ENOTFOUND;
        if (s->role != RAFT_LEARNER)
            return CN_EINVAL;
        out->servers[s - c->servers].role = RAFT_VOTER;
        return 0;
    case RAFT_CC_REMOVE: {
        if (!s)
            return CN_ENOTFOUND;
        if (s->role == RAFT_VOTER && raft__conf_voters(c) == 1)
            return CN_EINVAL; /* a cluster without voters can never elect */
        size_t k = (size_t)(s - c->servers);
        memmove(&out->servers[k], &out->servers[k + 1], (out->n - k - 1) * sizeof(*s));
        out->n--;
        memset(&out->servers[out->n], 0, sizeof(*s));
        return 0;
    }
    }
    return CN_EINVAL;
}

int raft_propose_conf(struct raft *r, enum raft_conf_change cc, uint64_t id, const char *addr,
                      uint64_t *index)
{
    if (r->state != RAFT_LEADER || r->transferee != RAFT_NONE)
        return CN_EAGAIN;
    /* Pitfall #20 (raft-dev 2015): no config entry before an entry of this
     * term (the no-op) has committed. Pitfall #22: at most one uncommitted
     * config entry; under the thesis rule the latest one is in our log, so
     * conf_index > commit says exactly whether one is pending. */
    if (r->log.commit < r->term_start || r->conf_index > r->log.commit)
        return CN_EAGAIN;
    struct raft_conf nc;
    int rc = raft__conf_change(&r->conf, cc, id, addr, &nc);
    if (rc != 0)
        return rc;
    uint8_t buf[2 + RAFT_MAX_SERVERS * (10 + sizeof(nc.servers[0].addr))];
    size_t len;
    rc = raft_conf_encode(&nc, buf, sizeof(buf), &len);
    if (rc != 0)
        return rc;
    uint64_t idx;
    rc = raft__append_local(r, RAFT_ENTRY_CONF, buf, len, &idx);
    if (rc != 0)
        return rc;
    if (index)
        *index = idx;
    raft__logf(r, 2, "conf change %d for %llu proposed at %llu", (int)cc, (unsigned long long)id,
               (unsigned long long)idx);
    return 0;
}

void raft__conf_committed(struct raft *r)
{
    if (r->state != RAFT_LEADER || r->conf_index == 0 || r->conf_index > r->log.commit)
        return;
    if (raft__conf_is_voter(&r->conf, r->cfg.id))
        return;
    /* Pitfall #24 (thesis §4.2.2): a leader that removed itself manages the
     * change until C_new commits, then steps down. Hand over at once to the
     * most up-to-date voter so the cluster does not wait an election timeout. */
    struct raft_prog *best = NULL;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft_prog *p = &r->prs[i];
        if (raft__conf_is_voter(&r->conf, p->id) && (!best || p->match > best->match))
            best = p;
    }
    if (best && best->match == raft__log_last(&r->log)) {
        struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = best->id};
        raft__send(r, &m);
    }
    raft__logf(r, 2, "removed from the configuration at %llu: stepping down",
               (unsigned long long)r->conf_index);
    raft__become_follower(r, r->term, RAFT_NONE);
}
