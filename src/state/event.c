/* state/event.c: user events (Consul's agent/user_event.go, api-docs/event.mdx).
 *
 * An EVENT_FIRE command carries one event; apply appends it to a ring of the
 * STATE_EVENTS_MAX newest, dropping the oldest, and stamps it with the log
 * index (its LTime). Nothing else reads or changes: an event touches no table
 * but its own index, and the ring is agent memory (not in snapshots; kept by
 * a restore). Each event is one allocation: the struct, then its strings and
 * payload. */
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"
#include "state/state_int.h"

static int enc(struct cn_buf *out, const struct state_event *e)
{
    CN_TRY(cn_enc_u8(out, STATE_CMD_EVENT_FIRE));
    CN_TRY(cn_enc_u8(out, STATE_CMD_VERSION));
    CN_TRY(cn_enc_str(out, e->id));
    CN_TRY(cn_enc_str(out, e->name));
    CN_TRY(cn_enc_bytes(out, e->payload, e->payload_len));
    CN_TRY(cn_enc_str(out, e->node_filter ? e->node_filter : ""));
    CN_TRY(cn_enc_str(out, e->service_filter ? e->service_filter : ""));
    return cn_enc_str(out, e->tag_filter ? e->tag_filter : "");
}

int state_cmd_event_fire(struct cn_buf *out, const struct state_event *e)
{
    if (!e || !e->id || !e->name || (!e->payload && e->payload_len))
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = enc(out, e);
    if (rc)
        out->len = len0;
    return rc;
}

/* The ID is what /v1/event/list turns into its index (uuidToUint64), so it
 * must be a UUID's 8-4-4-4-12 hex digits. */
static bool uuid_ok(const char *p, size_t n)
{
    if (n != STATE_EVENT_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = p[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

int state__event_apply_fire(struct txn *t, struct cn_dec *d)
{
    struct state *s = t->s;
    size_t n[6];
    const char *f[6];
    f[0] = (const char *)cn_dec_bytes(d, &n[0]); /* id */
    f[1] = (const char *)cn_dec_bytes(d, &n[1]); /* name */
    f[2] = (const char *)cn_dec_bytes(d, &n[2]); /* payload */
    for (int i = 3; i < 6; i++)
        f[i] = (const char *)cn_dec_bytes(d, &n[i]); /* filters */
    if (!cn_dec_done(d))
        return CN_ECORRUPT;
    for (int i = 0; i < 6; i++)
        if (i != 2 && n[i] && memchr(f[i], '\0', n[i]))
            return CN_ECORRUPT;
    if (!uuid_ok(f[0], n[0]))
        return state__tx_error(t, 0, "invalid event ID") ? CN_ENOMEM : CN_EINVAL;
    if (!n[1])
        return state__tx_error(t, 0, "User event missing name") ? CN_ENOMEM : CN_EINVAL;
    size_t total = sizeof(struct state_event);
    for (int i = 0; i < 6; i++)
        total += n[i] + 1;
    struct state_event *e = cn_malloc(total);
    if (!e || state__tx_reserve(t, 0, 1)) {
        cn_free(e);
        return CN_ENOMEM;
    }
    char *at = (char *)(e + 1);
    e->id = cn_str_pack(&at, f[0], n[0]);
    e->name = cn_str_pack(&at, f[1], n[1]);
    e->payload = n[2] ? (uint8_t *)cn_str_pack(&at, f[2], n[2]) : NULL;
    e->payload_len = n[2];
    e->node_filter = cn_str_pack(&at, f[3], n[3]);
    e->service_filter = cn_str_pack(&at, f[4], n[4]);
    e->tag_filter = cn_str_pack(&at, f[5], n[5]);
    e->ltime = t->idx;
    /* Nothing below fails: the ring changes only on success (no undo). */
    size_t slot = (s->ev.head + s->ev.n) % STATE_EVENTS_MAX;
    if (s->ev.n == STATE_EVENTS_MAX) {
        struct state_event *old = s->ev.e[s->ev.head];
        s->ev.mem -= state__chunk(sizeof(*old) + strlen(old->id) + strlen(old->name) +
                                  old->payload_len + strlen(old->node_filter) +
                                  strlen(old->service_filter) + strlen(old->tag_filter) + 6);
        cn_free(old);
        s->ev.head = (s->ev.head + 1) % STATE_EVENTS_MAX;
    } else {
        s->ev.n++;
    }
    s->ev.e[slot] = e;
    s->ev.mem += state__chunk(total);
    s->tidx[STATE_T_EVENTS] = t->idx;
    state__tx_note(t, STATE_T_EVENTS, e->name);
    if (t->res)
        t->res->ok = true;
    return 0;
}

void state_events_foreach(const struct state *s, state_event_cb cb, void *arg)
{
    for (size_t i = 0; i < s->ev.n; i++)
        if (cb(arg, s->ev.e[(s->ev.head + i) % STATE_EVENTS_MAX]))
            return;
}

size_t state_event_count(const struct state *s)
{
    return s->ev.n;
}

void state__events_free(struct state *s)
{
    for (size_t i = 0; i < s->ev.n; i++)
        cn_free(s->ev.e[(s->ev.head + i) % STATE_EVENTS_MAX]);
    s->ev.n = s->ev.head = 0;
    s->ev.mem = 0;
}
