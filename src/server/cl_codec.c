/* server/cl_codec.c: encode and decode the client-agent protocol
 * (cl_codec.h; docs/wire-format.md). Little-endian integers; byte strings
 * as u32 length then bytes (base/enc.h). */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "server/cl_codec.h"
#include "server/fwd_codec.h"
#include "server/wire_rd.h"

static bool hdr_ok(const struct srv_cl_hdr *h)
{
    if (!h->name_len || h->name_len > 256 || h->value_len > 8192)
        return false;
    for (size_t i = 0; i < h->name_len; i++) {
        unsigned char c = (unsigned char)h->name[i];
        if (c <= ' ' || c >= 0x7f || c == ':')
            return false;
    }
    for (size_t i = 0; i < h->value_len; i++) {
        unsigned char c = (unsigned char)h->value[i];
        if (c == '\r' || c == '\n' || c == 0)
            return false;
    }
    return true;
}

static int enc_hdrs(struct cn_buf *b, const struct srv_cl_hdr *h, uint32_t n)
{
    if (n > SRV_CL_MAX_HDRS)
        return CN_EINVAL;
    int rc = cn_enc_u32(b, n);
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (!hdr_ok(&h[i]))
            return CN_EINVAL;
        rc = cn_enc_bytes(b, h[i].name, h[i].name_len);
        rc = rc ? rc : cn_enc_bytes(b, h[i].value, h[i].value_len);
    }
    return rc;
}

static bool kind_ok(int k, bool req)
{
    return k == SRV_CL_HTTP || k == SRV_CL_PROPOSE || k == SRV_CL_DUMP ||
           (req && k == SRV_CL_CANCEL);
}

int srv_cl_req_encode(const struct srv_cl_req *m, struct cn_buf *b)
{
    if (!kind_ok((int)m->kind, true))
        return CN_EINVAL;
    int rc = cn_enc_u8(b, SRV_CL_VERSION);
    rc = rc ? rc : cn_enc_u8(b, (uint8_t)m->kind);
    rc = rc ? rc : cn_enc_u64(b, m->id);
    if (rc)
        return rc;
    switch (m->kind) {
    case SRV_CL_HTTP:
        if (!m->method_len || m->method_len > SRV_CL_METHOD_MAX || !m->target_len ||
            m->target[0] != '/' || memchr(m->target, 0, m->target_len))
            return CN_EINVAL;
        rc = cn_enc_bytes(b, m->method, m->method_len);
        rc = rc ? rc : cn_enc_bytes(b, m->target, m->target_len);
        rc = rc ? rc : enc_hdrs(b, m->hdrs, m->nhdrs);
        return rc ? rc : cn_enc_bytes(b, m->body, m->body_len);
    case SRV_CL_PROPOSE:
        if (!m->body_len)
            return CN_EINVAL;
        return cn_enc_bytes(b, m->body, m->body_len);
    case SRV_CL_DUMP:
        if (!m->target_len || m->target_len > SRV_CL_NODE_MAX ||
            memchr(m->target, 0, m->target_len))
            return CN_EINVAL;
        return cn_enc_bytes(b, m->target, m->target_len);
    case SRV_CL_CANCEL:
        return 0;
    }
    return CN_EINVAL;
}

int srv_cl_resp_encode(const struct srv_cl_resp *m, struct cn_buf *b)
{
    if (!kind_ok((int)m->kind, false))
        return CN_EINVAL;
    int rc = cn_enc_u8(b, SRV_CL_VERSION);
    rc = rc ? rc : cn_enc_u8(b, (uint8_t)m->kind);
    rc = rc ? rc : cn_enc_u64(b, m->id);
    if (rc)
        return rc;
    if (m->kind == SRV_CL_HTTP) {
        if (m->status < 100 || m->status > 599)
            return CN_EINVAL;
        if (m->has_ctype) {
            struct srv_cl_hdr t = {"Content-Type", m->ctype, 12, m->ctype_len};
            if (!hdr_ok(&t))
                return CN_EINVAL;
        }
        rc = cn_enc_u32(b, m->status);
        rc = rc ? rc : cn_enc_u8(b, m->has_ctype ? 1 : 0);
        if (!rc && m->has_ctype)
            rc = cn_enc_bytes(b, m->ctype, m->ctype_len);
        rc = rc ? rc : enc_hdrs(b, m->hdrs, m->nhdrs);
        return rc ? rc : cn_enc_bytes(b, m->body, m->body_len);
    }
    if (m->code > SRV_FWD_CODE_MAX || (m->kind == SRV_CL_PROPOSE && m->body_len > SRV_CL_MSG_MAX))
        return CN_EINVAL;
    rc = cn_enc_u8(b, m->code);
    rc = rc ? rc : cn_enc_u64(b, m->index);
    if (!rc && m->kind == SRV_CL_DUMP)
        rc = cn_enc_u64(b, m->nodes);
    return rc ? rc : cn_enc_bytes(b, m->body, m->body_len);
}

/* ---- decoding ----------------------------------------------------------- */

static const char *rd_bytes(struct srv_rd *r, size_t *n, size_t max, const char *what)
{
    size_t at = r->off;
    uint32_t len = srv_rd_u32(r, what);
    if (!r->bad && len > max) {
        r->off = at;
        srv_rd_fail(r, "%s is %u bytes (at most %zu)", what, len, max);
        return NULL;
    }
    r->off = at;
    return (const char *)srv_rd_bytes(r, n, what);
}

static void rd_hdrs(struct srv_rd *r, struct srv_cl_hdr *h, uint32_t *n)
{
    size_t at = r->off;
    uint32_t c = srv_rd_u32(r, "header count");
    if (!r->bad && c > SRV_CL_MAX_HDRS) {
        r->off = at;
        srv_rd_fail(r, "%u headers (at most %d)", c, SRV_CL_MAX_HDRS);
        return;
    }
    for (uint32_t i = 0; i < c && !r->bad; i++) {
        at = r->off;
        h[i].name = rd_bytes(r, &h[i].name_len, 256, "header name");
        h[i].value = rd_bytes(r, &h[i].value_len, 8192, "header value");
        if (!r->bad && !hdr_ok(&h[i])) {
            r->off = at;
            srv_rd_fail(r, "malformed header");
        }
    }
    *n = r->bad ? 0 : c;
}

static enum srv_cl_kind rd_head(struct srv_rd *r, bool req, uint64_t *id)
{
    uint8_t v = srv_rd_u8(r, "version");
    if (!r->bad && v != SRV_CL_VERSION) {
        r->off = 0;
        srv_rd_fail(r, "version %u, we speak %u", v, SRV_CL_VERSION);
        return 0;
    }
    uint8_t k = srv_rd_u8(r, "kind");
    if (!r->bad && !kind_ok(k, req)) {
        r->off--;
        srv_rd_fail(r, "unknown %s kind %u", req ? "request" : "answer", k);
    }
    *id = srv_rd_u64(r, "request id");
    return (enum srv_cl_kind)k;
}

int srv_cl_req_decode(const void *p, size_t len, struct srv_cl_req *m, char *err, size_t errcap)
{
    struct srv_rd r = {p, len, 0, false, err, errcap};
    memset(m, 0, sizeof(*m));
    m->kind = rd_head(&r, true, &m->id);
    if (r.bad)
        return srv_rd_end(&r);
    size_t at;
    switch (m->kind) {
    case SRV_CL_HTTP:
        at = r.off;
        m->method = rd_bytes(&r, &m->method_len, SRV_CL_METHOD_MAX, "method");
        if (!r.bad && !m->method_len) {
            r.off = at;
            srv_rd_fail(&r, "empty method");
        }
        for (size_t i = 0; !r.bad && i < m->method_len; i++)
            if (m->method[i] < 'A' || m->method[i] > 'Z') {
                r.off = at;
                srv_rd_fail(&r, "method is not upper-case letters");
            }
        at = r.off;
        m->target = rd_bytes(&r, &m->target_len, UINT32_MAX, "target");
        if (!r.bad &&
            (!m->target_len || m->target[0] != '/' || memchr(m->target, 0, m->target_len) ||
             memchr(m->target, '\r', m->target_len) || memchr(m->target, '\n', m->target_len))) {
            r.off = at;
            srv_rd_fail(&r, "target must start with / and hold no NUL, CR or LF");
        }
        rd_hdrs(&r, m->hdrs, &m->nhdrs);
        m->body = rd_bytes(&r, &m->body_len, UINT32_MAX, "body");
        break;
    case SRV_CL_PROPOSE:
        at = r.off;
        m->body = rd_bytes(&r, &m->body_len, UINT32_MAX, "command");
        if (!r.bad && !m->body_len) {
            r.off = at;
            srv_rd_fail(&r, "empty command");
        }
        break;
    case SRV_CL_DUMP:
        at = r.off;
        m->target = rd_bytes(&r, &m->target_len, SRV_CL_NODE_MAX, "node");
        if (!r.bad && (!m->target_len || memchr(m->target, 0, m->target_len))) {
            r.off = at;
            srv_rd_fail(&r, "node name empty or with a NUL");
        }
        break;
    case SRV_CL_CANCEL:
        break;
    }
    return srv_rd_end(&r);
}

int srv_cl_resp_decode(const void *p, size_t len, struct srv_cl_resp *m, char *err, size_t errcap)
{
    struct srv_rd r = {p, len, 0, false, err, errcap};
    memset(m, 0, sizeof(*m));
    m->kind = rd_head(&r, false, &m->id);
    if (r.bad)
        return srv_rd_end(&r);
    size_t at = r.off;
    if (m->kind == SRV_CL_HTTP) {
        uint32_t st = srv_rd_u32(&r, "status");
        if (!r.bad && (st < 100 || st > 599)) {
            r.off = at;
            srv_rd_fail(&r, "status %u", st);
        }
        m->status = (uint16_t)st;
        at = r.off;
        uint8_t has = srv_rd_u8(&r, "content type flag");
        if (!r.bad && has > 1) {
            r.off = at;
            srv_rd_fail(&r, "content type flag is %u, not 0 or 1", has);
        }
        m->has_ctype = has == 1;
        if (m->has_ctype) {
            at = r.off;
            m->ctype = rd_bytes(&r, &m->ctype_len, 256, "content type");
            struct srv_cl_hdr t = {"Content-Type", m->ctype, 12, m->ctype_len};
            if (!r.bad && !hdr_ok(&t)) {
                r.off = at;
                srv_rd_fail(&r, "malformed content type");
            }
        }
        rd_hdrs(&r, m->hdrs, &m->nhdrs);
        m->body = rd_bytes(&r, &m->body_len, UINT32_MAX, "body");
        return srv_rd_end(&r);
    }
    m->code = srv_rd_u8(&r, "code");
    if (!r.bad && m->code > SRV_FWD_CODE_MAX) {
        r.off = at;
        srv_rd_fail(&r, "unknown code %u", m->code);
    }
    m->index = srv_rd_u64(&r, "index");
    if (m->kind == SRV_CL_DUMP)
        m->nodes = srv_rd_u64(&r, "node count");
    m->body = rd_bytes(&r, &m->body_len, m->kind == SRV_CL_PROPOSE ? SRV_CL_MSG_MAX : UINT32_MAX,
                       m->kind == SRV_CL_PROPOSE ? "message" : "commands");
    if (!r.bad && m->kind == SRV_CL_DUMP && m->code == SRV_FWD_OK) {
        size_t off = 0, n;
        const void *c;
        int k;
        while ((k = srv_cl_dump_next(m->body, m->body_len, &off, &c, &n)) == 1)
            ;
        if (k) {
            srv_rd_fail(&r, "truncated command in a node dump");
        }
    }
    return srv_rd_end(&r);
}

int srv_cl_dump_next(const void *p, size_t len, size_t *off, const void **cmd, size_t *cmd_len)
{
    if (*off == len)
        return 0;
    if (len - *off < 4)
        return CN_EPROTO;
    uint32_t n = cn_get_u32((const uint8_t *)p + *off);
    if (len - *off - 4 < n || !n)
        return CN_EPROTO;
    *cmd = (const uint8_t *)p + *off + 4;
    *cmd_len = n;
    *off += 4 + (size_t)n;
    return 1;
}

int srv_cl_dump_add(struct cn_buf *body, const void *cmd, size_t len)
{
    return cn_enc_bytes(body, cmd, len);
}
