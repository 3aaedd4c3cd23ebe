/* client/kv.c: KV get/put/cas/delete and a one-key watch
 * (website/content/api-docs/kv.mdx). Values travel base64 in the JSON
 * answer of GET; ?cas answers true/false. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "client/client_int.h"

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Standard base64 (padding optional) into a malloc'd NUL-terminated buffer. */
static int b64_decode(const char *s, char **out, size_t *outlen)
{
    size_t n = strlen(s);
    char *o = malloc(n / 4 * 3 + 4);
    if (!o)
        return -ENOMEM;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return -EPROTO;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    o[k] = '\0';
    *out = o;
    *outlen = k;
    return 0;
}

/* "/v1/kv/KEY", one leading '/' of the key dropped as Go's api.KV does
 * (the server would answer "/v1/kv//k" with a redirect). */
static int key_path(struct cairn__buf *p, const char *key)
{
    int rc = cairn__buf_add(p, "/v1/kv/", 7);
    return rc ? rc : cairn__buf_esc(p, key[0] == '/' ? key + 1 : key, true);
}

/* The first entry of a GET /v1/kv answer: value and ModifyIndex. */
int cairn__kv_parse_entry(const char *body, char **val, size_t *len, uint64_t *mi)
{
    struct json_object *arr = json_tokener_parse(body), *e, *v;
    int rc = -EPROTO;
    if (!arr || !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) < 1)
        goto out;
    e = json_object_array_get_idx(arr, 0);
    if (mi && json_object_object_get_ex(e, "ModifyIndex", &v))
        *mi = (uint64_t)json_object_get_int64(v);
    if (json_object_object_get_ex(e, "Value", &v) && json_object_is_type(v, json_type_string)) {
        rc = b64_decode(json_object_get_string(v), val, len);
    } else {
        rc = (*val = calloc(1, 1)) ? 0 : -ENOMEM; /* a null value */
        *len = 0;
    }
out:
    json_object_put(arr);
    return rc;
}

int cairn_kv_get(struct cairn_client *c, const char *key, char **val, size_t *len,
                 uint64_t *modify_index)
{
    if (!c || !key || !*key || !val)
        return -EINVAL;
    struct cairn__buf p = {0};
    int rc = key_path(&p, key);
    if (!rc)
        rc = cairn__req(c, "GET", p.p, "", NULL, 0, false);
    cairn__buf_free(&p);
    if (!rc)
        rc = cairn__status(c, true);
    if (rc)
        return rc;
    size_t l = 0;
    rc = cairn__kv_parse_entry(c->body.p, val, &l, modify_index);
    if (len)
        *len = l;
    return rc;
}

static int put(struct cairn_client *c, const char *key, const void *val, size_t len,
               const char *query)
{
    if (!c || !key || !*key || (len && !val))
        return -EINVAL;
    struct cairn__buf p = {0};
    int rc = key_path(&p, key);
    if (!rc)
        rc = cairn__req(c, "PUT", p.p, query, val ? val : "", len, false);
    cairn__buf_free(&p);
    if (!rc)
        rc = cairn__status(c, false);
    if (!rc && c->body.p && strncmp(c->body.p, "false", 5) == 0)
        rc = -ECANCELED;
    return rc;
}

int cairn_kv_put(struct cairn_client *c, const char *key, const void *val, size_t len)
{
    return put(c, key, val, len, "");
}

int cairn_kv_cas(struct cairn_client *c, const char *key, const void *val, size_t len,
                 uint64_t index)
{
    char q[40];
    snprintf(q, sizeof q, "cas=%llu", (unsigned long long)index);
    return put(c, key, val, len, q);
}

int cairn_kv_delete(struct cairn_client *c, const char *key)
{
    if (!c || !key || !*key)
        return -EINVAL;
    struct cairn__buf p = {0};
    int rc = key_path(&p, key);
    if (!rc)
        rc = cairn__req(c, "DELETE", p.p, "", NULL, 0, false);
    cairn__buf_free(&p);
    return rc ? rc : cairn__status(c, false);
}

/* ?acquire= / ?release=: the answer is true or false (kv.mdx). */
static int lock_op(struct cairn_client *c, const char *key, const char *verb, const char *session,
                   const void *val, size_t len)
{
    if (!c || !key || !*key || !session || !*session || (len && !val))
        return -EINVAL;
    struct cairn__buf q = {0};
    int rc = cairn__buf_fmt(&q, "%s=", verb);
    if (!rc)
        rc = cairn__buf_esc(&q, session, false);
    if (!rc)
        rc = put(c, key, val, len, q.p);
    cairn__buf_free(&q);
    if (rc == -ECANCELED && c->status == 0)
        return rc; /* interrupted (a helper thread's stop), no answer */
    if (rc == -ECANCELED)
        return 0;
    if (rc)
        return rc;
    if (!c->body.p || strncmp(c->body.p, "true", 4) != 0) {
        snprintf(c->err, sizeof c->err, "?%s: expected true or false, got %.100s", verb,
                 c->body.p ? c->body.p : "");
        return -EPROTO;
    }
    return 1;
}

int cairn_kv_acquire(struct cairn_client *c, const char *key, const char *session, const void *val,
                     size_t len)
{
    return lock_op(c, key, "acquire", session, val, len);
}

int cairn_kv_release(struct cairn_client *c, const char *key, const char *session)
{
    return lock_op(c, key, "release", session, NULL, 0);
}

/* The Session of the first entry of a GET /v1/kv answer ("" when none). */
int cairn__kv_parse_session(const char *body, char sid[CAIRN_SESSION_ID_LEN], uint64_t *mi)
{
    struct json_object *arr = json_tokener_parse(body), *e, *v;
    int rc = -EPROTO;
    sid[0] = '\0';
    if (!arr || !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) < 1)
        goto out;
    e = json_object_array_get_idx(arr, 0);
    if (!json_object_is_type(e, json_type_object))
        goto out;
    if (mi && json_object_object_get_ex(e, "ModifyIndex", &v))
        *mi = (uint64_t)json_object_get_int64(v);
    rc = 0;
    if (json_object_object_get_ex(e, "Session", &v) && json_object_is_type(v, json_type_string)) {
        size_t n = (size_t)json_object_get_string_len(v);
        if (n >= CAIRN_SESSION_ID_LEN || strlen(json_object_get_string(v)) != n)
            rc = -EPROTO;
        else
            memcpy(sid, json_object_get_string(v), n + 1);
    }
out:
    json_object_put(arr);
    return rc;
}

/* ---- watch --------------------------------------------------------------------- */

struct cairn_kv_watch {
    struct cairn__bq q; /* first */
    char *key;
    cairn_kv_watch_cb cb;
    void *arg;
    bool seen;
    uint64_t last_mi; /* 0: absent */
};

static void kv_answer(struct cairn__bq *q, long status, const char *body, size_t len,
                      uint64_t index)
{
    (void)len;
    (void)index;
    struct cairn_kv_watch *w = (struct cairn_kv_watch *)q;
    char *val = NULL;
    size_t vlen = 0;
    uint64_t mi = 0;
    if (status == 200 && cairn__kv_parse_entry(body, &val, &vlen, &mi) != 0)
        return;
    if (w->seen && mi == w->last_mi) {
        free(val);
        return; /* another key under the same index moved: not ours */
    }
    w->seen = true;
    w->last_mi = mi;
    if (w->cb)
        w->cb(w->key, val, vlen, mi, w->arg);
    free(val);
}

struct cairn_kv_watch *cairn_kv_watch_start(const struct cairn_client_opts *copts, const char *key,
                                            cairn_kv_watch_cb cb, void *arg, int *err)
{
    int e = -EINVAL;
    struct cairn_kv_watch *w = NULL;
    struct cairn__buf p = {0};
    if (!key || !*key)
        goto fail;
    e = -ENOMEM;
    if (!(w = calloc(1, sizeof *w)) || !(w->key = strdup(key)) || key_path(&p, key) ||
        !(w->q.query = strdup("")))
        goto fail;
    w->q.path = p.p;
    p.p = NULL;
    w->q.wait_ms = 60000;
    w->q.backoff_min = 100;
    w->q.backoff_max = 30000;
    w->q.on_answer = kv_answer;
    w->cb = cb;
    w->arg = arg;
    if ((e = cairn__bq_start(&w->q, copts)))
        goto fail;
    return w;
fail:
    cairn__buf_free(&p);
    if (w) {
        free(w->key);
        free(w->q.path);
        free(w->q.query);
    }
    free(w);
    if (err)
        *err = e;
    return NULL;
}

void cairn_kv_watch_stop(struct cairn_kv_watch *w)
{
    if (!w)
        return;
    cairn__bq_stop(&w->q);
    free(w->key);
    free(w->q.path);
    free(w->q.query);
    free(w);
}
