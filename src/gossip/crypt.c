/* gossip/crypt.c: sealing and opening gossip messages (see crypt.h). */
#include "gossip/crypt.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/err.h"

static const EVP_CIPHER *cipher(size_t key_len)
{
    return key_len == 16   ? EVP_aes_128_gcm()
           : key_len == 24 ? EVP_aes_192_gcm()
                           : EVP_aes_256_gcm();
}

int gossip_seal(const struct gossip_key *key, const uint8_t *p, size_t len, struct cn_buf *out)
{
    cn_buf_reset(out);
    if (len > (size_t)INT32_MAX || cn_buf_reserve(out, len + GOSSIP_SEAL_OVERHEAD))
        return CN_ENOMEM;
    uint8_t *o = (uint8_t *)out->p;
    o[0] = 'c', o[1] = 'e', o[2] = 1;
    if (RAND_bytes(o + 3, 12) != 1)
        return CN_EIO;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0,
        ok = c && EVP_EncryptInit_ex(c, cipher(key->len), NULL, key->k, o + 3) &&
             EVP_EncryptUpdate(c, o + 15, &l1, p, (int)len) &&
             EVP_EncryptFinal_ex(c, o + 15 + l1, &l2) &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, o + 15 + l1 + l2);
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return CN_EIO;
    out->len = 15 + (size_t)l1 + (size_t)l2 + 16;
    return 0;
}

bool gossip_is_sealed(const uint8_t *p, size_t len)
{
    return len >= 3 && p[0] == 'c' && p[1] == 'e' && p[2] == 1;
}

static int open_one(const struct gossip_key *key, const uint8_t *p, size_t len, struct cn_buf *out)
{
    size_t clen = len - GOSSIP_SEAL_OVERHEAD;
    cn_buf_reset(out);
    if (cn_buf_reserve(out, clen + 16))
        return CN_ENOMEM;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    int ok = c && EVP_DecryptInit_ex(c, cipher(key->len), NULL, key->k, p + 3) &&
             EVP_DecryptUpdate(c, (uint8_t *)out->p, &l1, p + 15, (int)clen) &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(p + 15 + clen)) &&
             EVP_DecryptFinal_ex(c, (uint8_t *)out->p + l1, &l2) > 0;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return CN_ECORRUPT;
    out->len = (size_t)l1 + (size_t)l2;
    return 0;
}

int gossip_open(const struct gossip_keyring *kr, const uint8_t *p, size_t len, struct cn_buf *out,
                size_t *which)
{
    if (!gossip_is_sealed(p, len) || len < GOSSIP_SEAL_OVERHEAD || len > (size_t)INT32_MAX)
        return CN_ECORRUPT;
    for (size_t i = 0; i < kr->n; i++) {
        int rc = open_one(&kr->keys[i], p, len, out);
        if (rc == CN_ENOMEM)
            return rc;
        if (rc == 0) {
            if (which)
                *which = i;
            return 0;
        }
    }
    return CN_ECORRUPT;
}

int gossip_unwrap(const struct gossip_keyring *kr, bool verify_incoming, const uint8_t *p,
                  size_t len, struct cn_buf *tmp, const uint8_t **body, size_t *body_len)
{
    if (gossip_is_sealed(p, len)) {
        int rc = gossip_open(kr, p, len, tmp, NULL);
        if (rc)
            return rc;
        *body = (const uint8_t *)tmp->p;
        *body_len = tmp->len;
        return 0;
    }
    if (kr->n && verify_incoming)
        return CN_ECORRUPT;
    *body = p;
    *body_len = len;
    return 0;
}
