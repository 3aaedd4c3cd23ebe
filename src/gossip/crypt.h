/* gossip/crypt.h: the encryption layer of gossip packets and push/pull
 * frames (OpenSSL AES-GCM; the key size picks AES-128/192/256), with a
 * keyring (keyring.h): sealed with the primary key, opened with whichever
 * key of the ring fits (memberlist's decryptPayload tries every key).
 *
 * A sealed message is 'c' 'e' 0x01, a 12-byte random nonce, the
 * ciphertext, the 16-byte GCM tag. A plain one is the packet itself (it
 * starts 'c' 'g', codec.h), so the two are told apart by their first bytes:
 * encrypt_verify_incoming = false accepts plain packets while a keyring is
 * set (rolling encryption onto a pool that has none), and
 * encrypt_verify_outgoing = false sends them. */
#ifndef CN_GOSSIP_CRYPT_H
#define CN_GOSSIP_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "gossip/keyring.h"

#define GOSSIP_SEAL_OVERHEAD (3 + 12 + 16)

/* Seal p with key (replacing out): 0, CN_ENOMEM or CN_EIO. */
int gossip_seal(const struct gossip_key *key, const uint8_t *p, size_t len, struct cn_buf *out);
/* Is this a sealed message (by its first bytes)? */
bool gossip_is_sealed(const uint8_t *p, size_t len);
/* Open a sealed message with the first key of kr that authenticates it
 * (replacing out; *which gets its index, may be NULL): 0, or CN_ECORRUPT
 * when no key fits (or it is not a sealed message). */
int gossip_open(const struct gossip_keyring *kr, const uint8_t *p, size_t len, struct cn_buf *out,
                size_t *which);

/* What to do with a received message, given the keyring and
 * verify_incoming: 0 and *body, *body_len (the packet, decrypted into tmp
 * when sealed), or CN_ECORRUPT (drop it: sealed with no key of ours, or
 * plain while we verify incoming). */
int gossip_unwrap(const struct gossip_keyring *kr, bool verify_incoming, const uint8_t *p,
                  size_t len, struct cn_buf *tmp, const uint8_t **body, size_t *body_len);

#endif
