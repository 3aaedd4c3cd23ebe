/* Fuzz the gossip keyring file parser (gossip/keyring.h, Consul's
 * DATA_DIR/serf/local.keyring, read at agent start): any bytes give a
 * keyring or an error that says why, never a crash, leak or hang; a keyring
 * that parses is 1..16 distinct valid keys and re-encodes to a file that
 * parses to the same keyring. Also the base64 key decoder alone (the HTTP
 * API's {"Key": ...}). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "gossip/keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gossip_keyring kr, back;
    char err[256] = "";
    if (gossip_keyring_parse((const char *)data, size, &kr, err, sizeof(err))) {
        if (!err[0] || kr.n)
            abort();
    } else {
        if (kr.n < 1 || kr.n > GOSSIP_KEYRING_MAX)
            abort();
        for (size_t i = 0; i < kr.n; i++) {
            if (!gossip_key_len_ok(kr.keys[i].len) ||
                gossip_keyring_find(&kr, kr.keys[i].k, kr.keys[i].len) != (int)i)
                abort();
        }
        struct cn_buf b = CN_BUF_INIT;
        if (gossip_keyring_encode(&kr, &b) ||
            gossip_keyring_parse(b.p, b.len, &back, err, sizeof(err)) ||
            !gossip_keyring_equal(&kr, &back))
            abort();
        cn_buf_free(&b);
    }
    char s[128];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    struct gossip_key k;
    err[0] = '\0';
    if (gossip_key_from_b64(s, &k, err, sizeof(err))) {
        if (!err[0])
            abort();
    } else {
        char again[GOSSIP_KEY_B64];
        struct gossip_key k2;
        gossip_key_to_b64(&k, again);
        if (!gossip_key_len_ok(k.len) || gossip_key_from_b64(again, &k2, err, sizeof(err)) ||
            k2.len != k.len || memcmp(k2.k, k.k, k.len))
            abort();
    }
    return 0;
}
