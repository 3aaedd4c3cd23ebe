/* gossip/keyring.c: the encryption keyring and its file (see keyring.h). */
#include "gossip/keyring.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"

bool gossip_key_len_ok(size_t len)
{
    return len == 16 || len == 24 || len == 32;
}

int gossip_keyring_find(const struct gossip_keyring *kr, const uint8_t *k, size_t len)
{
    for (size_t i = 0; i < kr->n; i++)
        if (kr->keys[i].len == len && !memcmp(kr->keys[i].k, k, len))
            return (int)i;
    return -1;
}

int gossip_keyring_add(struct gossip_keyring *kr, const uint8_t *k, size_t len, char *err,
                       size_t errcap)
{
    if (!gossip_key_len_ok(len)) {
        snprintf(err, errcap, "key size must be 16, 24 or 32 bytes");
        return CN_EINVAL;
    }
    if (gossip_keyring_find(kr, k, len) >= 0)
        return 0;
    if (kr->n == GOSSIP_KEYRING_MAX) {
        snprintf(err, errcap, "keyring is full (%d keys): remove unused keys first",
                 GOSSIP_KEYRING_MAX);
        return CN_ETOOBIG;
    }
    struct gossip_key *d = &kr->keys[kr->n++];
    memset(d, 0, sizeof(*d));
    d->len = (uint8_t)len;
    memcpy(d->k, k, len);
    return 0;
}

int gossip_keyring_use(struct gossip_keyring *kr, const uint8_t *k, size_t len, char *err,
                       size_t errcap)
{
    int i = gossip_keyring_find(kr, k, len);
    if (i < 0) {
        snprintf(err, errcap, "Requested key is not in the keyring");
        return CN_ENOTFOUND;
    }
    if (i > 0) {
        /* memberlist's installKeys: the primary first, the others in order */
        struct gossip_key p = kr->keys[i];
        memmove(&kr->keys[1], &kr->keys[0], (size_t)i * sizeof(kr->keys[0]));
        kr->keys[0] = p;
    }
    return 0;
}

int gossip_keyring_remove(struct gossip_keyring *kr, const uint8_t *k, size_t len, char *err,
                          size_t errcap)
{
    int i = gossip_keyring_find(kr, k, len);
    if (i == 0) {
        snprintf(err, errcap, "Removing the primary key is not allowed");
        return CN_EINVAL;
    }
    if (i > 0) {
        memmove(&kr->keys[i], &kr->keys[i + 1], (kr->n - (size_t)i - 1) * sizeof(kr->keys[0]));
        kr->n--;
    }
    return 0;
}

bool gossip_keyring_equal(const struct gossip_keyring *a, const struct gossip_keyring *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->keys[i].len != b->keys[i].len || memcmp(a->keys[i].k, b->keys[i].k, a->keys[i].len))
            return false;
    return true;
}

void gossip_key_to_b64(const struct gossip_key *key, char out[GOSSIP_KEY_B64])
{
    struct cn_buf b = CN_BUF_INIT;
    out[0] = '\0';
    if (!cn_base64_encode(&b, key->k, key->len) && b.len < GOSSIP_KEY_B64) {
        memcpy(out, b.p, b.len);
        out[b.len] = '\0';
    }
    cn_buf_free(&b);
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int gossip_key_from_b64(const char *s, struct gossip_key *out, char *err, size_t errcap)
{
    size_t n = strlen(s);
    /* Go's base64.StdEncoding: padded, the standard alphabet; the error
     * names the first offending byte as Go's CorruptInputError does. */
    size_t i = 0;
    while (i < n && b64_char(s[i]))
        i++;
    size_t data = i;
    while (i < n && s[i] == '=' && i - data < 2)
        i++;
    if (i < n || n % 4 || (n - data > 0 && data % 4 < 2) ||
        (data % 4 && n - data != 4 - data % 4)) {
        snprintf(err, errcap, "illegal base64 data at input byte %zu", i < n ? i : n ? n - 1 : 0);
        return CN_EINVAL;
    }
    struct cn_buf b = CN_BUF_INIT;
    int rc = cn_base64_decode(&b, s, n);
    if (rc) {
        cn_buf_free(&b);
        snprintf(err, errcap, "illegal base64 data at input byte 0");
        return rc;
    }
    if (!gossip_key_len_ok(b.len)) {
        cn_buf_free(&b);
        snprintf(err, errcap, "key size must be 16, 24 or 32 bytes");
        return CN_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->len = (uint8_t)b.len;
    memcpy(out->k, b.p, b.len);
    cn_buf_free(&b);
    return 0;
}

int gossip_keyring_parse(const char *p, size_t n, struct gossip_keyring *out, char *err,
                         size_t errcap)
{
    memset(out, 0, sizeof(*out));
    if (n > GOSSIP_KEYRING_FILE_MAX) {
        snprintf(err, errcap, "keyring file larger than %d bytes", GOSSIP_KEYRING_FILE_MAX);
        return CN_ETOOBIG;
    }
    char jerr[160];
    struct json_object *j = cn_json_parse(p, n, jerr, sizeof(jerr));
    if (!j) {
        snprintf(err, errcap, "%s", jerr);
        return CN_ECORRUPT;
    }
    int rc = 0;
    if (!json_object_is_type(j, json_type_array)) {
        snprintf(err, errcap, "keyring file is not a JSON list of keys");
        rc = CN_ECORRUPT;
        goto out;
    }
    size_t len = json_object_array_length(j);
    if (len == 0) {
        snprintf(err, errcap, "no keys present in keyring");
        rc = CN_EINVAL;
        goto out;
    }
    if (len > GOSSIP_KEYRING_MAX) {
        snprintf(err, errcap, "keyring holds %zu keys, at most %d are supported", len,
                 GOSSIP_KEYRING_MAX);
        rc = CN_ETOOBIG;
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(j, i);
        if (!e || !json_object_is_type(e, json_type_string)) {
            snprintf(err, errcap, "keyring entry %zu is not a string", i);
            rc = CN_ECORRUPT;
            goto out;
        }
        const char *s = json_object_get_string(e);
        if (strlen(s) != (size_t)json_object_get_string_len(e)) {
            snprintf(err, errcap, "keyring entry %zu holds a NUL byte", i);
            rc = CN_ECORRUPT;
            goto out;
        }
        struct gossip_key k;
        char why[96];
        if (gossip_key_from_b64(s, &k, why, sizeof(why))) {
            snprintf(err, errcap, "keyring entry %zu: %s", i, why);
            rc = CN_EINVAL;
            goto out;
        }
        if (gossip_keyring_find(out, k.k, k.len) >= 0) {
            snprintf(err, errcap, "keyring entry %zu repeats an earlier key", i);
            rc = CN_EINVAL;
            goto out;
        }
        out->keys[out->n++] = k;
    }
out:
    json_object_put(j);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}

int gossip_keyring_encode(const struct gossip_keyring *kr, struct cn_buf *out)
{
    cn_buf_reset(out);
    int rc = cn_buf_append(out, "[", 1);
    for (size_t i = 0; i < kr->n && !rc; i++) {
        char b64[GOSSIP_KEY_B64];
        gossip_key_to_b64(&kr->keys[i], b64);
        char line[GOSSIP_KEY_B64 + 16];
        int l = snprintf(line, sizeof(line), "%s\n  \"%s\"", i ? "," : "", b64);
        rc = cn_buf_append(out, line, (size_t)l);
    }
    return rc ? rc : cn_buf_append(out, "\n]\n", 3);
}
