/* api/connect_ca.c: Connect's built-in CA over HTTP, and the leader's CA duty
 * (website/content/api-docs/connect/ca.mdx, api-docs/agent/connect.mdx;
 * agent/connect_ca_endpoint.go, agent/agent_endpoint.go, agent/connect_auth.go):
 *
 *   GET /v1/connect/ca/roots, GET /v1/agent/connect/ca/roots   (?pem)
 *   GET|PUT /v1/connect/ca/configuration
 *   GET /v1/agent/connect/ca/leaf/:service
 *   POST /v1/agent/connect/authorize
 *
 * The CA lives in the replicated state as one record (state/ca.c) whose bytes
 * connect/ca_doc.c reads and writes. With connect.enabled, the leader checks
 * once a second that the record exists and proposes a first CA otherwise
 * (Consul's initializeCA). A configuration change is one CA_SET built from
 * the applied record and conditional on it (its modify index), so two
 * concurrent changes cannot both apply. Leaf certificates are the agent's:
 * signed here with the active root's key (every cairn agent is a server and
 * holds the state), kept per service and re-issued when the active root
 * changes or two thirds of the leaf's lifetime have passed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "base/clock.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "connect/ca.h"
#include "connect/renew.h"
#include "connect/ca_doc.h"

#define TICK_MS 1000
#define MAX_LEAVES 256

struct leaf {
    char *service;
    struct connect_cert cert;
    int64_t issued;   /* when it was signed (its NotBefore is a minute earlier) */
    int64_t renew_at; /* its renewal point (connect/renew.h), drawn when signed */
    char root_id[64];
    uint64_t index;
};

struct api_connect {
    struct api *api;
    uv_timer_t timer;
    bool init_in_flight;
    /* the decoded CA of the record's modify index `doc_index` (0: none) */
    struct connect_ca_doc doc;
    uint64_t doc_index;
    struct leaf leaves[MAX_LEAVES];
    size_t nleaves;
};

static const char no_connect[] = "Connect must be enabled in order to use this endpoint";

/* ---- the decoded CA ---------------------------------------------------------------- */

/* The current CA document (cached by record index), or NULL when there is
 * none yet; *bad set when the record does not decode (logged once). */
static const struct connect_ca_doc *current_doc(struct api_connect *k, const struct state_ca **rec)
{
    const struct state_ca *r = state_ca_get(srv_state(k->api->srv));
    *rec = r;
    if (!r)
        return NULL;
    if (k->doc_index == r->modify_index)
        return &k->doc;
    connect_ca_doc_clear(&k->doc);
    k->doc_index = 0;
    char err[200];
    if (connect_ca_doc_decode(r->data, r->len, &k->doc, err, sizeof(err))) {
        cn_warn("connect", "the CA record at index %llu does not decode: %s",
                (unsigned long long)r->modify_index, err);
        return NULL;
    }
    k->doc_index = r->modify_index;
    return &k->doc;
}

/* ---- the leader's duty ------------------------------------------------------------- */

static void on_init_done(void *arg, int rc, const struct state_result *res)
{
    (void)res;
    struct api_connect *k = arg;
    k->init_in_flight = false;
    if (rc == 0)
        cn_info("connect", "initialized the built-in CA");
    else if (rc != CN_ESHUTDOWN && rc != CN_ECONFLICT)
        cn_warn("connect", "initializing the built-in CA failed: %s", cn_strerror(rc));
}

static void renew_leaves(struct api_connect *k);

static void leader_duty(struct api_connect *k)
{
    struct srv *s = k->api->srv;
    if (k->init_in_flight || !srv_is_leader(s) || state_ca_get(srv_state(s)))
        return;
    struct connect_ca_doc d;
    char err[256];
    struct cn_buf b = CN_BUF_INIT, cmd = CN_BUF_INIT;
    int rc = connect_ca_doc_initial((int64_t)time(NULL), &d, err, sizeof(err));
    if (rc) {
        cn_warn("connect", "generating the CA root failed: %s", err);
        return;
    }
    rc = connect_ca_doc_encode(&d, &b);
    connect_ca_doc_clear(&d);
    if (!rc)
        rc = state_cmd_ca_set(&cmd, b.p, b.len, 0);
    if (b.p)
        memset(b.p, 0, b.len); /* it held the root's key */
    cn_buf_free(&b);
    if (!rc && srv_propose(s, cmd.p, cmd.len, on_init_done, k) == 0)
        k->init_in_flight = true;
    cn_buf_free(&cmd);
}

static void on_tick(uv_timer_t *t)
{
    struct api_connect *k = t->data;
    leader_duty(k);
    renew_leaves(k);
}

int api__connect_new(struct api *a)
{
    if (!a->cfg.connect_enabled)
        return 0;
    struct api_connect *k = cn_calloc(1, sizeof(*k));
    if (!k)
        return CN_ENOMEM;
    k->api = a;
    a->connect = k;
    if (!a->srv)
        return 0;
    uv_timer_init(a->loop, &k->timer);
    k->timer.data = k;
    uv_timer_start(&k->timer, on_tick, 50, TICK_MS);
    uv_unref((uv_handle_t *)&k->timer);
    return 0;
}

static void free_connect(struct api_connect *k)
{
    connect_ca_doc_clear(&k->doc);
    for (size_t i = 0; i < k->nleaves; i++) {
        cn_free(k->leaves[i].service);
        connect_cert_clear(&k->leaves[i].cert);
    }
    cn_free(k);
}

static void on_closed(uv_handle_t *h)
{
    free_connect(h->data);
}

void api__connect_stop(struct api *a)
{
    struct api_connect *k = a->connect;
    if (!k)
        return;
    a->connect = NULL;
    if (a->srv)
        uv_close((uv_handle_t *)&k->timer, on_closed);
    else
        free_connect(k);
}

void api__connect_free(struct api *a)
{
    api__connect_stop(a);
}

/* ---- JSON ---------------------------------------------------------------------------- */

static void json_time(struct cn_jsonw *w, const char *k, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    char buf[40];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cn_jsonw_kstr(w, k, buf);
}

static void json_dur(struct cn_jsonw *w, const char *k, int64_t s)
{
    char buf[48];
    cn_dur_format(s * 1000000000LL, buf, sizeof(buf));
    cn_jsonw_kstr(w, k, buf);
}

static void read_error(struct api_read *r, int status, const char *msg)
{
    api_read_error(r, status, msg);
    r->content_type = "text/plain; charset=utf-8";
}

/* structs.IndexedCARoots */
static void r_roots(struct api_ctx *c, struct api_read *r)
{
    struct api_connect *k = c->api->connect;
    if (!k)
        return read_error(r, 500, no_connect);
    struct state *st = srv_state(c->api->srv);
    const struct state_ca *rec;
    const struct connect_ca_doc *d = current_doc(k, &rec);
    r->index = state_table_index(st, STATE_T_CA);
    api_read_watch(r, STATE_T_CA, NULL, false);
    if (api_flag(c, "pem") == 1) {
        /* the chain, roots then their intermediates (connect_ca_endpoint.go) */
        r->content_type = "application/pem-certificate-chain";
        for (size_t i = 0; d && i < d->nroots; i++)
            if (cn_buf_puts(&r->body, d->roots[i].cert_pem) ||
                cn_buf_puts(&r->body, d->roots[i].intermediates_pem))
                return read_error(r, 500, "out of memory");
        return;
    }
    const struct connect_ca_root *act = d ? connect_ca_doc_active(d) : NULL;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "ActiveRootID", act ? act->id : "");
    cn_jsonw_kstr(&w, "TrustDomain", d ? d->trust_domain : "");
    cn_jsonw_key(&w, "Roots");
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; d && i < d->nroots; i++) {
        const struct connect_ca_root *x = &d->roots[i];
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "ID", x->id);
        cn_jsonw_kstr(&w, "Name", x->name);
        cn_jsonw_ku64(&w, "SerialNumber", x->serial);
        cn_jsonw_kstr(&w, "SigningKeyID", x->signing_key_id);
        cn_jsonw_kstr(&w, "ExternalTrustDomain", d->cluster_id);
        json_time(&w, "NotBefore", x->not_before);
        json_time(&w, "NotAfter", x->not_after);
        cn_jsonw_kstr(&w, "RootCert", x->cert_pem);
        cn_jsonw_key(&w, "IntermediateCerts");
        if (*x->intermediates_pem) {
            cn_jsonw_arr_open(&w);
            cn_jsonw_str(&w, x->intermediates_pem);
            cn_jsonw_arr_close(&w);
        } else {
            cn_jsonw_null(&w);
        }
        cn_jsonw_kbool(&w, "Active", x->active);
        cn_jsonw_kstr(&w, "PrivateKeyType", "ec");
        cn_jsonw_ki64(&w, "PrivateKeyBits", 256);
        uint64_t ci = x->create_index ? x->create_index : rec->modify_index;
        cn_jsonw_ku64(&w, "CreateIndex", ci);
        cn_jsonw_ku64(&w, "ModifyIndex", rec->modify_index);
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    if (w.err)
        read_error(r, 500, "out of memory");
}

/* structs.CAConfiguration */
static void r_config(struct api_ctx *c, struct api_read *r)
{
    struct api_connect *k = c->api->connect;
    if (!k)
        return read_error(r, 500, no_connect);
    const struct state_ca *rec;
    const struct connect_ca_doc *d = current_doc(k, &rec);
    r->index = state_table_index(srv_state(c->api->srv), STATE_T_CA);
    api_read_watch(r, STATE_T_CA, NULL, false);
    if (!d)
        return read_error(r, 500, "CA has not finished initializing");
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Provider", "consul");
    cn_jsonw_key(&w, "Config");
    cn_jsonw_obj_open(&w);
    json_dur(&w, "LeafCertTTL", d->leaf_ttl_s);
    json_dur(&w, "RotationPeriod", d->rotation_s);
    json_dur(&w, "IntermediateCertTTL", d->intermediate_ttl_s);
    json_dur(&w, "RootCertTTL", d->root_ttl_s);
    cn_jsonw_kstr(&w, "PrivateKeyType", "ec");
    cn_jsonw_ki64(&w, "PrivateKeyBits", 256);
    cn_jsonw_obj_close(&w);
    cn_jsonw_key(&w, "State");
    cn_jsonw_null(&w);
    cn_jsonw_kbool(&w, "ForceWithoutCrossSigning", false);
    cn_jsonw_ku64(&w, "CreateIndex",
                  d->config_create_index ? d->config_create_index : rec->create_index);
    cn_jsonw_ku64(&w, "ModifyIndex", rec->modify_index);
    cn_jsonw_obj_close(&w);
    if (w.err)
        read_error(r, 500, "out of memory");
}

static void on_set_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    (void)res;
    if (rc == CN_ECONFLICT)
        api_error(c, 500, "CA configuration changed concurrently; try again");
    else if (rc)
        api_error(c, 500, "%s", cn_strerror(rc));
    else
        api_reply_empty(c);
}

/* The request body as a JSON object ("{}" when empty), or NULL after
 * answering 400. The caller puts it. */
static struct json_object *body_object(struct api_ctx *c)
{
    char err[300];
    struct json_object *o =
        cn_json_parse(c->req->body_len ? c->req->body : "{}",
                      c->req->body_len ? c->req->body_len : 2, err, sizeof(err));
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        api_error(c, 400, "Request decode failed: %s", o ? "not an object" : err);
        return NULL;
    }
    return o;
}

static void h_config(struct api_ctx *c)
{
    struct api_connect *k = c->api->connect;
    if (!k) {
        api_error(c, 500, "%s", no_connect);
        return;
    }
    char err[512];
    struct json_object *o = body_object(c);
    if (!o)
        return;
    const char *prov = "";
    int force = 0;
    struct json_object *cfg = cn_json_get(o, "Config");
    cn_json_get_str(o, "Provider", &prov);
    cn_json_get_bool(o, "ForceWithoutCrossSigning", &force);
    if (strcmp(prov, "consul") != 0) {
        api_error(c, 400,
                  "CA provider \"%s\" is not supported: cairn has only the built-in provider "
                  "\"consul\"",
                  prov);
        json_object_put(o);
        return;
    }
    const char *cfg_text = cfg ? json_object_to_json_string(cfg) : "{}";
    struct connect_ca_config cc;
    void *keep = NULL;
    int rc = connect_ca_config_parse(cfg_text, strlen(cfg_text), &cc, &keep, err, sizeof(err));
    int64_t min_leaf =
        c->api->cfg.connect_min_leaf_ttl_s ? c->api->cfg.connect_min_leaf_ttl_s : 3600;
    char dur[48];
    if (!rc && cc.leaf_ttl_s && cc.leaf_ttl_s < min_leaf) {
        /* CommonCAProviderConfig.Validate (MinLeafCertTTL, MaxLeafCertTTL) */
        cn_dur_format(min_leaf * CN_NS_PER_S, dur, sizeof(dur));
        snprintf(err, sizeof(err), "leaf cert TTL must be greater or equal than %s", dur);
        rc = CN_EINVAL;
    } else if (!rc && cc.leaf_ttl_s > 365 * 24 * 3600) {
        snprintf(err, sizeof(err), "leaf cert TTL must be less than 8760h0m0s");
        rc = CN_EINVAL;
    }
    if (rc) {
        json_object_put(keep);
        api_error(c, 400, "%s", err);
        json_object_put(o);
        return;
    }
    const struct state_ca *rec;
    const struct connect_ca_doc *d = current_doc(k, &rec);
    struct connect_ca_doc next;
    struct cn_buf b = CN_BUF_INIT, cmd = CN_BUF_INIT;
    if (!d) {
        rc = CN_EAGAIN;
        snprintf(err, sizeof(err), "CA has not finished initializing");
    } else {
        rc = connect_ca_doc_update(d, rec->modify_index, &cc, (int64_t)time(NULL), &next, err,
                                   sizeof(err));
    }
    json_object_put(keep);
    json_object_put(o);
    if (!rc) {
        rc = connect_ca_doc_encode(&next, &b);
        connect_ca_doc_clear(&next);
        if (!rc)
            rc = state_cmd_ca_set(&cmd, b.p, b.len, rec->modify_index);
        if (b.p)
            memset(b.p, 0, b.len);
        cn_buf_free(&b);
        if (rc)
            snprintf(err, sizeof(err), "%s", cn_strerror(rc));
    }
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, rc == CN_EINVAL ? 400 : 500, "%s", err);
        return;
    }
    api_propose(c, &cmd, on_set_done);
    cn_buf_free(&cmd);
}

/* ---- leaf certificates -------------------------------------------------------------- */

static struct leaf *leaf_slot(struct api_connect *k, const char *service)
{
    for (size_t i = 0; i < k->nleaves; i++)
        if (!strcmp(k->leaves[i].service, service))
            return &k->leaves[i];
    if (k->nleaves == MAX_LEAVES)
        return NULL;
    struct leaf *l = &k->leaves[k->nleaves];
    memset(l, 0, sizeof(*l));
    if (!(l->service = cn_strdup(service)))
        return NULL;
    k->nleaves++;
    return l;
}

/* A leaf is re-issued when the active root changed or it reached its
 * renewal point: as Consul's agent, a random point between 60% and 90% of
 * its lifetime (from its signing, not its backdated NotBefore), drawn when it
 * was signed from the agent's seeded generator. */
static bool leaf_fresh(const struct leaf *l, const struct connect_ca_root *act, int64_t now)
{
    if (!l->cert.cert_pem || strcmp(l->root_id, act->id) != 0)
        return false;
    return now < l->renew_at;
}

/* Sign a new leaf for l->service with the active root: 0, or an HTTP status
 * with err set. */
static int issue_leaf(struct api_connect *k, struct leaf *l, const struct connect_ca_doc *d,
                      const struct connect_ca_root *act, int64_t now, char *err, size_t cap)
{
    char uri[1024], cn[600];
    struct connect_cert nc;
    if (connect_spiffe_service(uri, sizeof(uri), d->trust_domain, k->api->cfg.datacenter,
                               l->service)) {
        snprintf(err, cap, "service name too long");
        return 400;
    }
    snprintf(cn, sizeof(cn), "%s.svc.default.%.8s.consul", l->service, d->trust_domain);
    if (connect_ca_sign_leaf(act->cert_pem, act->key_pem, uri, cn, now, d->leaf_ttl_s, &nc, err,
                             cap))
        return 500;
    connect_cert_clear(&l->cert);
    l->cert = nc;
    l->issued = now;
    l->renew_at = connect_leaf_renew_at(now, nc.not_after, connect_rand_next(&k->api->rng));
    snprintf(l->root_id, sizeof(l->root_id), "%s", act->id);
    uint64_t idx = state_last_index(srv_state(k->api->srv));
    l->index = idx > l->index ? idx : l->index + 1;
    return 0;
}

/* The agent's side of Consul's leaf cache: every leaf it holds is re-issued
 * once it passes its renewal point (or the active root changed), without
 * waiting for a reader, and the blocking leaf queries (watching the CA
 * table) are woken to fetch it. */
static void renew_leaves(struct api_connect *k)
{
    const struct state_ca *rec;
    const struct connect_ca_doc *d = current_doc(k, &rec);
    const struct connect_ca_root *act = d ? connect_ca_doc_active(d) : NULL;
    if (!act)
        return;
    int64_t now = (int64_t)time(NULL);
    bool any = false;
    for (size_t i = 0; i < k->nleaves; i++) {
        struct leaf *l = &k->leaves[i];
        char err[300];
        if (!l->cert.cert_pem || leaf_fresh(l, act, now))
            continue;
        if (issue_leaf(k, l, d, act, now, err, sizeof(err)))
            cn_warn("connect", "renewing the leaf certificate of %s failed: %s", l->service, err);
        else
            any = true;
    }
    if (any)
        srv_watch_touch(k->api->srv, STATE_T_CA, NULL);
}

static void r_leaf(struct api_ctx *c, struct api_read *r)
{
    struct api_connect *k = c->api->connect;
    if (!k)
        return read_error(r, 500, no_connect);
    struct state *st = srv_state(c->api->srv);
    const char *svc = c->arg;
    if (!*svc)
        return read_error(r, 400, "Missing service name");
    const struct state_ca *rec;
    const struct connect_ca_doc *d = current_doc(k, &rec);
    const struct connect_ca_root *act = d ? connect_ca_doc_active(d) : NULL;
    api_read_watch(r, STATE_T_CA, NULL, false);
    r->index = state_table_index(st, STATE_T_CA);
    if (!act)
        return read_error(r, 500, "CA has not finished initializing");
    struct leaf *l = leaf_slot(k, svc);
    if (!l)
        return read_error(r, 500, "too many services with leaf certificates on this agent");
    int64_t now = (int64_t)time(NULL);
    if (!leaf_fresh(l, act, now)) {
        char err[300];
        int status = issue_leaf(k, l, d, act, now, err, sizeof(err));
        if (status)
            return read_error(r, status, err);
    }
    r->index = l->index;
    char uri[1024];
    connect_spiffe_service(uri, sizeof(uri), d->trust_domain, c->api->cfg.datacenter, svc);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "SerialNumber", l->cert.serial_hex);
    cn_jsonw_kstr(&w, "CertPEM", l->cert.cert_pem);
    cn_jsonw_kstr(&w, "PrivateKeyPEM", l->cert.key_pem);
    cn_jsonw_kstr(&w, "Service", svc);
    cn_jsonw_kstr(&w, "ServiceURI", uri);
    json_time(&w, "ValidAfter", l->cert.not_before);
    json_time(&w, "ValidBefore", l->cert.not_after);
    cn_jsonw_ku64(&w, "CreateIndex", l->index);
    cn_jsonw_ku64(&w, "ModifyIndex", l->index);
    cn_jsonw_obj_close(&w);
    if (w.err)
        read_error(r, 500, "out of memory");
}

/* ---- authorize ------------------------------------------------------------------------ */

static void h_authorize(struct api_ctx *c)
{
    char err[300];
    struct json_object *o = body_object(c);
    if (!o)
        return;
    const char *target = "", *uri = "";
    cn_json_get_str(o, "Target", &target);
    cn_json_get_str(o, "ClientCertURI", &uri);
    struct connect_spiffe id;
    if (!*target) {
        api_error(c, 400, "Target service must be specified");
    } else if (connect_spiffe_parse(uri, &id, err, sizeof(err))) {
        api_error(c, 400, "ClientCertURI not a valid Connect identifier");
    } else if (id.kind != 1) {
        api_error(c, 400, "ClientCertURI not a valid Service identifier");
    } else if (!api_acl_require(c, ACL_R_SERVICE, target, ACL_A_WRITE)) {
        /* answered: 403 (Consul: service:write on the target) */
    } else if (strcmp(id.ns, "default") != 0) {
        api_error(c, 400, "namespace \"%s\" is not supported: cairn has only default", id.ns);
    } else {
        int rc;
        const struct state_intention *x =
            api__intention_match(srv_state(c->api->srv), id.service, target, &rc);
        char reason[1200];
        bool ok = true;
        if (x) {
            char act[8];
            snprintf(act, sizeof(act), "%s", strcmp(x->action, "allow") ? "DENY" : "ALLOW");
            snprintf(reason, sizeof(reason),
                     "Matched L4 intention: %s default/%s => default/%s (ID: %s)", act, x->source,
                     x->destination, x->id);
            ok = !strcmp(x->action, "allow");
        } else if (!c->api->acl) {
            snprintf(reason, sizeof(reason), "ACLs disabled, access is allowed by default");
        } else {
            snprintf(reason, sizeof(reason), "Default behavior configured by ACLs");
            ok = api_acl_default_allow(c->api);
        }
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        api_jsonw(c, &w, &b);
        cn_jsonw_obj_open(&w);
        cn_jsonw_kbool(&w, "Authorized", ok);
        cn_jsonw_kstr(&w, "Reason", reason);
        cn_jsonw_obj_close(&w);
        if (rc)
            w.err = rc;
        api_reply_jsonw(c, 200, &w, &b);
    }
    json_object_put(o);
}

int api__connect_trust_domain(struct api *a, char *out, size_t cap)
{
    const struct state_ca *rec = state_ca_get(srv_state(a->srv));
    if (!rec)
        return CN_ENOTFOUND;
    if (a->connect) { /* the decoded document this agent keeps */
        const struct connect_ca_doc *d = current_doc(a->connect, &rec);
        if (!d)
            return CN_ECORRUPT;
        snprintf(out, cap, "%s", d->trust_domain);
        return 0;
    }
    /* Connect off on this agent, the cluster's CA set up all the same */
    struct connect_ca_doc d;
    char err[200];
    int rc = connect_ca_doc_decode(rec->data, rec->len, &d, err, sizeof(err));
    if (!rc)
        snprintf(out, cap, "%s", d.trust_domain);
    connect_ca_doc_clear(&d);
    return rc ? CN_ECORRUPT : 0;
}

const struct api_route api_connect_routes[] = {
    /* the ACL column of Consul's docs: roots for anyone, the configuration
     * operator:write (read too, since 1.8.6), a leaf service:write on the
     * service, authorize service:write on the target (in the body) */
    {"/v1/connect/ca/roots", false, API_GET, r_roots, NULL, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/agent/connect/ca/roots", false, API_GET, r_roots, NULL, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/connect/ca/configuration", false, API_GET | API_PUT, r_config, h_config,
     API_FIXED(OPERATOR, WRITE), API_FIXED(OPERATOR, WRITE)},
    {"/v1/agent/connect/ca/leaf/", true, API_GET, r_leaf, NULL, API_ARG(SERVICE, WRITE),
     API_ARG(SERVICE, WRITE)},
    {"/v1/agent/connect/authorize", false, API_POST, NULL, h_authorize, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
