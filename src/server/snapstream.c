/* server/snapstream.c: snapshots travel from file to file in chunks.
 *
 * The Raft core names a snapshot by (index, term, configuration) and never
 * holds its bytes (raft.h, RAFT_MSG_SNAPSHOT). When it asks to send one to a
 * follower, the leader's shell opens the snapshot file and streams it, header
 * included, as XPORT_SNAP_CHUNK frames of `snap_chunk` bytes, at most
 * `snap_window` chunks ahead of the follower's XPORT_SNAP_ACKs. Chunks are
 * read on libuv's thread pool (uv_fs_read) into one buffer per stream.
 *
 * The follower's shell writes the chunks in order to
 * snapshots/tmp-<index>-<term>.recv (uv_fs_write: the loop never waits on
 * the disk), acknowledging each once written; after the last one it fsyncs
 * the file and checks it whole (header, both checksums: stor_snapshot_map
 * on the thread pool), and only then acknowledges it as complete. The
 * leader then sends the core's SNAPSHOT message itself; the follower hands
 * it to its core only if it holds that complete file (or the core has the
 * snapshot's index committed already and will not install it). The core's
 * install (u.snapshot) has the writer rename the file into place
 * (stor_snapshot_adopt_recv) and the loop restore the state from a read-only
 * mapping of it. Memory on either side: the window's chunks, never the
 * snapshot; no size limit but the disk's.
 *
 * Failures: a read, write or check error, an ack out of order, a peer going
 * down, or no ack progress for `SS_STALL_TICKS` election timeouts aborts the
 * stream and tells the core (raft_report_snapshot false), which probes and
 * sends again from byte 0. A kill -9 on either side leaves a tmp- file that
 * the next stor_open removes.
 *
 * Frames (little-endian): CHUNK = index u64, term u64, file size u64,
 * offset u64, bytes; ACK = index u64, term u64, bytes written u64,
 * status u8 (SS_PROGRESS, SS_DONE, SS_FAIL). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "server/ss_codec.h"

#define SS_HDR SS_CHUNK_HDR
#define SS_STALL_TICKS 20 /* election timeouts without ack progress */

struct sso { /* a stream out, to one follower */
    struct sso *next;
    struct srv *s;
    uint64_t to, index, term, size;
    int fd;
    uint64_t sent, acked;
    uint64_t last_news; /* uv_now of the last ack progress */
    bool reading, dead;
    uv_fs_t req;
    struct omsg *msg; /* the core's SNAPSHOT message, sent once the file is there */
    uint8_t *buf;     /* SS_HDR + snap_chunk */
};

struct ss_qchunk {
    struct ss_qchunk *next;
    uint64_t off;
    size_t len;
    uint8_t data[];
};

struct ssi { /* the stream in, from a leader */
    struct srv *s;
    uint64_t from, index, term, size;
    int fd;
    uint64_t received, written;
    size_t queued;
    struct ss_qchunk *qh, *qt;
    bool busy; /* a write, fsync or check is in flight */
    bool dead, ready, failed;
    int check_rc;
    uv_fs_t req;
    uv_work_t work;
};

/* ---- leader: streaming out ------------------------------------------------------- */

static void sso_free(struct sso *o)
{
    if (o->fd >= 0)
        close(o->fd);
    cn_free(o->msg);
    cn_free(o->buf);
    cn_free(o);
}

static void sso_unlink(struct srv *s, struct sso *o)
{
    for (struct sso **pp = &s->sout; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            return;
        }
}

/* End a stream; report a failure to the core. Freed now or when its read
 * returns. */
static void sso_end(struct srv *s, struct sso *o, bool failed)
{
    sso_unlink(s, o);
    o->dead = true;
    if (failed && s->raft && !s->closing)
        raft_report_snapshot(s->raft, o->to, false);
    if (!o->reading)
        sso_free(o);
}

static void sso_pump(struct sso *o);

static void on_read(uv_fs_t *req)
{
    struct sso *o = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    o->reading = false;
    if (o->dead) {
        sso_free(o);
        return;
    }
    struct srv *s = o->s;
    if (n <= 0) {
        cn_warn("server", "snapshot %llu to %016llx: reading the file: %s",
                (unsigned long long)o->index, (unsigned long long)o->to,
                n < 0 ? uv_strerror((int)n) : "short file");
        sso_end(s, o, true);
        return;
    }
    srv_ss_chunk_header(o->buf, o->index, o->term, o->size, o->sent);
    int rc = s->x && !s->x_stopping
                 ? xport_send(s->x, o->to, XPORT_SNAP_CHUNK, o->buf, SS_HDR + (size_t)n)
                 : CN_ESHUTDOWN;
    if (rc == 0) {
        o->sent += (uint64_t)n;
        sso_pump(o);
    } else if (rc != CN_EAGAIN || !xport_peer_up(s->x, o->to)) {
        sso_end(s, o, true);
    }
    /* else the queue is full: the next tick reads the chunk again */
}

static void sso_pump(struct sso *o)
{
    struct srv *s = o->s;
    if (o->dead || o->reading || o->sent >= o->size)
        return;
    if (o->sent - o->acked >= (uint64_t)s->snap_window * s->snap_chunk)
        return;
    uint64_t left = o->size - o->sent;
    size_t n = left < s->snap_chunk ? (size_t)left : s->snap_chunk;
    uv_buf_t b = uv_buf_init((char *)o->buf + SS_HDR, (unsigned)n);
    o->req.data = o;
    if (uv_fs_read(s->loop, &o->req, o->fd, &b, 1, (int64_t)o->sent, on_read) != 0) {
        sso_end(s, o, true);
        return;
    }
    o->reading = true;
}

static struct sso *sso_find(struct srv *s, uint64_t to)
{
    for (struct sso *o = s->sout; o; o = o->next)
        if (o->to == to)
            return o;
    return NULL;
}

void srv__sstream_start(struct srv *s, const struct omsg *m)
{
    struct sso *o = sso_find(s, m->to);
    if (o && o->index == m->snap_index && o->term == m->snap_term)
        return; /* already on its way (the core probed and asked again) */
    if (o)
        sso_end(s, o, false);
    uint64_t size = 0;
    /* Ours, or one we received and the writer is still adopting. */
    int fd = stor_snapshot_open(s->st, m->snap_index, m->snap_term, STOR_SNAP_READ, &size);
    if (fd == CN_ENOTFOUND)
        fd = stor_snapshot_open(s->st, m->snap_index, m->snap_term, STOR_RECV_READ, &size);
    if (fd < 0) {
        cn_warn("server", "snapshot %llu/%llu for %016llx: no such file: %s",
                (unsigned long long)m->snap_index, (unsigned long long)m->snap_term,
                (unsigned long long)m->to, cn_strerror(fd));
        if (s->raft)
            raft_report_snapshot(s->raft, m->to, false);
        return;
    }
    o = cn_calloc(1, sizeof(*o));
    struct omsg *copy = cn_malloc(sizeof(*m) + m->len);
    uint8_t *buf = cn_malloc(SS_HDR + s->snap_chunk);
    if (!o || !copy || !buf) {
        close(fd);
        cn_free(o);
        cn_free(copy);
        cn_free(buf);
        if (s->raft)
            raft_report_snapshot(s->raft, m->to, false);
        return;
    }
    memcpy(copy, m, sizeof(*m) + m->len);
    memset(&copy->link, 0, sizeof(copy->link));
    o->s = s;
    o->to = m->to;
    o->index = m->snap_index;
    o->term = m->snap_term;
    o->size = size;
    o->fd = fd;
    o->msg = copy;
    o->buf = buf;
    o->last_news = uv_now(s->loop);
    o->next = s->sout;
    s->sout = o;
    cn_info("server", "streaming snapshot %llu (%llu bytes) to %016llx in %zu-byte chunks",
            (unsigned long long)o->index, (unsigned long long)size, (unsigned long long)o->to,
            s->snap_chunk);
    sso_pump(o);
}

void srv__sstream_on_ack(struct srv *s, uint64_t from, const void *p, size_t len)
{
    struct ss_ack a;
    if (srv_ss_ack_decode(p, len, &a) != 0)
        return;
    uint64_t index = a.index, term = a.term, off = a.off;
    uint8_t st = a.status;
    struct sso *o = sso_find(s, from);
    if (!o || o->index != index || o->term != term || o->dead)
        return;
    if (st == SS_FAIL) {
        cn_warn("server", "snapshot %llu to %016llx: the follower refused it",
                (unsigned long long)index, (unsigned long long)from);
        sso_end(s, o, true);
        return;
    }
    if (st == SS_DONE) {
        cn_info("server", "snapshot %llu is on %016llx's disk", (unsigned long long)index,
                (unsigned long long)from);
        srv__send_encoded_now(s, o->msg);
        sso_end(s, o, false);
        return;
    }
    if (off > o->acked && off <= o->sent) {
        o->acked = off;
        o->last_news = uv_now(s->loop);
    }
    sso_pump(o);
}

/* ---- follower: receiving ------------------------------------------------------------ */

static void ssi_free(struct ssi *in)
{
    if (in->fd >= 0)
        close(in->fd);
    while (in->qh) {
        struct ss_qchunk *c = in->qh;
        in->qh = c->next;
        cn_free(c);
    }
    cn_free(in);
}

static void ssi_drop(struct srv *s, struct ssi *in)
{
    if (s->sin == in)
        s->sin = NULL;
    if (!in->ready && !in->dead)
        stor_snapshot_discard_recv(s->st, in->index, in->term); /* abandoned */
    in->dead = true;
    if (!in->busy)
        ssi_free(in);
}

static void send_ack(struct srv *s, uint64_t to, uint64_t index, uint64_t term, uint64_t off,
                     uint8_t st)
{
    uint8_t b[SS_ACK_LEN];
    struct ss_ack a = {.index = index, .term = term, .off = off, .status = st};
    srv_ss_ack_encode(b, &a);
    srv__send_raw(s, to, XPORT_SNAP_ACK, b, sizeof(b));
}

static void ssi_fail(struct srv *s, struct ssi *in, const char *why)
{
    cn_warn("server", "receiving snapshot %llu from %016llx: %s", (unsigned long long)in->index,
            (unsigned long long)in->from, why);
    send_ack(s, in->from, in->index, in->term, in->written, SS_FAIL);
    ssi_drop(s, in);
}

static void ssi_next(struct ssi *in);

static void check_work(uv_work_t *w)
{
    struct ssi *in = w->data;
    struct stor_snap_map m;
    char err[256];
    in->check_rc = stor_snapshot_map(in->s->st, in->index, in->term, true, &m, err, sizeof(err));
    stor_snapshot_unmap(&m);
}

static void check_done(uv_work_t *w, int status)
{
    struct ssi *in = w->data;
    in->busy = false;
    if (in->dead) {
        ssi_free(in);
        return;
    }
    if (status != 0 || in->check_rc != 0) {
        ssi_fail(in->s, in, "the received file fails its checks");
        return;
    }
    in->ready = true;
    cn_info("server", "received snapshot %llu (%llu bytes) from %016llx",
            (unsigned long long)in->index, (unsigned long long)in->size,
            (unsigned long long)in->from);
    send_ack(in->s, in->from, in->index, in->term, in->written, SS_DONE);
}

static void on_fsync(uv_fs_t *req)
{
    struct ssi *in = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    in->busy = false;
    if (in->dead) {
        ssi_free(in);
        return;
    }
    if (r < 0) {
        ssi_fail(in->s, in, "fsync failed");
        return;
    }
    in->work.data = in;
    if (uv_queue_work(in->s->loop, &in->work, check_work, check_done) != 0) {
        ssi_fail(in->s, in, "cannot check the file");
        return;
    }
    in->busy = true;
}

static void on_write(uv_fs_t *req)
{
    struct ssi *in = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    in->busy = false;
    struct ss_qchunk *c = in->qh;
    in->qh = c->next;
    if (!in->qh)
        in->qt = NULL;
    in->queued -= c->len;
    size_t clen = c->len;
    cn_free(c);
    if (in->dead) {
        ssi_free(in);
        return;
    }
    if (r < 0 || (size_t)r != clen) {
        ssi_fail(in->s, in, r < 0 ? uv_strerror((int)r) : "short write");
        return;
    }
    in->written += clen;
    send_ack(in->s, in->from, in->index, in->term, in->written, SS_PROGRESS);
    ssi_next(in);
}

static void ssi_next(struct ssi *in)
{
    if (in->busy || in->dead || in->ready)
        return;
    struct srv *s = in->s;
    in->req.data = in;
    if (in->qh) {
        uv_buf_t b = uv_buf_init((char *)in->qh->data, (unsigned)in->qh->len);
        if (uv_fs_write(s->loop, &in->req, in->fd, &b, 1, (int64_t)in->qh->off, on_write) != 0) {
            ssi_fail(s, in, "cannot write");
            return;
        }
        in->busy = true;
    } else if (in->written == in->size) {
        if (uv_fs_fsync(s->loop, &in->req, in->fd, on_fsync) != 0) {
            ssi_fail(s, in, "cannot fsync");
            return;
        }
        in->busy = true;
    }
}

void srv__sstream_on_chunk(struct srv *s, uint64_t from, const void *p, size_t len)
{
    struct ss_chunk ch;
    if (!s->raft || srv_ss_chunk_decode(p, len, &ch) != 0)
        return; /* malformed: ignored, the leader times out */
    uint64_t index = ch.index, term = ch.term, size = ch.size, off = ch.off;
    size_t n = ch.len;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (index <= st.commit) {
        /* Our log has it committed: the core will not install it. */
        send_ack(s, from, index, term, size, SS_DONE);
        return;
    }
    struct ssi *in = s->sin;
    bool same = in && in->from == from && in->index == index && in->term == term &&
                in->size == size && !in->failed;
    if (!same || off == 0) {
        if (off != 0) {
            send_ack(s, from, index, term, 0, SS_FAIL);
            return;
        }
        if (in)
            ssi_drop(s, in);
        int fd = stor_snapshot_open(s->st, index, term, STOR_RECV_CREATE, NULL);
        in = fd >= 0 ? cn_calloc(1, sizeof(*in)) : NULL;
        if (!in) {
            if (fd >= 0)
                close(fd);
            send_ack(s, from, index, term, 0, SS_FAIL);
            return;
        }
        in->s = s;
        in->from = from;
        in->index = index;
        in->term = term;
        in->size = size;
        in->fd = fd;
        s->sin = in;
    }
    if (in->ready)
        return; /* a duplicate of the last chunk: DONE was sent */
    if (off != in->received || in->queued > (size_t)(s->snap_window + 1) * s->snap_chunk) {
        ssi_fail(s, in, "chunk out of order");
        return;
    }
    struct ss_qchunk *c = cn_malloc(sizeof(*c) + n);
    if (!c) {
        ssi_fail(s, in, "out of memory");
        return;
    }
    c->next = NULL;
    c->off = off;
    c->len = n;
    memcpy(c->data, ch.data, n);
    if (in->qt)
        in->qt->next = c;
    else
        in->qh = c;
    in->qt = c;
    in->queued += n;
    in->received += n;
    ssi_next(in);
}

bool srv__sstream_deliverable(struct srv *s, uint64_t from, const struct raft_msg *m)
{
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (m->snap.index <= st.commit)
        return true; /* stale for the core: it only acknowledges */
    struct ssi *in = s->sin;
    if (!in || !in->ready || in->from != from || in->index != m->snap.index ||
        in->term != m->snap.term)
        return false;
    /* The file stays for the install (the writer renames it); the stream
     * is over. */
    ssi_drop(s, in);
    return true;
}

/* ---- both ------------------------------------------------------------------------- */

void srv__sstream_tick(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    uint64_t stall = (uint64_t)SS_STALL_TICKS * s->election_ticks * s->tick_ms;
    for (struct sso *o = s->sout, *nx; o; o = nx) {
        nx = o->next;
        if (now - o->last_news > stall) {
            cn_warn("server", "snapshot %llu to %016llx: no progress for %llu ms",
                    (unsigned long long)o->index, (unsigned long long)o->to,
                    (unsigned long long)stall);
            sso_end(s, o, true);
        } else {
            sso_pump(o); /* after a full queue */
        }
    }
}

void srv__sstream_peer_down(struct srv *s, uint64_t id)
{
    struct sso *o = sso_find(s, id);
    if (o)
        sso_end(s, o, true);
}

void srv__sstream_close_all(struct srv *s)
{
    while (s->sout)
        sso_end(s, s->sout, false);
    if (s->sin)
        ssi_drop(s, s->sin);
}
