/* server/writer.c: the log writer thread. It takes every job queued since
 * its last round, writes the hard state first (so no durable entry is ever
 * newer than the durable term), appends, fdatasyncs once, installs a
 * finished snapshot between two batches, and hands the jobs back through a
 * uv_async (srv__on_async, on the loop). It touches only storage and the
 * copies in the jobs. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "metrics/metrics.h"

static int write_job(struct srv *s, struct wjob *j, bool *need_sync)
{
    int rc = 0;
    if (j->has_snap) {
        /* An installed snapshot replaces everything before it; entries after
         * it from an old leader must not survive next to it (Log Matching),
         * so the log is reset behind it. */
        if (*need_sync && (rc = stor_sync(s->st)))
            return rc;
        *need_sync = false;
        struct stor_info info;
        stor_get_info(s->st, &info);
        if (info.last_index > j->snap_index && info.first_index <= info.last_index)
            if ((rc = stor_truncate_suffix(s->st, j->snap_index)))
                return rc;
        if (j->snap_index > info.snap_index) {
            /* The file came in chunks and is durable (snapstream.c). */
            rc = stor_snapshot_adopt_recv(s->st, j->snap_index, j->snap_term);
            if (rc)
                cn_error("server", "adopting a received snapshot: %s", cn_strerror(rc));
            if (!rc)
                rc = stor_snapshot_install(s->st, j->snap_index, j->snap_term, SNAP_RETAIN);
            if (rc)
                return rc;
        }
    }
    if (j->n) {
        if ((rc = stor_append(s->st, j->ents, j->n)))
            return rc;
        *need_sync = true;
    }
    return 0;
}

/* Under mu: a posted commit the writer can note now (every job submitted
 * before it was posted is written). */
static bool commit_ready(const struct srv *s)
{
    return s->commit_hint > s->commit_hint_taken && s->commit_hint_seq <= s->wdone_seq;
}

/* Note the commit posted by the loop once the jobs it follows are durable
 * (batch_seq: the last job of this round, already synced). Then the log on
 * disk up to the posted (applied, so committed) index is the committed log,
 * so a restart may apply it without a leader (storage.h, stor_note_commit).
 * A failure is logged once and only costs that shortcut. */
static void note_commit(struct srv *s, uint64_t batch_seq)
{
    pthread_mutex_lock(&s->mu);
    if (batch_seq > s->wdone_seq)
        s->wdone_seq = batch_seq;
    bool ready = commit_ready(s);
    uint64_t c = s->commit_hint;
    if (ready)
        s->commit_hint_taken = c; /* taken even when not written: no spin */
    ready = ready && !s->write_err;
    pthread_mutex_unlock(&s->mu);
    if (!ready)
        return;
    int rc = stor_note_commit(s->st, c);
    if (rc && !s->commit_warned) {
        s->commit_warned = true;
        cn_warn("server", "recording the commit index: %s (a restart re-applies from the log)",
                cn_strerror(rc));
    }
}

/* Under mu, with no job queued: zero-fill ahead of the log's end
 * (stor_prepare), so that the next appends' fdatasync changes no file size
 * and commits nothing to the file system's journal. Most calls do nothing;
 * one in about 1 MiB of log writes 1 MiB and syncs, and a job queued
 * meanwhile waits for that one step. A failure poisons like a failed
 * append. */
static void prepare_ahead(struct srv *s)
{
    pthread_mutex_unlock(&s->mu);
    int rc = stor_prepare(s->st);
    pthread_mutex_lock(&s->mu);
    if (rc && !s->write_err) {
        s->write_err = rc;
        uv_async_send(&s->async);
    }
}

void *srv__writer_main(void *arg)
{
    struct srv *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->wq_head && !s->install_pending && !s->rb_want && !s->stop && !commit_ready(s))
            pthread_cond_wait(&s->cond, &s->mu);
        if (!s->wq_head && !s->install_pending && s->stop)
            break;
        struct wjob *batch = s->wq_head;
        s->wq_head = s->wq_tail = NULL;
        bool install = s->install_pending;
        uint64_t inst_index = s->install_index, inst_term = s->install_term;
        s->install_pending = false;
        int rc = s->write_err;
        pthread_mutex_unlock(&s->mu);
        if (!batch && !install) {
            /* Only a commit to note (or a read-back, below). */
            note_commit(s, 0);
            if (srv__readback_serve(s))
                uv_async_send(&s->async);
            pthread_mutex_lock(&s->mu);
            continue;
        }

        /* The newest hard state of the batch first: a durable entry must
         * never carry a term above the durable term (raft_new refuses that),
         * and a vote must be durable before the messages that reveal it. */
        uint64_t t_start = cn_now_ns(), t_sync = 0;
        const struct stor_hard_state *hs = NULL;
        for (struct wjob *j = batch; j; j = j->next)
            if (j->has_hs)
                hs = &j->hs;
        if (!rc && hs)
            rc = stor_set_hard_state(s->st, hs);
        bool need_sync = false;
        for (struct wjob *j = batch; j && !rc; j = j->next)
            rc = write_job(s, j, &need_sync);
        uint64_t t_write = cn_now_ns();
        if (!rc && need_sync) {
            rc = stor_sync(s->st);
            t_sync = cn_now_ns() - t_write;
        }
        uint64_t t_done = cn_now_ns();
        uint32_t n_ents = 0;
        uint64_t batch_seq = 0;
        for (struct wjob *j = batch; j; j = j->next) {
            j->rc = rc;
            j->done_ns = t_done;
            n_ents += (uint32_t)j->n;
            batch_seq = j->seq;
        }
        if (batch) {
            /* The loop turns these into samples (srv__on_async): the writer
             * only fills the jobs it hands back under the mutex. */
            batch->batch_head = true;
            batch->batch_n = n_ents;
            batch->write_ns = t_done - t_start;
            batch->sync_ns = t_sync;
        }

        /* The snapshot file is already durable: installing it is a few
         * unlinks and directory fsyncs, cheap enough between two batches. */
        int inst_rc = 0;
        if (install)
            inst_rc = stor_snapshot_install(s->st, inst_index, inst_term, SNAP_RETAIN);

        pthread_mutex_lock(&s->mu);
        if (rc && !s->write_err)
            s->write_err = rc;
        if (batch) {
            struct wjob *last = batch;
            while (last->next)
                last = last->next;
            if (s->done_tail)
                s->done_tail->next = batch;
            else
                s->done_head = batch;
            s->done_tail = last;
        }
        if (install) {
            s->snap_done = true;
            s->snap_rc = inst_rc;
            snprintf(s->snap_err, sizeof(s->snap_err), "installing: %s", cn_strerror(inst_rc));
        }
        pthread_cond_broadcast(&s->done_cond);
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        /* After the batch went back: one pwrite that no answer waits for. */
        if (!rc)
            note_commit(s, batch_seq);
        /* Entries a follower needs that left the core's memory
         * (readback.c): after the batch went back, so reads never delay
         * a durable write's answer. */
        if (srv__readback_serve(s))
            uv_async_send(&s->async);
        pthread_mutex_lock(&s->mu);
        if (!s->wq_head && !s->write_err && !s->stop)
            prepare_ahead(s);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static struct omsg *omsg_of(struct srv_seq_msg *l)
{
    return (struct omsg *)(void *)((char *)l - offsetof(struct omsg, link));
}

void srv__free_job(struct wjob *j)
{
    while (j->sq.msgs) {
        struct srv_seq_msg *m = j->sq.msgs;
        j->sq.msgs = m->next;
        cn_free(omsg_of(m));
    }
    cn_free(j->ents);
    cn_free(j->blob);
    cn_free(j);
}

void srv__submit_job(struct srv *s, struct wjob *j)
{
    j->submit_ns = cn_now_ns();
    j->seq = ++s->job_seq;
    j->sq.has_hs = j->has_hs;
    if (j->has_hs)
        j->sq.hs = (struct raft_hard_state){
            .term = j->hs.term, .vote = j->hs.vote, .commit = j->hs.commit};
    srv_seq_push(&s->seq, &j->sq);
    pthread_mutex_lock(&s->mu);
    if (s->wq_tail)
        s->wq_tail->next = j;
    else
        s->wq_head = j;
    s->wq_tail = j;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void srv__post_commit(struct srv *s)
{
    if (s->applied <= s->commit_posted || !s->writer_started)
        return;
    s->commit_posted = s->applied;
    pthread_mutex_lock(&s->mu);
    s->commit_hint = s->applied;
    s->commit_hint_seq = s->job_seq;
    if (commit_ready(s))
        pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

struct wjob *srv__make_job(const struct raft_update *u, bool hs, const struct stor_hard_state *h)
{
    struct wjob *j = cn_calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    if (hs) {
        j->has_hs = true;
        j->hs = *h;
    }
    if (u->snapshot) {
        j->has_snap = true;
        j->snap_index = u->snapshot->index;
        j->snap_term = u->snapshot->term;
    }
    if (u->n_entries) {
        size_t total = 0;
        for (size_t i = 0; i < u->n_entries; i++)
            total += u->entries[i].data.len;
        j->ents = cn_malloc(u->n_entries * sizeof(*j->ents));
        j->blob = cn_malloc(total ? total : 1);
        if (!j->ents || !j->blob)
            goto oom;
        uint8_t *b = j->blob;
        for (size_t i = 0; i < u->n_entries; i++) {
            const struct raft_entry *e = &u->entries[i];
            j->ents[i].index = e->index;
            j->ents[i].term = e->term;
            j->ents[i].type = e->type == RAFT_ENTRY_CONF ? STOR_CONF : STOR_NORMAL;
            j->ents[i].data = b;
            j->ents[i].len = e->data.len;
            if (e->data.len)
                memcpy(b, e->data.base, e->data.len);
            b += e->data.len;
        }
        j->n = u->n_entries;
    }
    return j;
oom:
    srv__free_job(j);
    return NULL;
}

/* The store is poisoned (docs/format-storage.md): nothing written after the
 * failure is durable, so this server must not go on voting, acknowledging or
 * leading. It goes silent to its peers at once, as a crashed server would
 * (a leader whose own writes fail would otherwise keep its followers'
 * heartbeats flowing and hold the cluster without committing anything), and
 * tells its owner, which exits. */
static void storage_failed(struct srv *s, int err)
{
    s->failed = true;
    if (s->timer_init)
        uv_timer_stop(&s->tick);
    cn_error("server", "storage failed (%s): this server stops taking part in the cluster",
             cn_strerror(err));
    if (s->on_fatal)
        s->on_fatal(s->fatal_arg, err, "the log's storage failed");
}

void srv__on_async(uv_async_t *h)
{
    struct srv *s = h->data;
    pthread_mutex_lock(&s->mu);
    struct wjob *done = s->done_head;
    s->done_head = s->done_tail = NULL;
    int err = s->write_err;
    bool snap_done = s->snap_done;
    int snap_rc = s->snap_rc;
    char snap_err[sizeof(s->snap_err)];
    memcpy(snap_err, s->snap_err, sizeof(snap_err));
    s->snap_done = false;
    pthread_mutex_unlock(&s->mu);

    while (done) {
        struct wjob *j = done;
        done = j->next;
        if (j->n && s->role == RAFT_LEADER)
            mx_sample(MX_RAFT_LEADER_DISPATCH_LOG, (double)(j->done_ns - j->submit_ns) / 1e6);
        if (j->batch_head && j->batch_n) {
            mx_sample(MX_RAFT_STORE_LOGS, (double)j->write_ns / 1e6);
            mx_sample(MX_RAFT_LOGS_PER_BATCH, (double)j->batch_n);
            if (j->sync_ns)
                mx_sample(MX_RAFT_FSYNC, (double)j->sync_ns / 1e6);
        }
        /* Acknowledge, then release what waited for it (server/seq.c). */
        struct srv_seq_done d;
        if (!srv_seq_complete(&s->seq, &j->sq, !j->rc, &d)) {
            cn_error("server", "a write job came back out of order; exiting");
            abort();
        }
        if (d.persisted && s->raft)
            raft_persisted(s->raft, d.index, d.term);
        while (d.msgs) {
            struct omsg *m = omsg_of(d.msgs);
            d.msgs = d.msgs->next;
            if (d.send && !s->closing)
                srv__send_encoded(s, m);
            cn_free(m);
        }
        srv__free_job(j);
    }
    if (snap_done)
        srv__snap_finished(s, snap_rc, snap_err);
    srv__readback_deliver(s);
    if (err && !s->failed)
        storage_failed(s, err);
    if (err) {
        /* The disk refused a write: nothing after it can be acknowledged. */
        for (struct prop *p = s->props.head, *nx; p; p = nx) {
            nx = p->next;
            srv__prop_finish(s, p, CN_EIO, NULL);
        }
    }
    srv__process_ready(s);
    if (!err)
        srv__maybe_snapshot(s);
}
