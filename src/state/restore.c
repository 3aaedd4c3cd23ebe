/* state/restore.c: a snapshot restore carried by the log (PUT /v1/snapshot;
 * docs/architecture.md, "Snapshot archives"). The leader proposes the
 * archive's state encoding as CHUNK commands, then a COMMIT; every server
 * applies the same entries, so every server stages the same bytes and
 * replaces its state at the same index. Staging is memory owned by the
 * state; it is never in a snapshot (the server takes none while staging). */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

int state_cmd_restore_chunk(struct cn_buf *out, uint64_t id, uint32_t seq, uint64_t total,
                            const void *p, size_t n)
{
    if (n > STATE_RESTORE_CHUNK_MAX)
        return CN_EINVAL;
    CN_TRY(cn_enc_u8(out, STATE_CMD_RESTORE_CHUNK));
    CN_TRY(cn_enc_u8(out, STATE_CMD_VERSION));
    CN_TRY(cn_enc_u64(out, id));
    CN_TRY(cn_enc_u32(out, seq));
    CN_TRY(cn_enc_u64(out, total));
    return cn_enc_bytes(out, p, n);
}

int state_cmd_restore_commit(struct cn_buf *out, uint64_t id, uint64_t total)
{
    CN_TRY(cn_enc_u8(out, STATE_CMD_RESTORE_COMMIT));
    CN_TRY(cn_enc_u8(out, STATE_CMD_VERSION));
    CN_TRY(cn_enc_u64(out, id));
    return cn_enc_u64(out, total);
}

bool state_restore_staging(const struct state *s)
{
    return s->rst.on;
}

void state_restore_abort(struct state *s)
{
    cn_free(s->rst.p);
    memset(&s->rst, 0, sizeof(s->rst));
}

static int invalid(struct state_result *res, const char *why)
{
    if (res) {
        res->rc = CN_EINVAL;
        res->errors = cn_calloc(1, sizeof(*res->errors));
        if (res->errors) {
            res->nerrors = 1;
            snprintf(res->errors[0].what, sizeof(res->errors[0].what), "%s", why);
        }
    }
    return CN_EINVAL;
}

static int chunk(struct state *s, struct cn_dec *d, struct state_result *res)
{
    uint64_t id = cn_dec_u64(d);
    uint32_t seq = cn_dec_u32(d);
    uint64_t total = cn_dec_u64(d);
    size_t n;
    const uint8_t *p = cn_dec_bytes(d, &n);
    if (!cn_dec_done(d))
        return CN_ECORRUPT;
    if (seq == 0) {
        state_restore_abort(s);
        if (total > SIZE_MAX / 2)
            return invalid(res, "restore too large");
        s->rst.on = true;
        s->rst.id = id;
        s->rst.total = total;
    } else if (!s->rst.on || s->rst.id != id || s->rst.seq != seq) {
        state_restore_abort(s);
        return invalid(res, "restore chunk out of sequence");
    }
    if (s->rst.total != total || n > total - s->rst.len) {
        state_restore_abort(s);
        return invalid(res, "restore chunk beyond the announced length");
    }
    if (s->rst.len + n > s->rst.cap) {
        size_t cap = s->rst.cap ? s->rst.cap : ((size_t)1 << 20);
        while (cap < s->rst.len + n)
            cap *= 2;
        if (cap > total)
            cap = (size_t)total;
        uint8_t *np = cn_realloc(s->rst.p, cap ? cap : 1);
        if (!np)
            return CN_ENOMEM;
        s->rst.p = np;
        s->rst.cap = cap;
    }
    memcpy(s->rst.p + s->rst.len, p, n);
    s->rst.len += n;
    s->rst.seq++;
    return 0;
}

static int commit(struct state *s, uint64_t index, struct cn_dec *d, struct state_result *res)
{
    uint64_t id = cn_dec_u64(d);
    uint64_t total = cn_dec_u64(d);
    if (!cn_dec_done(d))
        return CN_ECORRUPT;
    if (!s->rst.on || s->rst.id != id || s->rst.total != total || s->rst.len != total) {
        state_restore_abort(s);
        return invalid(res, "restore commit without its staged chunks");
    }
    char err[200];
    /* Decoded into a fresh state and swapped in only when whole: on any
     * error s is unchanged. The staging is freed with the old contents. */
    int rc = state_snapshot_restore_at(s, s->rst.p, s->rst.len, index, err, sizeof(err));
    if (rc == CN_ENOMEM)
        return rc;
    if (rc) {
        state_restore_abort(s);
        return invalid(res, err);
    }
    return 0;
}

int state__restore_apply(struct state *s, uint64_t index, const void *cmd, size_t len,
                         struct state_result *res)
{
    struct cn_dec d;
    cn_dec_init(&d, cmd, len);
    uint8_t type = cn_dec_u8(&d);
    uint8_t ver = cn_dec_u8(&d);
    if (d.err || ver < STATE_CMD_VERSION_MIN || ver > STATE_CMD_VERSION) {
        if (res)
            res->rc = CN_ECORRUPT;
        return CN_ECORRUPT;
    }
    int rc = type == STATE_CMD_RESTORE_CHUNK ? chunk(s, &d, res) : commit(s, index, &d, res);
    if (rc == CN_ENOMEM || rc == CN_ECORRUPT) {
        if (res)
            res->rc = rc;
        return rc;
    }
    /* Applied (or refused, which counts as applied): the index moves on. */
    s->last_index = index;
    if (res) {
        res->rc = rc;
        res->ok = rc == 0;
    }
    return rc;
}

static size_t count_tree(struct avl *root, const struct avl_ops *ops)
{
    struct avl_iter it;
    size_t n = 0;
    state__avl_seek(&it, root, NULL, false, ops);
    while (state__avl_next(&it))
        n++;
    return n;
}

void state_counts(const struct state *s, struct state_counts *out)
{
    memset(out, 0, sizeof(*out));
    out->kv = s->kv_live;
    out->kv_tombstones = s->kv_tombs;
    out->nodes = count_tree(s->nodes, &state__node_ops);
    out->services = count_tree(s->services, &state__svc_id_ops);
    out->checks = count_tree(s->checks, &state__chk_ops);
    out->sessions = s->nsess;
    out->queries = s->nqueries;
}
