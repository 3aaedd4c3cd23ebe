/* gossip/keyring.h: the gossip encryption keyring, memberlist's Keyring
 * semantics: several keys, the first one (the primary) encrypts, every one
 * is tried to decrypt. Pure (base only): the core holds one (gossip.h,
 * changed by keyring queries), the shell (net.c) seals and opens with it.
 *
 * The keyring file is Consul's `serf/local.keyring` in the data dir: a JSON
 * list of base64 keys, the primary first (serf's writeKeyringFile). Errors
 * carry memberlist's texts ("key size must be 16, 24 or 32 bytes",
 * "Requested key is not in the keyring", "Removing the primary key is not
 * allowed"). */
#ifndef CN_GOSSIP_KEYRING_H
#define CN_GOSSIP_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* cairn bounds a keyring (memberlist does not) so that a member's answer to
 * a list query fits in one datagram: 16 keys of 32 bytes. */
#define GOSSIP_KEYRING_MAX 16
#define GOSSIP_KEY_MAX 32
#define GOSSIP_KEY_B64 48 /* base64 of 32 bytes (44) + NUL, rounded */
#define GOSSIP_KEYRING_FILE_MAX 8192

struct gossip_key {
    uint8_t len; /* 16, 24 or 32 */
    uint8_t k[GOSSIP_KEY_MAX];
};

struct gossip_keyring {
    size_t n;                                   /* 0: no encryption */
    struct gossip_key keys[GOSSIP_KEYRING_MAX]; /* keys[0] is the primary */
};

/* memberlist's ValidateKey. */
bool gossip_key_len_ok(size_t len);
/* Install a key (appended; already there: nothing changes). 0, or CN_EINVAL
 * (size; err gets memberlist's text) or CN_ETOOBIG (the keyring is full). */
int gossip_keyring_add(struct gossip_keyring *kr, const uint8_t *k, size_t len, char *err,
                       size_t errcap);
/* Make an installed key the primary. CN_ENOTFOUND ("Requested key is not in
 * the keyring"). */
int gossip_keyring_use(struct gossip_keyring *kr, const uint8_t *k, size_t len, char *err,
                       size_t errcap);
/* Remove a key (absent: nothing changes). CN_EINVAL for the primary
 * ("Removing the primary key is not allowed"). */
int gossip_keyring_remove(struct gossip_keyring *kr, const uint8_t *k, size_t len, char *err,
                          size_t errcap);
/* The index of a key, or -1. */
int gossip_keyring_find(const struct gossip_keyring *kr, const uint8_t *k, size_t len);
bool gossip_keyring_equal(const struct gossip_keyring *a, const struct gossip_keyring *b);

/* base64 (standard, padded) of a key into out. */
void gossip_key_to_b64(const struct gossip_key *key, char out[GOSSIP_KEY_B64]);
/* Decode a base64 key: 0, or CN_EINVAL with why in err (not base64, or not
 * 16/24/32 bytes). */
int gossip_key_from_b64(const char *s, struct gossip_key *out, char *err, size_t errcap);

/* The keyring file: parse (strict: a JSON array of 1..GOSSIP_KEYRING_MAX
 * base64 strings of valid keys, no duplicates, at most
 * GOSSIP_KEYRING_FILE_MAX bytes) into out; 0 or CN_EINVAL/CN_ECORRUPT with
 * the reason in err. */
int gossip_keyring_parse(const char *p, size_t n, struct gossip_keyring *out, char *err,
                         size_t errcap);
/* Encode (replacing out): the JSON array, primary first, indented as serf
 * writes it, with a final newline. */
int gossip_keyring_encode(const struct gossip_keyring *kr, struct cn_buf *out);

#endif
