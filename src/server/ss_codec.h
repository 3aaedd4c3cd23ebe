/* server/ss_codec.h: the two frames of snapshot streaming (snapstream.c),
 * pure: a CHUNK is index u64, term u64, file size u64, offset u64 (little-
 * endian), then 1 or more bytes of the file; an ACK is index u64, term u64,
 * bytes written u64, status u8. Peers may send anything: decoding checks
 * every field it can (the bytes fit the file, a known status). */
#ifndef CN_SS_CODEC_H
#define CN_SS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define SS_CHUNK_HDR 32
#define SS_ACK_LEN 25

enum { SS_PROGRESS = 0, SS_DONE = 1, SS_FAIL = 2 };

struct ss_chunk {
    uint64_t index, term, size, off;
    const uint8_t *data; /* borrowed from the frame */
    size_t len;
};

struct ss_ack {
    uint64_t index, term, off;
    uint8_t status;
};

void srv_ss_chunk_header(uint8_t out[SS_CHUNK_HDR], uint64_t index, uint64_t term, uint64_t size,
                         uint64_t off);
/* 0, or CN_EPROTO: short, index 0, empty, or bytes past the file's size. */
int srv_ss_chunk_decode(const void *p, size_t len, struct ss_chunk *c);
void srv_ss_ack_encode(uint8_t out[SS_ACK_LEN], const struct ss_ack *a);
/* 0, or CN_EPROTO: wrong length, index 0, unknown status. */
int srv_ss_ack_decode(const void *p, size_t len, struct ss_ack *a);

#endif
