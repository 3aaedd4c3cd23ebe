/* api/event.c: user events, PUT /v1/event/fire/:name and GET /v1/event/list
 * (website/content/api-docs/event.mdx, agent/event_endpoint.go,
 * agent/user_event.go).
 *
 * Consul gossips an event to every agent, and each agent keeps the ones its
 * filters accept (node name, a local service's name, one of its tags:
 * regular expressions) in a ring of 256. cairn has no gossip yet: the event is
 * a log entry (state/event.c keeps the newest 256 on every server) and the
 * filters are applied here, when an agent lists, against this agent's node
 * name and the services the catalog holds for it. Regular expressions are
 * POSIX extended ones (regcomp), which agree with Go's RE2 on the usual
 * patterns (anchors, classes, alternation, repetition); see
 * docs/consul-compat.md.
 *
 * The list's index is not a Raft index: it is the last listed event's ID
 * folded to 64 bits (uuidToUint64: the first 16 hex digits XOR the last 16),
 * or 1 for an empty list, and a blocking list waits while that value equals
 * ?index (it is not monotonic). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/regex.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"

/* serf's UserEventSizeLimit (512) counts the gossip name ("consul:event:" +
 * name) and the msgpack-encoded event; this adds the same parts with the
 * msgpack framing estimated (field names, lengths, ID, version). */
#define EVENT_SIZE_LIMIT 512
#define EVENT_FRAMING 52

/* Compile a filter; on error writes Consul's "Invalid <what> filter: ..." */
static int compile(regex_t *re, const char *pat, const char *what, char *err, size_t cap)
{
    char why[160];
    if (cn_regcomp(re, pat, REG_EXTENDED | REG_NOSUB, why, sizeof(why))) {
        snprintf(err, cap, "Invalid %s filter: %s", what, why);
        return -1;
    }
    return 0;
}

/* validateUserEventParams */
static int validate(const struct state_event *e, char *err, size_t cap)
{
    regex_t re;
    if (!*e->name) {
        snprintf(err, cap, "User event missing name");
        return -1;
    }
    if (*e->tag_filter && !*e->service_filter) {
        snprintf(err, cap, "Cannot provide tag filter without service filter");
        return -1;
    }
    const char *pats[3] = {e->node_filter, e->service_filter, e->tag_filter};
    const char *what[3] = {"node", "service", "tag"};
    for (int i = 0; i < 3; i++) {
        if (!*pats[i])
            continue;
        if (compile(&re, pats[i], what[i], err, cap))
            return -1;
        regfree(&re);
    }
    size_t size = strlen("consul:event:") + 2 * strlen(e->name) + e->payload_len + EVENT_FRAMING;
    for (int i = 0; i < 3; i++)
        size += *pats[i] ? strlen(pats[i]) + 4 : 0;
    if (size > EVENT_SIZE_LIMIT) {
        snprintf(err, cap, "user event exceeds configured limit of %d bytes before encoding",
                 EVENT_SIZE_LIMIT);
        return -1;
    }
    return 0;
}

static void json_event(struct cn_jsonw *w, const struct state_event *e, uint64_t ltime)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ID", e->id);
    cn_jsonw_kstr(w, "Name", e->name);
    cn_jsonw_key(w, "Payload");
    if (e->payload_len)
        cn_jsonw_base64(w, e->payload, e->payload_len);
    else
        cn_jsonw_null(w);
    cn_jsonw_kstr(w, "NodeFilter", e->node_filter);
    cn_jsonw_kstr(w, "ServiceFilter", e->service_filter);
    cn_jsonw_kstr(w, "TagFilter", e->tag_filter);
    cn_jsonw_ki64(w, "Version", 1);
    cn_jsonw_ku64(w, "LTime", ltime);
    cn_jsonw_obj_close(w);
}

/* ---- PUT /v1/event/fire/:name ----------------------------------------------- */

struct fire {
    struct state_event e; /* strings point into buf */
    char id[40];
    char buf[]; /* name, filters and payload, copied from the request */
};

static void fire_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    struct fire *f = c->user;
    c->user = NULL;
    if (rc) {
        const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
        api_error(c, rc == CN_EINVAL ? 400 : 500, "%s", why);
    } else {
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        api_jsonw(c, &w, &b);
        /* Consul answers before the event is delivered: LTime 0. */
        json_event(&w, &f->e, 0);
        api_reply_jsonw(c, 200, &w, &b);
    }
    cn_free(f);
}

static void h_fire(struct api_ctx *c)
{
    const char *name = c->arg;
    if (!*name) {
        api_error(c, 400, "Missing name");
        return;
    }
    const char *nf = api_param(c, "node"), *sf = api_param(c, "service"), *tf = api_param(c, "tag");
    nf = nf ? nf : "";
    sf = sf ? sf : "";
    tf = tf ? tf : "";
    size_t plen = c->req->body_len;
    struct fire *f =
        cn_malloc(sizeof(*f) + strlen(name) + strlen(nf) + strlen(sf) + strlen(tf) + plen + 5);
    if (!f) {
        api_error(c, 500, "out of memory");
        return;
    }
    memset(f, 0, sizeof(*f));
    char *at = f->buf;
    f->e.name = cn_str_pack(&at, name, strlen(name));
    f->e.node_filter = cn_str_pack(&at, nf, strlen(nf));
    f->e.service_filter = cn_str_pack(&at, sf, strlen(sf));
    f->e.tag_filter = cn_str_pack(&at, tf, strlen(tf));
    f->e.payload = plen ? (uint8_t *)cn_str_pack(&at, c->req->body, plen) : NULL;
    f->e.payload_len = plen;
    char err[256];
    if (validate(&f->e, err, sizeof(err))) {
        cn_free(f);
        api_error(c, 500, "%s", err); /* Consul: the agent's error, 500 */
        return;
    }
    if (api__uuid(f->id, sizeof(f->id))) {
        cn_free(f);
        api_error(c, 500, "UUID generation failed");
        return;
    }
    f->e.id = f->id;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_event_fire(&cmd, &f->e);
    if (rc) {
        cn_buf_free(&cmd);
        cn_free(f);
        api_error(c, 500, "UserEvent encoding failed: %s", cn_strerror(rc));
        return;
    }
    c->user = f;
    c->user_free = cn_free;
    api_propose(c, &cmd, fire_done);
    cn_buf_free(&cmd);
}

/* ---- GET /v1/event/list ----------------------------------------------------- */

/* uuidToUint64: the first 16 hex digits (dashes skipped) XOR the last 16. */
uint64_t api__event_index(const char *id)
{
    char lo[17], hi[17];
    size_t nl = 0, nh = 0;
    for (const char *p = id; *p; p++) {
        if (*p == '-')
            continue;
        if (nl < 16)
            lo[nl++] = *p;
        else if (nh < 16)
            hi[nh++] = *p;
    }
    lo[nl] = hi[nh] = '\0';
    return strtoull(lo, NULL, 16) ^ strtoull(hi, NULL, 16);
}

struct svc_match {
    regex_t *svc, *tag;
    bool found;
};

static int svc_cb(void *arg, const struct state_service *v)
{
    struct svc_match *m = arg;
    if (regexec(m->svc, v->service, 0, NULL, 0) != 0)
        return 0;
    if (!m->tag) {
        m->found = true;
        return 1;
    }
    for (size_t i = 0; i < v->ntags; i++) {
        if (regexec(m->tag, v->tags[i], 0, NULL, 0) == 0) {
            m->found = true;
            return 1;
        }
    }
    return 0;
}

/* shouldProcessUserEvent, for this agent: a filter that does not compile
 * drops the event, as Consul's receiving agent does. */
static bool accepted(struct api_ctx *c, const struct state_event *e)
{
    const char *node = api__agent_node(c);
    regex_t re, tre;
    char why[160];
    if (*e->node_filter) {
        if (cn_regcomp(&re, e->node_filter, REG_EXTENDED | REG_NOSUB, why, sizeof(why)))
            return false;
        bool ok = regexec(&re, node, 0, NULL, 0) == 0;
        regfree(&re);
        if (!ok)
            return false;
    }
    if (!*e->service_filter)
        return true;
    if (cn_regcomp(&re, e->service_filter, REG_EXTENDED | REG_NOSUB, why, sizeof(why)))
        return false;
    struct svc_match m = {&re, NULL, false};
    if (*e->tag_filter) {
        if (cn_regcomp(&tre, e->tag_filter, REG_EXTENDED | REG_NOSUB, why, sizeof(why))) {
            regfree(&re);
            return false;
        }
        m.tag = &tre;
    }
    state_node_services(srv_state(c->api->srv), node, svc_cb, &m);
    regfree(&re);
    if (m.tag)
        regfree(&tre);
    return m.found;
}

struct list_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
    const char *name;
    const char *last_id;
};

static int list_cb(void *arg, const struct state_event *e)
{
    struct list_walk *lw = arg;
    if (lw->name && strcmp(lw->name, e->name) != 0)
        return 0;
    if (!accepted(lw->c, e) || !api_acl_keep(lw->c, ACL_R_EVENT, e->name))
        return 0;
    json_event(lw->w, e, e->ltime);
    lw->last_id = e->id;
    return lw->w->err;
}

static void r_list(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    const char *name = api_param(c, "name");
    struct list_walk lw = {c, &w, name && *name ? name : NULL, NULL};
    cn_jsonw_arr_open(&w);
    state_events_foreach(st, list_cb, &lw);
    cn_jsonw_arr_close(&w);
    if (w.err) {
        api_read_error(r, 500, "out of memory");
        return;
    }
    r->index = lw.last_id ? api__event_index(lw.last_id) : 1;
    r->index_ne = true;
    api_read_watch(r, STATE_T_EVENTS, NULL, false);
}

/* Consul's event list is agent-local (the agent's own buffer, no RPC): it
 * answers without a leader. Run it as a ?stale read whatever the request
 * asked: this server's ring, no read barrier. */
static const struct api_route list_route = {"/v1/event/list", false,      API_GET, r_list, NULL,
                                            API_HANDLER,      API_HANDLER};

static void h_list(struct api_ctx *c)
{
    c->route = &list_route;
    c->cons = API_CONS_STALE;
    api_run_read(c);
}

const struct api_route api_event_routes[] = {
    {"/v1/event/fire/", true, API_PUT, NULL, h_fire, API_ARG(EVENT, WRITE), API_ARG(EVENT, WRITE)},
    {"/v1/event/list", false, API_GET, NULL, h_list, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
