/* agent/tls.c: resolving tls.* (and Consul's deprecated keys) into the two
 * interfaces' contexts. See tls.h. */
#include "agent/tls.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "tls/tls.h"

static const char *pick(const char *a, const char *b, const char *c, const char *d)
{
    const char *v[] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        if (v[i] && *v[i])
            return v[i];
    return "";
}

static bool truthy(const char *s)
{
    return s && !strcmp(s, "true");
}

static void resolve(const struct agent_config *c, const struct agent_tls_keys *k,
                    const char *legacy_vi, struct tls_opts *o)
{
    const struct agent_tls_keys *d = &c->tls_defaults, *l = &c->tls_legacy;
    o->ca_file = pick(k->ca_file, c->tls_ca_file, l->ca_file, NULL);
    o->ca_path = pick(k->ca_path, d->ca_path, l->ca_path, NULL);
    o->cert_file = pick(k->cert_file, d->cert_file, l->cert_file, NULL);
    o->key_file = pick(k->key_file, d->key_file, l->key_file, NULL);
    o->verify_incoming =
        truthy(pick(k->verify_incoming, legacy_vi, d->verify_incoming, l->verify_incoming));
    o->verify_outgoing =
        truthy(pick(k->verify_outgoing, d->verify_outgoing, l->verify_outgoing, NULL));
    o->min_version = pick(k->tls_min_version, d->tls_min_version, l->tls_min_version, NULL);
    o->cipher_suites = pick(k->tls_cipher_suites, d->tls_cipher_suites, l->tls_cipher_suites, NULL);
}

int agent_tls_load(const struct agent_config *c, struct agent_tls *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    /* A bad version is named by the key that set it, before inheritance. */
    const struct {
        const char *key, *v;
    } vers[] = {{"tls.defaults.", c->tls_defaults.tls_min_version},
                {"tls.https.", c->tls_https.tls_min_version},
                {"tls.internal_rpc.", c->tls_rpc.tls_min_version},
                {"", c->tls_legacy.tls_min_version}};
    for (size_t i = 0; i < sizeof(vers) / sizeof(vers[0]); i++) {
        char e[300];
        if (tls_min_version_check(vers[i].v, e, sizeof(e))) {
            snprintf(err, errcap, "%s%s", vers[i].key, e);
            return CN_EINVAL;
        }
    }
    struct tls_opts h = {.what = "tls.https"}, r = {.what = "tls.internal_rpc"};
    resolve(c, &c->tls_https, c->verify_incoming_https, &h);
    resolve(c, &c->tls_rpc, c->verify_incoming_rpc, &r);
    out->rpc_server_hostname = truthy(
        pick(c->tls_rpc.verify_server_hostname, c->tls_legacy.verify_server_hostname, NULL, NULL));
    if (out->rpc_server_hostname)
        r.verify_outgoing = true; /* Consul: verify_server_hostname implies verify_outgoing */
    if (c->http_port < 0 && c->https_port < 0) {
        snprintf(err, errcap,
                 "ports.http and ports.https are both -1: the agent would have no "
                 "HTTP API");
        return CN_EINVAL;
    }
    int rc;
    if (c->https_port >= 0) {
        if (!*h.cert_file || !*h.key_file) {
            snprintf(err, errcap,
                     "ports.https is %lld but no certificate is configured: set "
                     "tls.https.cert_file and key_file (or tls.defaults)",
                     (long long)c->https_port);
            return CN_EINVAL;
        }
        if ((rc = tls_ctx_new(&h, &out->https, err, errcap)))
            return rc;
    } else if ((rc = tls_ctx_new(&h, &out->https, err, errcap))) {
        return rc; /* checked all the same: a bad file is an error whether used or not */
    } else if (out->https) {
        SSL_CTX_free(out->https);
        out->https = NULL;
    }
    if ((rc = tls_ctx_new(&r, &out->rpc, err, errcap))) {
        agent_tls_free(out);
        return rc;
    }
    out->rpc_incoming = r.verify_incoming;
    out->rpc_outgoing = r.verify_outgoing;
    const char *dom = c->domain ? c->domain : "consul.";
    size_t dl = strlen(dom);
    if (dl && dom[dl - 1] == '.')
        dl--;
    snprintf(out->rpc_server_name, sizeof(out->rpc_server_name), "server.%s.%.*s", c->datacenter,
             (int)dl, dom);
    return 0;
}

void agent_tls_free(struct agent_tls *t)
{
    if (t->https)
        SSL_CTX_free(t->https);
    if (t->rpc)
        SSL_CTX_free(t->rpc);
    t->https = t->rpc = NULL;
}
