#include "base/crc.h"

#include <isa-l/crc.h>

uint32_t cn_crc32c(uint32_t crc, const void *p, size_t n)
{
    /* ISA-L's crc32_iscsi takes and returns the non-inverted register. */
    return ~crc32_iscsi((unsigned char *)p, (int)n, ~crc);
}
