/* server/recover.c: what storage holds at open. The raft id file, the
 * bootstrap of a lone server, the latest snapshot and the log after it,
 * turned into the state machine and a new Raft core. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

int srv__load_id(const char *data_dir, uint64_t *id, char *err, size_t errcap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/raft-id", data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        unsigned long long v = 0;
        int n = fscanf(f, "%llx", &v);
        fclose(f);
        if (n != 1 || v == 0) {
            snprintf(err, errcap, "%s: not a raft server id", path);
            return CN_ECORRUPT;
        }
        *id = v;
        return 0;
    }
    /* Random and never reused: a server that lost its data dir comes back as
     * a new member, never as an old one with a forgotten vote. */
    uint64_t v = 0;
    while (v == 0)
        if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
            snprintf(err, errcap, "getrandom: %s", strerror(errno));
            return CN_EIO;
        }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%016llx\n", (unsigned long long)v) < 0 || fflush(f) || fsync(fileno(f))) {
        snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        return CN_EIO;
    }
    fclose(f);
    if (rename(tmp, path)) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EIO;
    }
    *id = v;
    return 0;
}

/* The log read at open: entries up to the durable commit are applied while
 * read (their bytes are never copied; the core gets their terms as runs);
 * the rest are copied for the core. */
struct rec {
    struct srv *s;
    uint64_t apply_to;
    struct raft_run *runs;
    size_t n_runs, cap_runs;
    bool conf_applied;
    struct raft_entry *e;
    size_t n, cap;
    struct cn_buf blob;
};

static int rec_apply(struct rec *r, const struct stor_entry *e)
{
    if (!r->n_runs || r->runs[r->n_runs - 1].term != e->term) {
        if (r->n_runs == r->cap_runs) {
            size_t nc = r->cap_runs ? r->cap_runs * 2 : 16;
            struct raft_run *nr = cn_realloc(r->runs, nc * sizeof(*nr));
            if (!nr)
                return CN_ENOMEM;
            r->runs = nr;
            r->cap_runs = nc;
        }
        r->runs[r->n_runs++] = (struct raft_run){.first = e->index, .term = e->term};
    }
    struct raft_entry x = {.index = e->index,
                           .term = e->term,
                           .type = e->type == STOR_CONF ? RAFT_ENTRY_CONF : RAFT_ENTRY_NORMAL,
                           .data = {.base = (void *)e->data, .len = e->len}};
    if (x.type == RAFT_ENTRY_CONF) {
        r->conf_applied = true;
        r->s->bootstrapped = true;
    }
    srv__apply_entry(r->s, &x);
    return 0;
}

static int rec_entry(void *arg, const struct stor_entry *e)
{
    struct rec *r = arg;
    if (e->index <= r->apply_to)
        return rec_apply(r, e);
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
        struct raft_entry *ne = cn_realloc(r->e, nc * sizeof(*ne));
        if (!ne)
            return CN_ENOMEM;
        r->e = ne;
        r->cap = nc;
    }
    struct raft_entry *x = &r->e[r->n++];
    x->index = e->index;
    x->term = e->term;
    x->type = e->type == STOR_CONF ? RAFT_ENTRY_CONF : RAFT_ENTRY_NORMAL;
    /* offsets for now: the blob may move while growing */
    x->data.base = (void *)(uintptr_t)r->blob.len;
    x->data.len = e->len;
    return e->len ? cn_buf_append(&r->blob, e->data, e->len) : 0;
}

static void raft_log(void *arg, int level, const char *msg)
{
    (void)arg;
    cn_log_write((enum cn_log_level)level, "raft", "%s", msg);
}

/* The one configuration of this server's core, whether recovered at open or
 * created by a bootstrap_expect bootstrap (discovery.c). */
void srv__raft_config(const struct srv *s, struct raft_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = s->id;
    cfg->election_ticks = s->election_ticks;
    cfg->heartbeat_ticks = s->heartbeat_ticks;
    cfg->rng_seed = s->id ^ uv_hrtime();
    cfg->pre_vote = true;
    cfg->check_quorum = true;
    cfg->lease_reads = true;
    cfg->max_msg_bytes = 1 << 20;
    cfg->compact_keep_bytes = SNAP_KEEP_BYTES;
    size_t xmax = srv__xport_max_msg();
    if (xmax && xmax / 4 < cfg->max_msg_bytes)
        cfg->max_msg_bytes = xmax / 4; /* an APPEND must fit a transport message */
    cfg->max_inflight_msgs = 256;
    /* The in-memory log window: followers further behind are served by
     * read-back from the WAL (readback.c), or the snapshot. */
    cfg->log_window_entries = s->log_window_entries;
    cfg->log_window_bytes = s->log_window_bytes;
    cfg->log = raft_log;
}

/* Recover what storage holds (bootstrapping a lone server first) and
 * create the core from it. Returns 0 or an error described in err; the
 * caller closes s on error. */
int srv__recover(struct srv *s, const char *dir, bool empty, bool alone, struct stor_info *info,
                 char *err, size_t errcap)
{
    int rc;
    /* A single server bootstraps itself: entry 1 is its configuration. */
    struct raft_conf self_conf;
    memset(&self_conf, 0, sizeof(self_conf));
    self_conf.n = 1;
    self_conf.servers[0].id = s->id;
    snprintf(self_conf.servers[0].addr, sizeof(self_conf.servers[0].addr), "%s", s->self_addr);
    if (empty && alone) {
        uint8_t buf[256];
        size_t len;
        raft_conf_encode(&self_conf, buf, sizeof(buf), &len);
        struct stor_entry e = {.index = 1, .term = 1, .type = STOR_CONF, .data = buf, .len = len};
        struct stor_hard_state hs = {.term = 1};
        if ((rc = stor_set_hard_state(s->st, &hs)) || (rc = stor_append(s->st, &e, 1)) ||
            (rc = stor_sync(s->st))) {
            snprintf(err, errcap, "%s: bootstrapping: %s", dir, cn_strerror(rc));
            return rc;
        }
        stor_get_info(s->st, info);
        s->bootstrapped = true;
    }

    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    if (info->snap_index) {
        /* Mapped, not read into the heap: restored, then unmapped. */
        uint64_t si = info->snap_index, stt = info->snap_term;
        struct stor_snap_map map;
        char merr[256] = "";
        rc = stor_snapshot_map(s->st, si, stt, false, &map, merr, sizeof(merr));
        if (rc) {
            snprintf(err, errcap, "%s: loading snapshot: %s", dir,
                     merr[0] ? merr : cn_strerror(rc));
            return rc;
        }
        const void *data = map.data;
        size_t len = map.len;
        struct raft_conf c;
        const void *sp;
        size_t sl;
        char rerr[256] = "";
        rc = srv__snap_split(data, len, &c, &sp, &sl, rerr, sizeof(rerr));
        if (!rc)
            rc = state_snapshot_restore(s->state, sp, sl, rerr, sizeof(rerr));
        stor_snapshot_unmap(&map);
        if (rc) {
            snprintf(err, errcap, "%s: snapshot at index %llu: %s", dir, (unsigned long long)si,
                     rerr[0] ? rerr : cn_strerror(rc));
            return rc;
        }
        s->applied = si;
        s->applied_term = stt;
        s->last_snap_index = si;
        s->last_snap_term = stt;
        rs.snap.index = si;
        rs.snap.term = stt;
        rs.snap.conf = c;
        s->bootstrapped = true;
    }
    struct rec rec = {0};
    rec.blob = (struct cn_buf)CN_BUF_INIT;
    rec.s = s;
    /* Committed for sure: up to the recorded commit (the meta file's,
     * written clamped to what was applied, or the commit file's, written
     * once the log up to it was durable and applied: stor_note_commit), so
     * every entry up to it is committed and applied now, without waiting
     * for a leader to say so again. */
    rec.apply_to = info->commit < info->last_index ? info->commit : info->last_index;
    s->commit_posted = info->commit;
    s->applied_conf = rs.snap.conf;
    if (info->last_index > s->applied && info->last_index >= info->first_index) {
        uint64_t lo = s->applied + 1;
        if (lo < info->first_index) {
            snprintf(err, errcap, "%s: log starts at %llu but state is at %llu: entries missing",
                     dir, (unsigned long long)info->first_index, (unsigned long long)s->applied);
            return CN_ECORRUPT;
        }
        /* One allocation for the bytes not applied while read (no
         * doubling copies). */
        uint64_t copy_lo = rec.apply_to + 1 > lo ? rec.apply_to + 1 : lo;
        size_t bytes = 0;
        if (copy_lo <= info->last_index)
            bytes = stor_bytes(s->st, copy_lo, info->last_index);
        if (bytes && cn_buf_reserve(&rec.blob, bytes) != 0) {
            snprintf(err, errcap, "%s: reading log: %s", dir, cn_strerror(CN_ENOMEM));
            return CN_ENOMEM;
        }
        rc = stor_read(s->st, lo, info->last_index, rec_entry, &rec);
        if (rc) {
            cn_free(rec.runs);
            cn_free(rec.e);
            cn_buf_free(&rec.blob);
            snprintf(err, errcap, "%s: reading log: %s", dir, cn_strerror(rc));
            return rc;
        }
        for (size_t i = 0; i < rec.n; i++) {
            rec.e[i].data.base = rec.blob.p + (uintptr_t)rec.e[i].data.base;
            if (rec.e[i].type == RAFT_ENTRY_CONF)
                s->bootstrapped = true;
        }
    }
    uint64_t last_term = rec.n        ? rec.e[rec.n - 1].term
                         : rec.n_runs ? rec.runs[rec.n_runs - 1].term
                                      : info->snap_term;
    if (rec.n_runs) {
        /* Applied while read: the core gets their terms only. */
        rs.applied = s->applied;
        rs.applied_terms = rec.runs;
        rs.n_applied_terms = rec.n_runs;
        if (rec.conf_applied)
            rs.applied_conf = s->applied_conf;
    }
    rs.term = info->hs.term;
    rs.vote = info->hs.vote;
    if (last_term > rs.term) { /* never written by this version; be lenient */
        rs.term = last_term;
        rs.vote = 0;
    }
    rs.commit = info->commit;
    rs.entries = rec.e;
    rs.n_entries = rec.n;
    /* Logs written before Raft carry no configuration: a single server. */
    if (!s->bootstrapped && alone && !empty)
        rs.conf = self_conf;
    if (!s->bootstrapped && alone && !empty)
        s->bootstrapped = true;
    srv_seq_init(&s->seq,
                 &(struct raft_hard_state){.term = rs.term, .vote = rs.vote, .commit = rs.commit});
    if (!rec.conf_applied)
        s->applied_conf = rs.snap.index ? rs.snap.conf : rs.conf;

    struct raft_config cfg;
    srv__raft_config(s, &cfg);
    s->raft = raft_new(&cfg, &rs);
    cn_free(rec.runs);
    cn_free(rec.e);
    cn_buf_free(&rec.blob);
    if (!s->raft) {
        snprintf(err, errcap, "%s: the recovered log is inconsistent", dir);
        return CN_ECORRUPT;
    }
    if (rs.snap.index)
        raft_set_snapshot(s->raft, &rs.snap);
    return 0;
}
