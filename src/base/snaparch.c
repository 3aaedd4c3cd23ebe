/* base/snaparch.c: the snapshot archive codec (layout in snaparch.h). */
#include "base/snaparch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/json.h"

static int put_part_hdr(struct snaparch_w *w, struct cn_buf *out, const char tag[4], uint64_t len)
{
    uint8_t h[SNAPARCH_PART_HDR];
    memcpy(h, tag, 4);
    cn_put_u64(h + 4, len);
    cn_sha256_update(&w->all, h, sizeof(h));
    return cn_buf_append(out, h, sizeof(h));
}

void snaparch_w_free(struct snaparch_w *w)
{
    cn_sha256_free(&w->all);
    cn_sha256_free(&w->part);
}

int snaparch_w_begin(struct snaparch_w *w, struct cn_buf *out, const void *meta, size_t meta_len,
                     uint64_t state_len)
{
    memset(w, 0, sizeof(*w));
    int rc = cn_sha256_init(&w->all);
    uint8_t h[SNAPARCH_HEAD_LEN], d[CN_SHA256_LEN];
    memcpy(h, SNAPARCH_MAGIC, 8);
    cn_put_u32(h + 8, SNAPARCH_VERSION);
    if (!rc) {
        cn_sha256_update(&w->all, h, sizeof(h));
        rc = cn_buf_append(out, h, sizeof(h));
    }
    if (!rc)
        rc = put_part_hdr(w, out, "META", meta_len);
    if (!rc) {
        cn_sha256_update(&w->all, meta, meta_len);
        rc = cn_buf_append(out, meta, meta_len);
    }
    if (!rc)
        rc = cn_sha256(meta, meta_len, d);
    if (!rc) {
        cn_sha256_update(&w->all, d, sizeof(d));
        rc = cn_buf_append(out, d, sizeof(d));
    }
    if (!rc)
        rc = put_part_hdr(w, out, "STAT", state_len);
    if (!rc)
        rc = cn_sha256_init(&w->part);
    w->state_len = state_len;
    if (rc)
        snaparch_w_free(w);
    return rc;
}

void snaparch_w_state(struct snaparch_w *w, const void *p, size_t n)
{
    cn_sha256_update(&w->all, p, n);
    cn_sha256_update(&w->part, p, n);
    w->state_seen += n;
}

int snaparch_w_end(struct snaparch_w *w, struct cn_buf *out)
{
    if (w->state_seen != w->state_len) {
        snaparch_w_free(w);
        return CN_EINVAL;
    }
    uint8_t d[CN_SHA256_LEN], t[8 + CN_SHA256_LEN];
    cn_sha256_final(&w->part, d);
    cn_sha256_update(&w->all, d, sizeof(d));
    memcpy(t, SNAPARCH_TRAILER, 8);
    cn_sha256_final(&w->all, t + 8);
    int rc = cn_buf_append(out, d, sizeof(d));
    if (!rc)
        rc = cn_buf_append(out, t, sizeof(t));
    return rc;
}

int snaparch_write(struct cn_buf *out, const void *meta, size_t meta_len, const void *state,
                   size_t state_len)
{
    struct snaparch_w w;
    CN_TRY(snaparch_w_begin(&w, out, meta, meta_len, state_len));
    int rc = cn_buf_append(out, state, state_len);
    if (rc) {
        snaparch_w_free(&w);
        return rc;
    }
    snaparch_w_state(&w, state, state_len);
    return snaparch_w_end(&w, out);
}

/* ---- reading ---- */

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        int n = snprintf(err, cap, "snapshot archive: ");
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < cap)
            vsnprintf(err + n, cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return CN_ECORRUPT;
}

static const char *foreign(const uint8_t *b, size_t len)
{
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "a gzip file (Consul's snapshots are gzip'd tar archives: cairn cannot restore "
               "them, see docs/consul-compat.md)";
    if (len >= 262 && memcmp(b + 257, "ustar", 5) == 0)
        return "a tar archive";
    if (len >= 4 && (memcmp(b, "CNS1", 4) == 0 || memcmp(b, "CNST", 4) == 0))
        return "a raw cairn Raft snapshot or state file, not an archive from `cairn snapshot save`";
    if (len >= 1 && (b[0] == '{' || b[0] == '['))
        return "JSON text";
    return "unknown data";
}

/* One part at *off: tag, length, bytes, SHA-256. */
static int read_part(const uint8_t *b, size_t len, size_t *off, const char *tag, const char *name,
                     const uint8_t **data, size_t *dlen, char *err, size_t cap)
{
    size_t o = *off;
    if (len - o < SNAPARCH_PART_HDR)
        return fail(err, cap, "truncated at offset %zu: part %s header needs %u bytes, %zu left", o,
                    name, SNAPARCH_PART_HDR, len - o);
    if (memcmp(b + o, tag, 4) != 0)
        return fail(err, cap, "offset %zu: expected part %s (tag %s)", o, name, tag);
    uint64_t n = cn_get_u64(b + o + 4);
    size_t left = len - o - SNAPARCH_PART_HDR;
    if (n > left || left - n < CN_SHA256_LEN)
        return fail(err, cap,
                    "truncated at offset %zu: part %s claims %" PRIu64
                    " bytes and its checksum, %zu left",
                    o, name, n, left);
    const uint8_t *p = b + o + SNAPARCH_PART_HDR;
    uint8_t d[CN_SHA256_LEN];
    if (cn_sha256(p, (size_t)n, d))
        return CN_ENOMEM;
    if (memcmp(d, p + n, CN_SHA256_LEN) != 0)
        return fail(err, cap,
                    "part %s at offset %zu (%" PRIu64 " bytes from offset %zu): SHA-256 mismatch",
                    name, o, n, o + SNAPARCH_PART_HDR);
    *data = p;
    *dlen = (size_t)n;
    *off = o + SNAPARCH_PART_HDR + (size_t)n + CN_SHA256_LEN;
    return 0;
}

static int read_meta(struct snaparch *a, char *err, size_t cap)
{
    char jerr[128];
    struct json_object *o = cn_json_parse(a->meta, a->meta_len, jerr, sizeof(jerr));
    if (!o)
        return fail(err, cap, "part meta.json at offset %u: %s", SNAPARCH_HEAD_LEN, jerr);
    const char *id = NULL;
    int rc = 0;
    if (!json_object_is_type(o, json_type_object) || cn_json_get_u64(o, "Index", &a->index) != 1 ||
        cn_json_get_u64(o, "Term", &a->term) != 1 || cn_json_get_str(o, "ID", &id) != 1 ||
        strlen(id) >= sizeof(a->id))
        rc = fail(err, cap, "part meta.json at offset %u: Index, Term or ID missing or invalid",
                  SNAPARCH_HEAD_LEN);
    else
        snprintf(a->id, sizeof(a->id), "%s", id);
    json_object_put(o);
    return rc;
}

int snaparch_read(const void *p, size_t len, struct snaparch *a, char *err, size_t errcap)
{
    memset(a, 0, sizeof(*a));
    if (err && errcap)
        err[0] = '\0';
    const uint8_t *b = p;
    if (len < 8 || memcmp(b, SNAPARCH_MAGIC, 8) != 0)
        return fail(err, errcap, "offset 0: not a cairn snapshot archive: %s",
                    len ? foreign(b, len) : "empty file");
    if (len < SNAPARCH_HEAD_LEN)
        return fail(err, errcap, "truncated at offset %zu: header needs %u bytes", len,
                    SNAPARCH_HEAD_LEN);
    a->version = cn_get_u32(b + 8);
    if (a->version != SNAPARCH_VERSION)
        return fail(err, errcap,
                    "offset 8: unsupported archive version %" PRIu32 " (this cairn reads %u)",
                    a->version, SNAPARCH_VERSION);
    size_t off = SNAPARCH_HEAD_LEN;
    const uint8_t *m;
    CN_TRY(read_part(b, len, &off, "META", "meta.json", &m, &a->meta_len, err, errcap));
    a->meta = (const char *)m;
    size_t soff = off + SNAPARCH_PART_HDR;
    CN_TRY(read_part(b, len, &off, "STAT", "state.bin", &a->state, &a->state_len, err, errcap));
    a->state_off = soff;
    if (len - off < 8 + CN_SHA256_LEN)
        return fail(err, errcap, "truncated at offset %zu: the trailer needs %u bytes, %zu left",
                    off, 8 + CN_SHA256_LEN, len - off);
    if (memcmp(b + off, SNAPARCH_TRAILER, 8) != 0)
        return fail(err, errcap, "offset %zu: expected the trailer", off);
    if (len - off != 8 + CN_SHA256_LEN)
        return fail(err, errcap, "offset %zu: %zu bytes after the trailer", off + 8 + CN_SHA256_LEN,
                    len - off - 8 - CN_SHA256_LEN);
    uint8_t d[CN_SHA256_LEN];
    if (cn_sha256(b, off, d))
        return CN_ENOMEM;
    if (memcmp(d, b + off + 8, CN_SHA256_LEN) != 0)
        return fail(err, errcap, "trailer at offset %zu: whole-file SHA-256 mismatch", off);
    return read_meta(a, err, errcap);
}
