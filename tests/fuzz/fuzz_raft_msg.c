/* Fuzz the Raft message decoder: peers may send anything. A message that
 * decodes must re-encode to bytes that decode to the same message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct raft_msg m;
    void *owned = NULL;
    if (raft_msg_decode(data, size, &m, &owned) != 0)
        return 0;
    size_t n = raft_msg_encoded_size(&m);
    void *buf = malloc(n ? n : 1);
    size_t len = 0;
    if (buf && raft_msg_encode(&m, buf, n, &len) == 0) {
        struct raft_msg m2;
        void *owned2 = NULL;
        if (raft_msg_decode(buf, len, &m2, &owned2) != 0)
            abort(); /* our own encoding must decode */
        if (m2.type != m.type || m2.term != m.term || m2.n_entries != m.n_entries ||
            m2.index != m.index || m2.commit != m.commit)
            abort();
        cn_free(owned2);
    }
    free(buf);
    cn_free(owned);
    return 0;
}
