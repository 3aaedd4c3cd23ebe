/* base/text.h: small text helpers (hex digits, UTF-8 encoding of a code
 * point, packing strings into one allocation). */
#ifndef CN_TEXT_H
#define CN_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The value of the hex digit c (0-9, a-f, A-F), or -1. */
int cn_hexval(int c);
/* Write code point cp as UTF-8 into o (room for 4 bytes); returns the length
 * (1 to 4). cp must be at most 0x10FFFF; surrogates are encoded as given. */
size_t cn_utf8_put(char *o, uint32_t cp);

/* Copy n bytes of s and a NUL to *at (room for n + 1), advance *at past them,
 * and return where the copy starts: packs strings after a record in one
 * allocation. */
char *cn_str_pack(char **at, const void *s, size_t n);

#endif
