/* libFuzzer target for the PUT /v1/coordinate/update body decoder
 * (api__coord_update_decode, api/coordinate.c). Beyond "no crash, no leak":
 * an accepted body has a node, the empty segment and a valid coordinate,
 * which encodes as a COORD_BATCH command that applies; a refusal has a
 * status of 400 or 500 and a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "base/err.h"
#include "coord/coord.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *root = NULL;
    const char *node = NULL, *segment = NULL;
    struct coord c;
    char err[200] = "";
    int st = api__coord_update_decode((const char *)data, size, &root, &node, &segment, &c, err,
                                      sizeof(err));
    if (st) {
        if ((st != 400 && st != 500) || !err[0])
            abort();
        json_object_put(root);
        return 0;
    }
    if (!node || !*node || !segment || *segment || !coord_valid(&c))
        abort();
    struct state_coord e;
    memset(&e, 0, sizeof(e));
    e.node = node;
    e.segment = segment;
    memcpy(e.vec, c.vec, sizeof(e.vec));
    e.error = c.error;
    e.adjustment = c.adjustment;
    e.height = c.height;
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_coord_batch(&cmd, &e, 1))
        abort();
    struct state *s = state_new();
    if (!s)
        abort();
    if (state_apply(s, 1, cmd.p, cmd.len, NULL)) /* an unknown node: dropped, not refused */
        abort();
    state_free(s);
    cn_buf_free(&cmd);
    json_object_put(root);
    return 0;
}
