/* libFuzzer target for libcairn's parsers of agent answers (client/watch.c
 * cairn__snapshot_parse, client/kv.c cairn__kv_parse_entry and
 * cairn__kv_parse_session, client/session.c cairn__session_parse_id). Beyond "no
 * crash, no leak": a parsed snapshot is sorted by id with unique ids, every
 * keyed policy builds a table over it, and a pick lands on an instance with
 * weight > 0. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/client.h"
#include "client/client_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    struct cairn_snapshot *s = cairn__snapshot_parse(body, 7);
    if (s) {
        size_t n = cairn_snapshot_count(s);
        for (size_t i = 1; i < n; i++)
            if (strcmp(cairn_snapshot_instance(s, i - 1)->id, cairn_snapshot_instance(s, i)->id) >=
                0)
                abort(); /* sorted, unique: the canonical order */
        for (int p = CAIRN_LB_RING; p <= CAIRN_LB_JUMP; p++) {
            struct cairn_lb *t = cairn_snapshot_table(s, (enum cairn_lb_policy)p);
            if (!t)
                continue; /* e.g. an id over CAIRN_LB_ID_MAX: refused, not crashed */
            size_t idx = cairn_lb_pick(t, "key", 3);
            if (idx != CAIRN_LB_NONE && (idx >= n || cairn_snapshot_instance(s, idx)->weight == 0))
                abort();
        }
        cairn_snapshot_release(s);
    }
    char *val = NULL;
    size_t len = 0;
    uint64_t mi = 0;
    if (cairn__kv_parse_entry(body, &val, &len, &mi) == 0 && strlen(val) > len)
        abort();
    free(val);
    /* ids are whole or refused: NUL-terminated within CAIRN_SESSION_ID_LEN */
    char sid[CAIRN_SESSION_ID_LEN];
    memset(sid, 'x', sizeof sid);
    if (cairn__kv_parse_session(body, sid, &mi) == 0 && !memchr(sid, '\0', sizeof sid))
        abort();
    memset(sid, 'x', sizeof sid);
    if (cairn__session_parse_id(body, sid) == 0 && (!memchr(sid, '\0', sizeof sid) || !sid[0]))
        abort();
    free(body);
    return 0;
}
