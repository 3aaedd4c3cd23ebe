/* api/snapshot.c: GET and PUT /v1/snapshot (Consul's snapshot API).
 *
 * Save: after the read barrier (?stale skips it, as in Consul), the server
 * takes a snapshot of its state at the applied index, or reuses the current
 * one when nothing was applied since (srv_snapshot_take); the tables are
 * counted at the moment its index is chosen. The answer is streamed: the
 * archive's head (base/snaparch.h: meta.json, then the state part's header),
 * the state bytes read from the snapshot file in 1 MiB pieces on libuv's
 * pool (never the whole file in memory; at most SAVE_QUEUED bytes waiting for
 * a slow client), and the checksums. X-Consul-Index is the snapshot's index.
 *
 * Restore: the body is the whole archive (up to limits.http_max_body's
 * API_SNAPSHOT_MAX_BODY): checked whole (snaparch_read, then
 * the state's own magic and CRC), then proposed through the log as
 * RESTORE_CHUNK commands of STATE_RESTORE_CHUNK_MAX bytes, one after the
 * other, and a RESTORE_COMMIT (state/restore.c): every server replaces its
 * state at the commit's index. A damaged file is refused before anything is
 * proposed. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "base/crc.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/snaparch.h"

#define SAVE_READ ((size_t)1 << 20)
#define SAVE_QUEUED ((size_t)4 << 20)

/* ---- save ---- */

struct ssave {
    struct api *api;
    struct api_ctx *c;    /* until the stream starts */
    struct http_req *req; /* once it started; NULL once ended */
    struct srv_snapwait *wait;
    struct state_counts counts;
    uint64_t index, term;
    int fd;
    uint64_t off, left;
    uv_fs_t fs;
    uint8_t *buf;
    bool reading, want_drain;
    struct snaparch_w w;
    bool w_open;
};

static void save_free(struct ssave *ss)
{
    if (ss->fd >= 0)
        close(ss->fd);
    if (ss->w_open)
        snaparch_w_free(&ss->w);
    cn_free(ss->buf);
    cn_free(ss);
}

static void save_end(struct ssave *ss, bool ok)
{
    if (ss->req) {
        ss->req->user = NULL;
        http_stream_end(ss->req, ok);
        ss->req = NULL;
    }
    if (!ss->reading)
        save_free(ss);
}

static void save_pump(struct ssave *ss);

static void on_read(uv_fs_t *f)
{
    struct ssave *ss = f->data;
    ssize_t n = f->result;
    uv_fs_req_cleanup(f);
    ss->reading = false;
    if (!ss->req) { /* the client went away meanwhile */
        save_free(ss);
        return;
    }
    if (n <= 0) {
        cn_error("api", "snapshot save: reading the snapshot file at offset %" PRIu64 ": %s",
                 ss->off, n < 0 ? uv_strerror((int)n) : "unexpected end of file");
        save_end(ss, false);
        return;
    }
    snaparch_w_state(&ss->w, ss->buf, (size_t)n);
    ss->off += (uint64_t)n;
    ss->left -= (uint64_t)n;
    if (http_stream_write(ss->req, ss->buf, (size_t)n)) {
        save_end(ss, false);
        return;
    }
    save_pump(ss);
}

static void save_pump(struct ssave *ss)
{
    if (ss->left == 0) {
        struct cn_buf tail;
        cn_buf_init(&tail);
        ss->w_open = false;
        int rc = snaparch_w_end(&ss->w, &tail);
        if (!rc)
            rc = http_stream_write(ss->req, tail.p, tail.len);
        cn_buf_free(&tail);
        save_end(ss, rc == 0);
        return;
    }
    if (http_stream_queued(ss->req) > SAVE_QUEUED) {
        ss->want_drain = true; /* a slow client: wait for the socket */
        return;
    }
    size_t n = ss->left < SAVE_READ ? (size_t)ss->left : SAVE_READ;
    uv_buf_t b = uv_buf_init((char *)ss->buf, (unsigned)n);
    ss->fs.data = ss;
    if (uv_fs_read(ss->api->loop, &ss->fs, ss->fd, &b, 1, (int64_t)ss->off, on_read) != 0) {
        save_end(ss, false);
        return;
    }
    ss->reading = true;
}

static void on_drain(struct http_req *req)
{
    struct ssave *ss = req->user;
    if (ss && ss->want_drain && !ss->reading) {
        ss->want_drain = false;
        save_pump(ss);
    }
}

static void on_stream_abort(struct http_req *req)
{
    struct ssave *ss = req->user;
    if (ss)
        save_end(ss, false);
    else
        http_stream_end(req, false);
}

static int meta_json(const struct ssave *ss, struct cn_buf *b)
{
    const struct api_config *cfg = &ss->api->cfg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    const struct state_counts *k = &ss->counts;
    return cn_buf_printf(
        b,
        "{\"ID\":\"%" PRIu64 "-%" PRIu64 "-%" PRIu64 "\",\"Version\":1,\"Index\":%" PRIu64
        ",\"Term\":%" PRIu64 ",\"Created\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\","
        "\"CairnVersion\":\"%s\",\"Datacenter\":\"%s\",\"Node\":\"%s\",\"Tables\":{"
        "\"KV\":%zu,\"KVTombstones\":%zu,\"Nodes\":%zu,\"Services\":%zu,\"Checks\":%zu,"
        "\"Sessions\":%zu,\"PreparedQueries\":%zu}}",
        ss->term, ss->index, ms, ss->index, ss->term, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
        tm.tm_hour, tm.tm_min, tm.tm_sec, cfg->version, cfg->datacenter, cfg->node_name, k->kv,
        k->kv_tombstones, k->nodes, k->services, k->checks, k->sessions, k->queries);
}

static void on_taken(void *arg, uint64_t index)
{
    struct ssave *ss = arg;
    state_counts(srv_state(ss->api->srv), &ss->counts);
    (void)index;
}

static void on_snap_done(void *arg, int rc, uint64_t index, uint64_t term)
{
    struct ssave *ss = arg;
    struct api_ctx *c = ss->c;
    ss->wait = NULL;
    c->user = NULL;
    c->user_free = NULL;
    if (rc) {
        save_free(ss);
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "snapshot failed: %s", cn_strerror(rc));
        return;
    }
    ss->index = index;
    ss->term = term;
    char err[256];
    int fd =
        srv_snapshot_open_state(ss->api->srv, index, term, &ss->off, &ss->left, err, sizeof(err));
    if (fd < 0) {
        save_free(ss);
        api_error(c, 500, "%s", err);
        return;
    }
    ss->fd = fd;
    struct cn_buf meta, head;
    cn_buf_init(&meta);
    cn_buf_init(&head);
    rc = meta_json(ss, &meta);
    if (!rc)
        rc = snaparch_w_begin(&ss->w, &head, meta.p, meta.len, ss->left);
    ss->w_open = rc == 0;
    cn_buf_free(&meta);
    if (!rc && !(ss->buf = cn_malloc(SAVE_READ)))
        rc = CN_ENOMEM;
    if (rc) {
        cn_buf_free(&head);
        save_free(ss);
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    uint64_t total = head.len + ss->left + CN_SHA256_LEN + 8 + CN_SHA256_LEN;
    char hdrs[160];
    int hl =
        snprintf(hdrs, sizeof(hdrs), "X-Consul-Index: %" PRIu64 "\r\nX-Consul-KnownLeader: %s\r\n",
                 index, srv_known_leader(ss->api->srv) ? "true" : "false");
    struct http_req *req = c->req;
    api__ctx_detach(c);
    ss->c = NULL;
    ss->req = req;
    req->user = ss;
    rc = http_stream_start(req, 200, "application/octet-stream", hdrs, (size_t)hl, (int64_t)total,
                           on_drain, on_stream_abort);
    if (!rc)
        rc = http_stream_write(req, head.p, head.len);
    cn_buf_free(&head);
    if (rc) {
        save_end(ss, false);
        return;
    }
    cn_info("api", "snapshot save: streaming index %" PRIu64 " (%" PRIu64 " bytes)", index, total);
    save_pump(ss);
}

static void save_user_free(void *p)
{
    struct ssave *ss = p;
    if (ss->wait)
        srv_snapshot_cancel(ss->api->srv, ss->wait);
    save_free(ss);
}

static void on_save_barrier(void *arg, int rc)
{
    struct api_ctx *c = arg;
    struct ssave *ss = c->user;
    if (rc) {
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "No cluster leader");
        return;
    }
    rc = srv_snapshot_take(c->api->srv, on_taken, on_snap_done, ss, &ss->wait);
    if (rc)
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "snapshot failed: %s", cn_strerror(rc));
}

static void h_save(struct api_ctx *c)
{
    struct ssave *ss = cn_calloc(1, sizeof(*ss));
    if (!ss) {
        api_error(c, 500, "out of memory");
        return;
    }
    ss->api = c->api;
    ss->c = c;
    ss->fd = -1;
    c->user = ss;
    c->user_free = save_user_free;
    enum srv_read_mode m = c->cons == API_CONS_STALE        ? SRV_READ_STALE
                           : c->cons == API_CONS_CONSISTENT ? SRV_READ_CONSISTENT
                                                            : SRV_READ_DEFAULT;
    if (srv_read_barrier(c->api->srv, m, on_save_barrier, c) != 0)
        on_save_barrier(c, CN_ENOMEM);
}

/* ---- restore ---- */

struct srest {
    const uint8_t *state; /* in the request body */
    size_t len, off;
    uint64_t id;
    uint32_t seq;
    uint64_t arch_index;
    bool commit_sent;
};

static void rest_next(struct api_ctx *c);

static void on_rest_applied(struct api_ctx *c, int rc, const struct state_result *res)
{
    struct srest *r = c->user;
    if (rc) {
        const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
        cn_warn("api", "snapshot restore failed: %s", why);
        api_error(c, 500, "snapshot restore failed: %s", why);
        return;
    }
    if (!r->commit_sent) {
        rest_next(c);
        return;
    }
    { /* the commit was applied */
        cn_info("api", "snapshot restore of archive index %" PRIu64 " (%zu bytes) committed",
                r->arch_index, r->len);
        api_reply_empty(c);
    }
}

static void rest_done_last(struct api_ctx *c, int rc, const struct state_result *res)
{
    on_rest_applied(c, rc, res);
}

static void rest_next(struct api_ctx *c)
{
    struct srest *r = c->user;
    struct cn_buf cmd;
    cn_buf_init(&cmd);
    int rc;
    if (r->off < r->len || r->seq == 0) {
        size_t n = r->len - r->off;
        if (n > STATE_RESTORE_CHUNK_MAX)
            n = STATE_RESTORE_CHUNK_MAX;
        rc = state_cmd_restore_chunk(&cmd, r->id, r->seq, r->len, r->state + r->off, n);
        r->off += n;
        r->seq++;
        api_propose_rc(c, rc, &cmd, on_rest_applied);
        return;
    }
    rc = state_cmd_restore_commit(&cmd, r->id, r->len);
    r->commit_sent = true;
    api_propose_rc(c, rc, &cmd, rest_done_last);
}

static void h_restore(struct api_ctx *c)
{
    const struct http_req *req = c->req;
    struct snaparch a;
    char err[512];
    int rc = snaparch_read(req->body, req->body_len, &a, err, sizeof(err));
    if (rc) {
        if (rc == CN_ENOMEM)
            api_error(c, 500, "out of memory");
        else
            api_error(c, 400, "%s", err);
        return;
    }
    /* The state part's own framing (state/snapshot.c): magic, then a CRC32C
     * of everything before its last four bytes. */
    if (a.state_len < 9 || memcmp(a.state, "CNST", 4) != 0 ||
        cn_get_u32(a.state + a.state_len - 4) != cn_crc32c(0, a.state, a.state_len - 4)) {
        api_error(c, 400,
                  "snapshot archive: part state.bin at offset %" PRIu64
                  ": not a cairn state encoding or its CRC32C does not match",
                  a.state_off);
        return;
    }
    struct srest *r = cn_calloc(1, sizeof(*r));
    if (!r) {
        api_error(c, 500, "out of memory");
        return;
    }
    r->state = a.state;
    r->len = a.state_len;
    r->arch_index = a.index;
    r->id = (c->api->rng ^ uv_hrtime()) | 1;
    c->user = r;
    c->user_free = cn_free;
    cn_info("api", "snapshot restore: archive %s, index %" PRIu64 ", %zu bytes of state", a.id,
            a.index, a.state_len);
    rest_next(c);
}

static void h_snapshot(struct api_ctx *c)
{
    if (c->req->method == HTTP_M_PUT)
        h_restore(c);
    else
        h_save(c);
}

const struct api_route api_snapshot_routes[] = {
    {"/v1/snapshot", false, API_GET | API_PUT, NULL, h_snapshot, API_FIXED(ACL, WRITE),
     API_FIXED(ACL, WRITE)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
