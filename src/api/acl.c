/* api/acl.c: Consul's ACL HTTP API (api-docs/acl (token, policy, role pages); agent/acl_endpoint.go
 * and the checks of agent/consul/acl_endpoint.go): bootstrap, tokens,
 * policies, roles, and /v1/agent/token/:type.
 *
 * Objects are kept in the state as their JSON (state/acl.c); this file writes
 * that JSON (Consul's field order, without the Raft indexes and without the
 * names of linked policies and roles, which are looked up when read, as
 * Consul does, so a renamed policy shows its new name) and answers with it.
 * Validation errors of Consul's RPCs are answered 400 with Consul's texts
 * (docs/consul-compat.md). Every route declares its ACL column; the ones
 * marked HANDLER check here. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "api/api_int.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define GM_NAME "global-management"
#define GM_DESC "Builtin Policy that grants unlimited access"
#define GM_RULES                                                                                   \
    "\nacl = \"write\"\nagent_prefix \"\" {\n  policy = \"write\"\n}\nevent_prefix \"\" {\n  "     \
    "policy = \"write\"\n}\nkey_prefix \"\" {\n  policy = \"write\"\n}\nkeyring = \"write\"\n"     \
    "node_prefix \"\" {\n  policy = \"write\"\n}\noperator = \"write\"\nmesh = \"write\"\n"        \
    "query_prefix \"\" {\n  policy = \"write\"\n}\nservice_prefix \"\" {\n  policy = \"write\"\n " \
    " intentions = \"write\"\n}\nsession_prefix \"\" {\n  policy = \"write\"\n}\n"
#define ANON_DESC "Anonymous Token"
#define HIDDEN "<hidden>"

/* ---- small helpers ---------------------------------------------------------- */

static int64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* RFC 3339 with nanoseconds, UTC (Go's time.Time JSON). */
static void fmt_time(int64_t ns, char *buf, size_t cap)
{
    time_t s = (time_t)(ns / 1000000000LL);
    long frac = (long)(ns % 1000000000LL);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        char f[16];
        snprintf(f, sizeof(f), "%09ld", frac);
        size_t n = strlen(f);
        while (n && f[n - 1] == '0')
            f[--n] = '\0';
        snprintf(buf, cap, "%s.%sZ", base, f);
    } else {
        snprintf(buf, cap, "%sZ", base);
    }
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm). */
static int parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        while (digits++ < 9)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        off = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *out = ((int64_t)timegm(&tm) - off) * 1000000000LL + frac;
    return 0;
}

/* base64(SHA-256(bytes)): the objects' Hash (Consul: blake2b-256). */
static void hash_of(const char *p, size_t n, char *out, size_t cap)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)p, n, d);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, d, sizeof(d));
    snprintf(out, cap, "%s", (const char *)b64);
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!n || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

static bool valid_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool enabled(struct api_ctx *c)
{
    if (c->api->acl)
        return true;
    api_error(c, 401, "ACL support disabled");
    return false;
}

static struct json_object *body_json(struct api_ctx *c, char *err, size_t cap)
{
    const char *b = c->req->body_len ? c->req->body : "{}";
    size_t n = c->req->body_len ? c->req->body_len : 2;
    struct json_object *o = cn_json_parse(b, n, err, cap);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        snprintf(err, cap, "Request decode failed: expected a JSON object");
        return NULL;
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
    const char *v = NULL;
    if (cn_json_get_str(o, k, &v) != 1)
        return NULL;
    return v;
}

static struct json_object *parse_def(const struct state_acl *v)
{
    return v ? cn_json_parse((const char *)v->def, v->def_len, NULL, 0) : NULL;
}

/* Finish a stored definition: its Hash over everything else, then the bytes. */
static int def_bytes(struct json_object *o, struct cn_buf *out)
{
    json_object_object_del(o, "Hash");
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char h[64];
    hash_of(t, strlen(t), h, sizeof(h));
    json_object_object_add(o, "Hash", json_object_new_string(h));
    t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    return cn_buf_puts(out, t);
}

/* ---- answers ---------------------------------------------------------------- */

static void reply_obj(struct api_ctx *c, int status, struct json_object *o)
{
    const char *t = json_object_to_json_string_ext(
        o, c->pretty
               ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE
               : JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    struct cn_buf b = CN_BUF_INIT;
    if (!t || cn_buf_puts(&b, t))
        api_error(c, 500, "out of memory");
    else
        api_reply_json(c, status, &b);
    cn_buf_free(&b);
}

static void read_obj(struct api_ctx *c, struct api_read *r, struct json_object *o)
{
    const char *t = json_object_to_json_string_ext(
        o, c->pretty
               ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE
               : JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!t || cn_buf_puts(&r->body, t))
        api_read_error(r, 500, "out of memory");
}

/* Links [{"ID"}] into [{"ID","Name"}] with the current names; links to
 * objects deleted since are dropped (Consul's fixup on read). Removes an
 * empty list (omitempty). */
static void links_out(struct state *st, struct json_object *o, const char *key, uint8_t kind)
{
    struct json_object *arr = NULL;
    if (!json_object_object_get_ex(o, key, &arr) || !json_object_is_type(arr, json_type_array))
        return;
    struct json_object *out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        const char *id = jstr(json_object_array_get_idx(arr, i), "ID");
        const struct state_acl *v = id ? state_acl_get(st, kind, id) : NULL;
        if (!v)
            continue;
        struct json_object *l = json_object_new_object();
        json_object_object_add(l, "ID", json_object_new_string(id));
        json_object_object_add(l, "Name", json_object_new_string(v->name));
        json_object_array_add(out, l);
    }
    if (json_object_array_length(out))
        json_object_object_add(o, key, out);
    else {
        json_object_put(out);
        json_object_object_del(o, key);
    }
}

/* The API shape of a stored object (NULL on OOM or a broken definition). */
static struct json_object *obj_out(struct api_ctx *c, const struct state_acl *v, bool stub,
                                   bool reveal)
{
    struct state *st = srv_state(c->api->srv);
    struct json_object *o = parse_def(v);
    if (!o)
        return NULL;
    if (v->kind == STATE_ACL_TOKEN) {
        links_out(st, o, "Policies", STATE_ACL_POLICY);
        links_out(st, o, "Roles", STATE_ACL_ROLE);
        if (!reveal && !api_acl_ok(c, ACL_R_ACL, "", ACL_A_WRITE))
            json_object_object_add(o, "SecretID", json_object_new_string(HIDDEN));
        if (stub) {
            /* ACLTokenListStub: Hash, CreateTime, then Legacy after the indexes */
        }
    } else if (v->kind == STATE_ACL_ROLE) {
        links_out(st, o, "Policies", STATE_ACL_POLICY);
    } else if (stub) {
        json_object_object_del(o, "Rules");
    }
    json_object_object_add(o, "CreateIndex", json_object_new_uint64(v->create_index));
    json_object_object_add(o, "ModifyIndex", json_object_new_uint64(v->modify_index));
    if (stub && v->kind == STATE_ACL_TOKEN)
        json_object_object_add(o, "Legacy", json_object_new_boolean(0));
    return o;
}

/* ---- writes: the common done ------------------------------------------------- */

struct wr {
    uint8_t kind;
    char id[64];
    bool del;
    bool reveal; /* bootstrap: the new secret goes to the (anonymous) caller */
};

static void write_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    struct wr *w = c->user;
    c->user = NULL;
    if (rc) {
        const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
        if (rc == CN_EEXIST)
            api_error(c, 403, "Permission denied: %s", why);
        else
            api_error(c, rc == CN_EINVAL || rc == CN_ENOTFOUND ? 400 : 500, "%s", why);
        cn_free(w);
        return;
    }
    if (w->del) {
        cn_free(w);
        api_reply_bool(c, true);
        return;
    }
    const struct state_acl *v = state_acl_get(srv_state(c->api->srv), w->kind, w->id);
    struct json_object *o = v ? obj_out(c, v, false, w->reveal) : NULL;
    cn_free(w);
    if (!o) {
        api_error(c, 500, "Failed to retrieve the object after insertion");
        return;
    }
    reply_obj(c, 200, o);
    json_object_put(o);
}

static void propose_obj(struct api_ctx *c, struct cn_buf *cmd, uint8_t kind, const char *id,
                        bool del);
static void propose_obj2(struct api_ctx *c, struct cn_buf *cmd, uint8_t kind, const char *id,
                         bool del, bool reveal);

static void propose_obj(struct api_ctx *c, struct cn_buf *cmd, uint8_t kind, const char *id,
                        bool del)
{
    propose_obj2(c, cmd, kind, id, del, false);
}

static void propose_obj2(struct api_ctx *c, struct cn_buf *cmd, uint8_t kind, const char *id,
                         bool del, bool reveal)
{
    struct wr *w = cn_calloc(1, sizeof(*w));
    if (!w) {
        cn_buf_free(cmd);
        api_error(c, 500, "out of memory");
        return;
    }
    w->kind = kind;
    w->del = del;
    w->reveal = reveal;
    snprintf(w->id, sizeof(w->id), "%s", id);
    c->user = w;
    c->user_free = cn_free;
    api_propose(c, cmd, write_done);
    cn_buf_free(cmd);
}

static void put_obj(struct api_ctx *c, int op, uint8_t kind, const char *id, const char *name,
                    int64_t expires, struct json_object *def)
{
    struct cn_buf d = CN_BUF_INIT, cmd = CN_BUF_INIT;
    int rc = def_bytes(def, &d);
    struct state_acl v = {.kind = kind,
                          .id = (char *)id,
                          .name = (char *)name,
                          .expires_unix_ns = expires,
                          .def = (uint8_t *)d.p,
                          .def_len = d.len};
    if (!rc)
        rc = state_cmd_acl_set(&cmd, op, &v);
    cn_buf_free(&d);
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    propose_obj(c, &cmd, kind, id, false);
}

/* ---- links in a body: [{"ID"} | {"Name"}] -> stored [{"ID"}] ------------------- */

static int links_in(struct state *st, struct json_object *body, const char *key, uint8_t kind,
                    struct json_object **out, char *err, size_t cap)
{
    *out = json_object_new_array();
    struct json_object *arr = cn_json_get(body, key);
    if (!arr)
        return 0;
    if (!json_object_is_type(arr, json_type_array)) {
        snprintf(err, cap, "Request decode failed: %s: expected a list", key);
        return -1;
    }
    const char *what = kind == STATE_ACL_POLICY ? "policy" : "role";
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *l = json_object_array_get_idx(arr, i);
        const char *id = jstr(l, "ID"), *name = jstr(l, "Name");
        const struct state_acl *v = NULL;
        if (id && *id) {
            if (!(v = state_acl_get(st, kind, id))) {
                snprintf(err, cap, "No such ACL %s with ID \"%s\"", what, id);
                return -1;
            }
        } else if (name && *name) {
            if (!(v = state_acl_by_name(st, kind, name))) {
                snprintf(err, cap, "No such ACL %s with name \"%s\"", what, name);
                return -1;
            }
        } else {
            snprintf(err, cap, "No such ACL %s with name \"\"", what);
            return -1;
        }
        bool dup = false;
        for (size_t j = 0; j < json_object_array_length(*out); j++)
            if (!strcmp(jstr(json_object_array_get_idx(*out, j), "ID"), v->id))
                dup = true;
        if (dup)
            continue;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ID", json_object_new_string(v->id));
        json_object_array_add(*out, o);
    }
    return 0;
}

/* Identities and auth methods: not in cairn; refused, never ignored. */
static int unsupported_fields(struct json_object *body, char *err, size_t cap)
{
    static const char *const keys[] = {"ServiceIdentities", "NodeIdentities", "TemplatedPolicies",
                                       "AuthMethod",        "Rules",          "Type"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct json_object *v = cn_json_get(body, keys[i]);
        if (!v)
            continue;
        if ((json_object_is_type(v, json_type_array) && !json_object_array_length(v)) ||
            (json_object_is_type(v, json_type_string) && !*json_object_get_string(v)))
            continue;
        snprintf(err, cap, "%s are not supported by cairn", keys[i]);
        return -1;
    }
    return 0;
}

/* ---- tokens -------------------------------------------------------------------- */

/* Build and propose a token. old: the token being updated (NULL = create). */
static void token_write(struct api_ctx *c, struct json_object *body, const struct state_acl *old,
                        const char *path_id)
{
    struct state *st = srv_state(c->api->srv);
    char err[512] = "";
    char acc[40] = "", sec[256] = "";
    const char *accessor = jstr(body, "AccessorID");
    const char *secret = jstr(body, "SecretID");
    const char *desc = jstr(body, "Description");
    int local = 0;
    cn_json_get_bool(body, "Local", &local);
    struct json_object *pols = NULL, *roles = NULL, *def = NULL;
    int64_t ttl = 0, exp = 0, created = now_unix_ns();
    const char *exp_s = jstr(body, "ExpirationTime");
    int st_ = 0;
    int64_t mint, maxt;
    api__acl_ttl_bounds(c->api, &mint, &maxt);
    char mins[32], maxs[32];
    cn_dur_format(mint, mins, sizeof(mins));
    cn_dur_format(maxt, maxs, sizeof(maxs));
    if (unsupported_fields(body, err, sizeof(err)))
        st_ = 400;
    if (!st_ && cn_json_get(body, "ExpirationTTL") &&
        cn_json_get_dur(body, "ExpirationTTL", &ttl) != 1) {
        snprintf(err, sizeof(err), "Request decode failed: ExpirationTTL: invalid duration");
        st_ = 400;
    }
    if (!st_ && exp_s && *exp_s && parse_time(exp_s, &exp)) {
        snprintf(err, sizeof(err), "Request decode failed: ExpirationTime: invalid time \"%s\"",
                 exp_s);
        st_ = 400;
    }
    if (!st_ && old) {
        struct json_object *od = parse_def(old);
        const char *ct = od ? jstr(od, "CreateTime") : NULL;
        int64_t t;
        if (ct && !parse_time(ct, &t))
            created = t;
        if (!desc)
            desc = NULL; /* Consul's update replaces the Description (empty if absent) */
        int olocal = 0;
        if (od)
            cn_json_get_bool(od, "Local", &olocal);
        if (accessor && *accessor && strcmp(accessor, old->id) != 0)
            snprintf(err, sizeof(err), "AccessorID in URL and payload do not match"), st_ = 400;
        else if (secret && *secret && strcmp(secret, old->name) != 0)
            snprintf(err, sizeof(err), "Changing a tokens SecretID is not permitted"), st_ = 400;
        else if (!!local != !!olocal)
            snprintf(err, sizeof(err), "cannot toggle local mode of %s", old->id), st_ = 400;
        else if (ttl)
            snprintf(err, sizeof(err), "Cannot change expiration time of %s", old->id), st_ = 400;
        else if (exp && exp != old->expires_unix_ns)
            snprintf(err, sizeof(err), "Cannot change expiration time of %s", old->id), st_ = 400;
        exp = old->expires_unix_ns;
        snprintf(acc, sizeof(acc), "%s", old->id);
        snprintf(sec, sizeof(sec), "%s", old->name);
        json_object_put(od);
    } else if (!st_) {
        if (accessor && *accessor) {
            if (!valid_uuid(accessor))
                snprintf(err, sizeof(err), "Invalid Token: AccessorID is not a valid UUID"),
                    st_ = 400;
            else if (state_acl_get(st, STATE_ACL_TOKEN, accessor) ||
                     state_acl_by_name(st, STATE_ACL_TOKEN, accessor))
                snprintf(err, sizeof(err), "Invalid Token: AccessorID is already in use"),
                    st_ = 400;
            else if (!strncmp(accessor, "00000000-0000-0000-0000-0000000000", 34))
                snprintf(
                    err, sizeof(err),
                    "Invalid Token: UUIDs with the prefix \"00000000-0000-0000-0000-0000000000\" "
                    "are reserved"),
                    st_ = 400;
            snprintf(acc, sizeof(acc), "%s", accessor);
        } else if (api__uuid(acc, sizeof(acc))) {
            snprintf(err, sizeof(err), "UUID generation failed"), st_ = 500;
        }
        if (!st_ && secret && *secret) {
            if (!valid_uuid(secret))
                snprintf(err, sizeof(err), "Invalid Token: SecretID is not a valid UUID"),
                    st_ = 400;
            else if (state_acl_by_name(st, STATE_ACL_TOKEN, secret) ||
                     state_acl_get(st, STATE_ACL_TOKEN, secret))
                snprintf(err, sizeof(err), "Invalid Token: SecretID is already in use"), st_ = 400;
            snprintf(sec, sizeof(sec), "%s", secret);
        } else if (!st_ && api__uuid(sec, sizeof(sec))) {
            snprintf(err, sizeof(err), "UUID generation failed"), st_ = 500;
        }
        if (!st_ && ttl < 0)
            snprintf(err, sizeof(err), "Token Expiration TTL should be > 0"), st_ = 400;
        else if (!st_ && ttl && exp)
            snprintf(err, sizeof(err),
                     "Token Expiration TTL and Expiration Time cannot both be set"),
                st_ = 400;
        if (!st_ && ttl)
            exp = created + ttl;
        if (!st_ && exp && exp < created)
            snprintf(err, sizeof(err), "ExpirationTime cannot be before CreateTime"), st_ = 400;
        else if (!st_ && exp && exp - created > maxt)
            snprintf(err, sizeof(err), "ExpirationTime cannot be more than %s in the future", maxs),
                st_ = 400;
        else if (!st_ && exp && exp - created < mint)
            snprintf(err, sizeof(err), "ExpirationTime cannot be less than %s in the future", mins),
                st_ = 400;
    }
    (void)path_id;
    if (!st_ && (links_in(st, body, "Policies", STATE_ACL_POLICY, &pols, err, sizeof(err)) ||
                 links_in(st, body, "Roles", STATE_ACL_ROLE, &roles, err, sizeof(err))))
        st_ = 400;
    if (st_) {
        json_object_put(pols);
        json_object_put(roles);
        api_error(c, st_, "%s", err);
        return;
    }
    def = json_object_new_object();
    json_object_object_add(def, "AccessorID", json_object_new_string(acc));
    json_object_object_add(def, "SecretID", json_object_new_string(sec));
    json_object_object_add(def, "Description", json_object_new_string(desc ? desc : ""));
    json_object_object_add(def, "Policies", pols);
    json_object_object_add(def, "Roles", roles);
    json_object_object_add(def, "Local", json_object_new_boolean(local));
    char tb[64];
    if (exp) {
        fmt_time(exp, tb, sizeof(tb));
        json_object_object_add(def, "ExpirationTime", json_object_new_string(tb));
    }
    fmt_time(created, tb, sizeof(tb));
    json_object_object_add(def, "CreateTime", json_object_new_string(tb));
    put_obj(c, old ? 1 : 0, STATE_ACL_TOKEN, acc, sec, exp, def);
    json_object_put(def);
}

static void h_token_create(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    char err[256];
    struct json_object *body = body_json(c, err, sizeof(err));
    if (!body) {
        api_error(c, 400, "%s", err);
        return;
    }
    token_write(c, body, NULL, NULL);
    json_object_put(body);
}

static bool live_token(const struct state_acl *v)
{
    return v && (!v->expires_unix_ns || v->expires_unix_ns > now_unix_ns());
}

static void token_clone(struct api_ctx *c, const char *id)
{
    struct state *st = srv_state(c->api->srv);
    const struct state_acl *v = state_acl_get(st, STATE_ACL_TOKEN, id);
    if (!live_token(v)) {
        api_error(c, 403, "ACL not found");
        return;
    }
    char err[256];
    struct json_object *body = body_json(c, err, sizeof(err));
    struct json_object *od = parse_def(v);
    if (!body || !od) {
        json_object_put(body);
        json_object_put(od);
        api_error(c, 400, "%s", body ? "broken token" : err);
        return;
    }
    /* A new token with the same links, locality, description (unless given)
     * and expiration time. */
    struct json_object *nb = json_object_new_object();
    const char *desc = jstr(body, "Description");
    const char *od_desc = jstr(od, "Description");
    json_object_object_add(nb, "Description",
                           json_object_new_string(desc && *desc ? desc
                                                  : od_desc     ? od_desc
                                                                : ""));
    struct json_object *x;
    if (json_object_object_get_ex(od, "Policies", &x))
        json_object_object_add(nb, "Policies", json_object_get(x));
    if (json_object_object_get_ex(od, "Roles", &x))
        json_object_object_add(nb, "Roles", json_object_get(x));
    if (json_object_object_get_ex(od, "Local", &x))
        json_object_object_add(nb, "Local", json_object_get(x));
    if (json_object_object_get_ex(od, "ExpirationTime", &x))
        json_object_object_add(nb, "ExpirationTime", json_object_get(x));
    token_write(c, nb, NULL, NULL);
    json_object_put(nb);
    json_object_put(body);
    json_object_put(od);
}

static void h_token_id(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    struct state *st = srv_state(c->api->srv);
    char id[128];
    snprintf(id, sizeof(id), "%s", c->arg);
    size_t n = strlen(id);
    if (n > 6 && !strcmp(id + n - 6, "/clone")) {
        id[n - 6] = '\0';
        if (c->req->method != HTTP_M_PUT) {
            api_error(c, 405, "method %s not allowed", c->req->method_str);
            return;
        }
        token_clone(c, id);
        return;
    }
    if (c->req->method == HTTP_M_DELETE) {
        if (!valid_uuid(id)) {
            api_error(c, 400, "Accessor ID is missing or an invalid UUID");
            return;
        }
        if (!strcmp(id, API_ACL_ANON_ID)) {
            api_error(c, 400, "Delete operation not permitted on the anonymous token");
            return;
        }
        const struct state_acl *v = state_acl_get(st, STATE_ACL_TOKEN, id);
        const char *mine = api__acl_token_of(c);
        if (v && mine && !strcmp(mine, v->name)) {
            api_error(c, 400, "Deletion of the request's authorization token is not permitted");
            return;
        }
        if (!v) {
            api_reply_bool(c, true); /* nothing to do, as Consul */
            return;
        }
        struct cn_buf cmd = CN_BUF_INIT;
        if (state_cmd_acl_delete(&cmd, STATE_ACL_TOKEN, id)) {
            cn_buf_free(&cmd);
            api_error(c, 500, "out of memory");
            return;
        }
        propose_obj(c, &cmd, STATE_ACL_TOKEN, id, true);
        return;
    }
    /* PUT: update */
    const struct state_acl *v = state_acl_get(st, STATE_ACL_TOKEN, id);
    if (!live_token(v)) {
        api_error(c, 400, "Cannot find token \"%s\"", id);
        return;
    }
    char err[256];
    struct json_object *body = body_json(c, err, sizeof(err));
    if (!body) {
        api_error(c, 400, "%s", err);
        return;
    }
    token_write(c, body, v, id);
    json_object_put(body);
}

static void r_token_id(struct api_ctx *c, struct api_read *r)
{
    if (!c->api->acl)
        return api_read_error(r, 401, "ACL support disabled");
    struct state *st = srv_state(c->api->srv);
    r->index = state_table_index(st, STATE_T_ACL);
    api_read_watch(r, STATE_T_ACL, NULL, false);
    char id[128];
    snprintf(id, sizeof(id), "%s", c->arg);
    const struct state_acl *v = state_acl_get(st, STATE_ACL_TOKEN, id);
    if (!live_token(v))
        return api_read_error(r, 403, "ACL not found");
    struct json_object *o = obj_out(c, v, false, false);
    if (!o)
        return api_read_error(r, 500, "out of memory");
    read_obj(c, r, o);
    json_object_put(o);
}

static void r_token_self(struct api_ctx *c, struct api_read *r)
{
    if (!c->api->acl)
        return api_read_error(r, 401, "ACL support disabled");
    struct state *st = srv_state(c->api->srv);
    const char *secret = api__acl_token_of(c);
    const struct state_acl *v = secret ? state_acl_by_name(st, STATE_ACL_TOKEN, secret) : NULL;
    if (!live_token(v))
        return api_read_error(r, 403, "ACL not found");
    struct json_object *o = parse_def(v);
    if (!o)
        return api_read_error(r, 500, "out of memory");
    links_out(st, o, "Policies", STATE_ACL_POLICY);
    links_out(st, o, "Roles", STATE_ACL_ROLE);
    json_object_object_add(o, "CreateIndex", json_object_new_uint64(v->create_index));
    json_object_object_add(o, "ModifyIndex", json_object_new_uint64(v->modify_index));
    read_obj(c, r, o);
    json_object_put(o);
    r->index = state_table_index(st, STATE_T_ACL);
    api_read_watch(r, STATE_T_ACL, NULL, false);
}

struct list_walk {
    struct api_ctx *c;
    struct json_object *arr;
    const char *policy, *role; /* ?policy= ?role= filters */
    bool stub;
};

static bool links_have(const struct state_acl *v, const char *key, const char *id)
{
    struct json_object *o = parse_def(v), *arr;
    bool hit = false;
    if (o && json_object_object_get_ex(o, key, &arr) && json_object_is_type(arr, json_type_array))
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            const char *x = jstr(json_object_array_get_idx(arr, i), "ID");
            if (x && !strcmp(x, id))
                hit = true;
        }
    json_object_put(o);
    return hit;
}

static int list_cb(void *arg, const struct state_acl *v)
{
    struct list_walk *lw = arg;
    if (v->kind == STATE_ACL_TOKEN && !live_token(v))
        return 0;
    if (lw->policy && !links_have(v, "Policies", lw->policy))
        return 0;
    if (lw->role && !links_have(v, "Roles", lw->role))
        return 0;
    struct json_object *o = obj_out(lw->c, v, lw->stub, false);
    if (o)
        json_object_array_add(lw->arr, o);
    return 0;
}

static void list_kind(struct api_ctx *c, struct api_read *r, uint8_t kind, bool stub)
{
    if (!c->api->acl)
        return api_read_error(r, 401, "ACL support disabled");
    struct state *st = srv_state(c->api->srv);
    struct list_walk lw = {c, json_object_new_array(), NULL, NULL, stub};
    if (kind == STATE_ACL_TOKEN) {
        lw.policy = api_param(c, "policy");
        lw.role = api_param(c, "role");
        if (lw.policy && !*lw.policy)
            lw.policy = NULL;
        if (lw.role && !*lw.role)
            lw.role = NULL;
    }
    state_acl_foreach(st, kind, list_cb, &lw);
    read_obj(c, r, lw.arr);
    json_object_put(lw.arr);
    r->index = state_table_index(st, STATE_T_ACL);
    api_read_watch(r, STATE_T_ACL, NULL, false);
}

static void r_tokens(struct api_ctx *c, struct api_read *r)
{
    list_kind(c, r, STATE_ACL_TOKEN, true);
}

/* ---- bootstrap ------------------------------------------------------------------ */

static void h_bootstrap(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    struct state *st = srv_state(c->api->srv);
    if (state_acl_bootstrap_index(st)) {
        api_error(c, 403,
                  "Permission denied: ACL bootstrap no longer allowed (reset index: %" PRIu64 ")",
                  state_acl_bootstrap_index(st));
        return;
    }
    if (!state_acl_get(st, STATE_ACL_POLICY, API_ACL_GM_ID)) {
        /* The leader writes the builtins first (a few log entries after it
         * is elected): a token linking a policy not there yet would show
         * none. */
        api_error(c, 500, "The ACL system is still initializing; try again");
        return;
    }
    char acc[40], sec[40], tb[64];
    if (api__uuid(acc, sizeof(acc)) || api__uuid(sec, sizeof(sec))) {
        api_error(c, 500, "UUID generation failed");
        return;
    }
    struct json_object *def = json_object_new_object();
    json_object_object_add(def, "AccessorID", json_object_new_string(acc));
    json_object_object_add(def, "SecretID", json_object_new_string(sec));
    json_object_object_add(def, "Description",
                           json_object_new_string("Bootstrap Token (Global Management)"));
    struct json_object *pols = json_object_new_array(), *l = json_object_new_object();
    json_object_object_add(l, "ID", json_object_new_string(API_ACL_GM_ID));
    json_object_array_add(pols, l);
    json_object_object_add(def, "Policies", pols);
    json_object_object_add(def, "Local", json_object_new_boolean(0));
    fmt_time(now_unix_ns(), tb, sizeof(tb));
    json_object_object_add(def, "CreateTime", json_object_new_string(tb));
    struct cn_buf d = CN_BUF_INIT, cmd = CN_BUF_INIT;
    int rc = def_bytes(def, &d);
    json_object_put(def);
    struct state_acl v = {
        .kind = STATE_ACL_TOKEN, .id = acc, .name = sec, .def = (uint8_t *)d.p, .def_len = d.len};
    if (!rc)
        rc = state_cmd_acl_bootstrap(&cmd, &v);
    cn_buf_free(&d);
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    propose_obj2(c, &cmd, STATE_ACL_TOKEN, acc, false, true);
}

int api__acl_builtin_cmd(struct api *a, int which, const char *secret, struct cn_buf *cmd)
{
    (void)a;
    struct json_object *def = json_object_new_object();
    char acc[40], tb[64];
    struct state_acl v = {0};
    fmt_time(now_unix_ns(), tb, sizeof(tb));
    if (which == 0) {
        json_object_object_add(def, "ID", json_object_new_string(API_ACL_GM_ID));
        json_object_object_add(def, "Name", json_object_new_string(GM_NAME));
        json_object_object_add(def, "Description", json_object_new_string(GM_DESC));
        json_object_object_add(def, "Rules", json_object_new_string(GM_RULES));
        v = (struct state_acl){.kind = STATE_ACL_POLICY, .id = API_ACL_GM_ID, .name = GM_NAME};
    } else {
        bool anon = which == 1;
        if (!anon && api__uuid(acc, sizeof(acc))) {
            json_object_put(def);
            return CN_EIO;
        }
        json_object_object_add(def, "AccessorID",
                               json_object_new_string(anon ? API_ACL_ANON_ID : acc));
        json_object_object_add(def, "SecretID",
                               json_object_new_string(anon ? "anonymous" : secret));
        json_object_object_add(
            def, "Description",
            json_object_new_string(anon ? ANON_DESC : "Initial Management Token"));
        if (!anon) {
            struct json_object *pols = json_object_new_array(), *l = json_object_new_object();
            json_object_object_add(l, "ID", json_object_new_string(API_ACL_GM_ID));
            json_object_array_add(pols, l);
            json_object_object_add(def, "Policies", pols);
        }
        json_object_object_add(def, "Local", json_object_new_boolean(0));
        json_object_object_add(def, "CreateTime", json_object_new_string(tb));
        v = (struct state_acl){.kind = STATE_ACL_TOKEN,
                               .id = anon ? API_ACL_ANON_ID : acc,
                               .name = anon ? "anonymous" : (char *)secret};
    }
    struct cn_buf d = CN_BUF_INIT;
    int rc = def_bytes(def, &d);
    json_object_put(def);
    v.def = (uint8_t *)d.p;
    v.def_len = d.len;
    if (!rc)
        rc = which == 2 && !state_acl_bootstrap_index(srv_state(a->srv))
                 ? state_cmd_acl_bootstrap(cmd, &v)
                 : state_cmd_acl_set(cmd, 2, &v);
    cn_buf_free(&d);
    return rc;
}

/* ---- policies ------------------------------------------------------------------- */

static void policy_write(struct api_ctx *c, const char *path_id)
{
    struct state *st = srv_state(c->api->srv);
    char err[1024] = "";
    struct json_object *body = body_json(c, err, sizeof(err));
    if (!body) {
        api_error(c, 400, "%s", err);
        return;
    }
    const char *id = jstr(body, "ID"), *name = jstr(body, "Name");
    const char *desc = jstr(body, "Description"), *rules = jstr(body, "Rules");
    struct json_object *dcs = cn_json_get(body, "Datacenters");
    char nid[40] = "";
    const struct state_acl *old = NULL;
    int status = 0;
    if (path_id) {
        if (id && *id && strcmp(id, path_id) != 0)
            snprintf(err, sizeof(err), "Policy ID in URL and payload do not match"), status = 400;
        id = path_id;
    }
    if (!status && (!name || !*name))
        snprintf(err, sizeof(err), "Invalid Policy: no Name is set"), status = 400;
    else if (!status && !valid_name(name, 128))
        snprintf(err, sizeof(err),
                 "Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are "
                 "allowed"),
            status = 400;
    if (!status && dcs && !json_object_is_type(dcs, json_type_array))
        snprintf(err, sizeof(err), "Request decode failed: Datacenters: expected a list"),
            status = 400;
    if (!status && id && *id) {
        if (!valid_uuid(id))
            snprintf(err, sizeof(err), "Policy ID invalid UUID"), status = 400;
        else if (!(old = state_acl_get(st, STATE_ACL_POLICY, id)))
            snprintf(err, sizeof(err), "cannot find policy %s", id), status = 400;
        snprintf(nid, sizeof(nid), "%s", id);
    } else if (!status) {
        if (state_acl_by_name(st, STATE_ACL_POLICY, name))
            snprintf(err, sizeof(err), "Invalid Policy: A Policy with Name \"%s\" already exists",
                     name),
                status = 400;
        else if (api__uuid(nid, sizeof(nid)))
            snprintf(err, sizeof(err), "UUID generation failed"), status = 500;
    }
    if (!status && old) {
        const struct state_acl *nm = state_acl_by_name(st, STATE_ACL_POLICY, name);
        if (nm && strcmp(nm->id, old->id) != 0)
            snprintf(err, sizeof(err), "Invalid Policy: A policy with name \"%s\" already exists",
                     name),
                status = 400;
        if (!status && !strcmp(old->id, API_ACL_GM_ID)) {
            struct json_object *od = parse_def(old);
            const char *orules = od ? jstr(od, "Rules") : "";
            if (dcs && json_object_array_length(dcs))
                snprintf(err, sizeof(err),
                         "Changing the Datacenters of the builtin global-management policy is "
                         "not permitted"),
                    status = 400;
            else if (strcmp(rules ? rules : "", orules ? orules : "") != 0)
                snprintf(err, sizeof(err),
                         "Changing the Rules for the builtin global-management policy is not "
                         "permitted"),
                    status = 400;
            json_object_put(od);
        }
    }
    if (!status && rules && *rules) {
        struct acl_policy p;
        char perr[900];
        if (acl_policy_parse(rules, strlen(rules), &p, perr, sizeof(perr)))
            snprintf(err, sizeof(err), "%s", perr), status = 400;
        acl_policy_clear(&p);
    }
    if (status) {
        json_object_put(body);
        api_error(c, status, "%s", err);
        return;
    }
    struct json_object *def = json_object_new_object();
    json_object_object_add(def, "ID", json_object_new_string(nid));
    json_object_object_add(def, "Name", json_object_new_string(name));
    json_object_object_add(def, "Description", json_object_new_string(desc ? desc : ""));
    json_object_object_add(def, "Rules", json_object_new_string(rules ? rules : ""));
    if (dcs && json_object_array_length(dcs))
        json_object_object_add(def, "Datacenters", json_object_get(dcs));
    char keep_name[256];
    snprintf(keep_name, sizeof(keep_name), "%s", name);
    json_object_put(body);
    put_obj(c, old ? 1 : 0, STATE_ACL_POLICY, nid, keep_name, 0, def);
    json_object_put(def);
}

static void h_policy_create(struct api_ctx *c)
{
    if (enabled(c))
        policy_write(c, NULL);
}

static void h_policy_id(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    if (c->req->method == HTTP_M_PUT) {
        policy_write(c, c->arg);
        return;
    }
    const struct state_acl *v = state_acl_get(srv_state(c->api->srv), STATE_ACL_POLICY, c->arg);
    if (v && !strcmp(v->id, API_ACL_GM_ID)) {
        api_error(c, 400, "Delete operation not permitted on the builtin global-management policy");
        return;
    }
    if (!v) {
        api_reply_bool(c, true);
        return;
    }
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_acl_delete(&cmd, STATE_ACL_POLICY, v->id)) {
        cn_buf_free(&cmd);
        api_error(c, 500, "out of memory");
        return;
    }
    propose_obj(c, &cmd, STATE_ACL_POLICY, c->arg, true);
}

static void read_one(struct api_ctx *c, struct api_read *r, uint8_t kind, bool by_name)
{
    if (!c->api->acl)
        return api_read_error(r, 401, "ACL support disabled");
    struct state *st = srv_state(c->api->srv);
    r->index = state_table_index(st, STATE_T_ACL);
    api_read_watch(r, STATE_T_ACL, NULL, false);
    const struct state_acl *v =
        by_name ? state_acl_by_name(st, kind, c->arg) : state_acl_get(st, kind, c->arg);
    if (!v)
        return api_read_error(r, 403, "ACL not found");
    struct json_object *o = obj_out(c, v, false, false);
    if (!o)
        return api_read_error(r, 500, "out of memory");
    read_obj(c, r, o);
    json_object_put(o);
}

static void r_policy_id(struct api_ctx *c, struct api_read *r)
{
    read_one(c, r, STATE_ACL_POLICY, false);
}
static void r_policy_name(struct api_ctx *c, struct api_read *r)
{
    read_one(c, r, STATE_ACL_POLICY, true);
}
static void r_policies(struct api_ctx *c, struct api_read *r)
{
    list_kind(c, r, STATE_ACL_POLICY, true);
}

/* ---- roles ------------------------------------------------------------------------ */

static void role_write(struct api_ctx *c, const char *path_id)
{
    struct state *st = srv_state(c->api->srv);
    char err[1024] = "";
    struct json_object *body = body_json(c, err, sizeof(err));
    if (!body) {
        api_error(c, 400, "%s", err);
        return;
    }
    const char *id = jstr(body, "ID"), *name = jstr(body, "Name");
    const char *desc = jstr(body, "Description");
    char nid[40] = "";
    const struct state_acl *old = NULL;
    struct json_object *pols = NULL;
    int status = 0;
    if (path_id) {
        if (id && *id && strcmp(id, path_id) != 0)
            snprintf(err, sizeof(err), "Role ID in URL and payload do not match"), status = 400;
        id = path_id;
    }
    if (!status && unsupported_fields(body, err, sizeof(err)))
        status = 400;
    if (!status && (!name || !*name))
        snprintf(err, sizeof(err), "Invalid Role: no Name is set"), status = 400;
    else if (!status && !valid_name(name, 256))
        snprintf(err, sizeof(err),
                 "Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are "
                 "allowed"),
            status = 400;
    if (!status && id && *id) {
        if (!valid_uuid(id))
            snprintf(err, sizeof(err), "Role ID invalid UUID"), status = 400;
        else if (!(old = state_acl_get(st, STATE_ACL_ROLE, id)))
            snprintf(err, sizeof(err), "Cannot find role %s", id), status = 400;
        snprintf(nid, sizeof(nid), "%s", id);
    } else if (!status && api__uuid(nid, sizeof(nid))) {
        snprintf(err, sizeof(err), "UUID generation failed"), status = 500;
    }
    if (!status) {
        const struct state_acl *nm = state_acl_by_name(st, STATE_ACL_ROLE, name);
        if (nm && (!old || strcmp(nm->id, old->id) != 0))
            snprintf(err, sizeof(err), "Invalid Role: A Role with Name \"%s\" already exists",
                     name),
                status = 400;
    }
    if (!status && links_in(st, body, "Policies", STATE_ACL_POLICY, &pols, err, sizeof(err)))
        status = 400;
    if (status) {
        json_object_put(pols);
        json_object_put(body);
        api_error(c, status, "%s", err);
        return;
    }
    struct json_object *def = json_object_new_object();
    json_object_object_add(def, "ID", json_object_new_string(nid));
    json_object_object_add(def, "Name", json_object_new_string(name));
    json_object_object_add(def, "Description", json_object_new_string(desc ? desc : ""));
    json_object_object_add(def, "Policies", pols);
    char keep_name[300];
    snprintf(keep_name, sizeof(keep_name), "%s", name);
    json_object_put(body);
    put_obj(c, old ? 1 : 0, STATE_ACL_ROLE, nid, keep_name, 0, def);
    json_object_put(def);
}

static void h_role_create(struct api_ctx *c)
{
    if (enabled(c))
        role_write(c, NULL);
}

static void h_role_id(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    if (c->req->method == HTTP_M_PUT) {
        role_write(c, c->arg);
        return;
    }
    if (!state_acl_get(srv_state(c->api->srv), STATE_ACL_ROLE, c->arg)) {
        api_reply_bool(c, true);
        return;
    }
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_acl_delete(&cmd, STATE_ACL_ROLE, c->arg)) {
        cn_buf_free(&cmd);
        api_error(c, 500, "out of memory");
        return;
    }
    propose_obj(c, &cmd, STATE_ACL_ROLE, c->arg, true);
}

static void r_role_id(struct api_ctx *c, struct api_read *r)
{
    read_one(c, r, STATE_ACL_ROLE, false);
}
static void r_role_name(struct api_ctx *c, struct api_read *r)
{
    read_one(c, r, STATE_ACL_ROLE, true);
}
static void r_roles(struct api_ctx *c, struct api_read *r)
{
    list_kind(c, r, STATE_ACL_ROLE, false);
}

/* ---- what cairn does not have ------------------------------------------------------ */

static void h_unsupported(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    api_error(c, 400,
              "cairn does not support this ACL endpoint (auth methods, binding rules, login, "
              "templated policies, replication): see docs/consul-compat.md");
}

/* ---- /v1/agent/token/:type ----------------------------------------------------------- */

static void h_agent_token(struct api_ctx *c)
{
    if (!enabled(c))
        return;
    if (c->req->method != HTTP_M_PUT) {
        api_error(c, 405, "method %s not allowed", c->req->method_str);
        return;
    }
    char err[256];
    struct json_object *body = body_json(c, err, sizeof(err));
    if (!body) {
        api_error(c, 400, "%s", err);
        return;
    }
    const char *tok = jstr(body, "Token");
    int rc = api__acl_set_agent_token(c->api, c->arg, tok ? tok : "");
    json_object_put(body);
    if (rc == CN_ENOTFOUND)
        api_error(c, 404, "Token \"%s\" is unknown", c->arg);
    else if (rc)
        api_error(c, 500, "Failed to persist tokens - %s", cn_strerror(rc));
    else
        api_reply_empty(c);
}

#define ALLM (API_GET | API_PUT | API_POST | API_DELETE)
#define AR API_ACL(ACL_R_ACL, ACL_A_READ, API_ACL_FIXED)
#define AW API_ACL(ACL_R_ACL, ACL_A_WRITE, API_ACL_FIXED)
#define ANY API_ACL_OPEN

// clang-format off
const struct api_route api_acl_routes[] = {
    {"/v1/acl/bootstrap", false, API_PUT, NULL, h_bootstrap, ANY, ANY},
    {"/v1/acl/token/self", false, API_GET, r_token_self, NULL, ANY, ANY},
    {"/v1/acl/token", false, API_PUT, NULL, h_token_create, AR, AW},
    {"/v1/acl/token/", true, API_GET | API_PUT | API_DELETE, r_token_id, h_token_id, AR, AW},
    {"/v1/acl/tokens", false, API_GET, r_tokens, NULL, AR, AW},
    {"/v1/acl/policy", false, API_PUT, NULL, h_policy_create, AR, AW},
    {"/v1/acl/policy/name/", true, API_GET, r_policy_name, NULL, AR, AW},
    {"/v1/acl/policy/", true, API_GET | API_PUT | API_DELETE, r_policy_id, h_policy_id, AR, AW},
    {"/v1/acl/policies", false, API_GET, r_policies, NULL, AR, AW},
    {"/v1/acl/role", false, API_PUT, NULL, h_role_create, AR, AW},
    {"/v1/acl/role/name/", true, API_GET, r_role_name, NULL, AR, AW},
    {"/v1/acl/role/", true, API_GET | API_PUT | API_DELETE, r_role_id, h_role_id, AR, AW},
    {"/v1/acl/roles", false, API_GET, r_roles, NULL, AR, AW},
    {"/v1/acl/replication", false, API_GET, NULL, api__acl_h_replication, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/internal/acl/replicate", false, API_GET, api__acl_r_replicate, NULL, API_FIXED(ACL, READ), API_FIXED(ACL, READ)},
    {"/v1/acl/", true, ALLM, NULL, h_unsupported, ANY, ANY},
    {"/v1/internal/acl/resolve", false, API_GET, NULL, api__acl_h_resolve, ANY, ANY},
    {"/v1/agent/token/", true, ALLM, NULL, h_agent_token, AW, AW},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
// clang-format on
