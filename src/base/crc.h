/* base/crc.h: CRC32C (Castagnoli) through ISA-L's hardware-accelerated
 * crc32_iscsi. Chainable: cn_crc32c(cn_crc32c(0, a, n), b, m) == crc of a||b. */
#ifndef CN_CRC_H
#define CN_CRC_H

#include <stddef.h>
#include <stdint.h>

uint32_t cn_crc32c(uint32_t crc, const void *p, size_t n);

#endif
