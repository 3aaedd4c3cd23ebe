/* Fuzz the snapshot archive reader (base/snaparch.c): PUT /v1/snapshot and
 * `cairn snapshot inspect|restore` read files from anywhere. An archive that
 * reads must re-encode (same meta and state) to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/snaparch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snaparch a;
    char err[256];
    if (snaparch_read(data, size, &a, err, sizeof(err)) != 0)
        return 0;
    struct cn_buf b;
    cn_buf_init(&b);
    if (snaparch_write(&b, a.meta, a.meta_len, a.state, a.state_len) == 0 &&
        (b.len != size || memcmp(b.p, data, size) != 0))
        abort();
    cn_buf_free(&b);
    return 0;
}
