/* cli/cmd_tls.c: `cairn tls ca create` and `cairn tls cert create`, Consul's
 * built-in CA helpers (https://developer.hashicorp.com/consul/commands/tls):
 * the same flags, defaults and file names (consul-agent-ca.pem,
 * dc1-server-consul-0.pem, ...), so Consul's tutorials apply. The
 * certificates themselves are made by tls/cert.c. Files go to the current
 * directory and are never overwritten. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_int.h"
#include "tls/tls.h"

const struct cli_flag cli__tls_ca_flags[] = {
    {"days", CLI_INT, "value",
     "Provide number of days the CA is valid for. Defaults to 1825 days."},
    {"domain", CLI_STR, "value", "Domain of Cairn cluster. Defaults to consul."},
    {"name-constraint", CLI_BOOL, NULL,
     "Add name constraints for the CA. Results in rejecting certificates for other DNS than "
     "specified. If turned on localhost and -domain will be added to the allowed DNS. Defaults "
     "to false."},
    {"additional-name-constraint", CLI_LIST, "value",
     "Add name constraints for the CA. Results in rejecting certificates for other DNS than "
     "specified. Can be used multiple times. Only used in combination with -name-constraint."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__tls_cert_flags[] = {
    {"server", CLI_BOOL, NULL, "Generate server certificate."},
    {"client", CLI_BOOL, NULL, "Generate client certificate."},
    {"cli", CLI_BOOL, NULL, "Generate cli certificate."},
    {"dc", CLI_STR, "value",
     "Provide the datacenter. Matters only for -server certificates. "
     "Defaults to dc1."},
    {"domain", CLI_STR, "value", "Domain of Cairn cluster. Defaults to consul."},
    {"days", CLI_INT, "value",
     "Provide number of days the certificate is valid for. Defaults "
     "to 365 days."},
    {"node", CLI_STR, "value",
     "When generating a server cert and this is set an additional dns name is included of the "
     "form <node>.server.<datacenter>.<domain>."},
    {"additional-dnsname", CLI_LIST, "value",
     "Provide an additional dnsname for Subject Alternative Names. localhost is always included. "
     "This flag may be provided multiple times."},
    {"additional-ipaddress", CLI_LIST, "value",
     "Provide an additional ipaddress for Subject Alternative Names. 127.0.0.1 is always "
     "included. This flag may be provided multiple times."},
    {"ca", CLI_STR, "value", "Provide path to the ca. Defaults to #DOMAIN#-agent-ca.pem."},
    {"key", CLI_STR, "value", "Provide path to the key. Defaults to #DOMAIN#-agent-ca-key.pem."},
    {NULL, 0, NULL, NULL},
};

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int days_flag(struct cli_ctx *c, const struct cli_args *a, int def, int *out)
{
    *out = def;
    if (!cli__flag_isset(a, "days"))
        return 0;
    int64_t d = cli__flag_int(a, "days");
    if (d < 1 || d > 36500) {
        fprintf(c->err, "==> Invalid -days %lld: between 1 and 36500\n", (long long)d);
        return 1;
    }
    *out = (int)d;
    return 0;
}

int cli__run_tls_ca_create(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "==> Error: too many arguments\n");
        return 1;
    }
    struct tls_ca_req r = {0};
    if (days_flag(c, a, 1825, &r.days))
        return 1;
    r.domain = cli__flag_str(a, "domain", "consul");
    r.name_constraint = cli__flag_bool(a, "name-constraint");
    const struct cli_flag_val *extra = cli__flag(a, "additional-name-constraint");
    r.extra_constraints = extra ? extra->list : NULL;
    r.nextra = extra ? extra->nlist : 0;
    char cert[512], key[512];
    snprintf(cert, sizeof(cert), "%s-agent-ca.pem", r.domain);
    snprintf(key, sizeof(key), "%s-agent-ca-key.pem", r.domain);
    if (exists(cert)) {
        fprintf(c->err, "==> %s already exists.\n", cert);
        return 1;
    }
    if (exists(key)) {
        fprintf(c->err, "==> %s already exists.\n", key);
        return 1;
    }
    r.cert_path = cert;
    r.key_path = key;
    char err[512];
    if (tls_ca_create(&r, err, sizeof(err))) {
        fprintf(c->err, "==> Error: %s\n", err);
        return 1;
    }
    fprintf(c->out, "==> Saved %s\n==> Saved %s\n", cert, key);
    return 0;
}

int cli__run_tls_cert_create(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "==> Error: too many arguments\n");
        return 1;
    }
    int kinds =
        cli__flag_bool(a, "server") + cli__flag_bool(a, "client") + cli__flag_bool(a, "cli");
    if (kinds != 1) {
        fprintf(c->err, "==> Please provide either -server, -client, or -cli\n");
        return 1;
    }
    struct tls_cert_req r = {0};
    if (days_flag(c, a, 365, &r.days))
        return 1;
    r.kind = cli__flag_bool(a, "server")   ? TLS_CERT_SERVER
             : cli__flag_bool(a, "client") ? TLS_CERT_CLIENT
                                           : TLS_CERT_CLI;
    r.dc = cli__flag_str(a, "dc", "dc1");
    r.domain = cli__flag_str(a, "domain", "consul");
    r.node = cli__flag_str(a, "node", NULL);
    if (r.node && *r.node && r.kind != TLS_CERT_SERVER) {
        fprintf(c->err, "==> Adding a node name is only valid for server certificates\n");
        return 1;
    }
    const struct cli_flag_val *dns = cli__flag(a, "additional-dnsname");
    const struct cli_flag_val *ips = cli__flag(a, "additional-ipaddress");
    r.dnsnames = dns ? dns->list : NULL;
    r.ndns = dns ? dns->nlist : 0;
    r.ips = ips ? ips->list : NULL;
    r.nips = ips ? ips->nlist : 0;
    char ca[512], cakey[512], cert[600], key[600];
    snprintf(ca, sizeof(ca), "%s", cli__flag_str(a, "ca", ""));
    snprintf(cakey, sizeof(cakey), "%s", cli__flag_str(a, "key", ""));
    if (!*ca)
        snprintf(ca, sizeof(ca), "%s-agent-ca.pem", r.domain);
    if (!*cakey)
        snprintf(cakey, sizeof(cakey), "%s-agent-ca-key.pem", r.domain);
    if (!exists(ca)) {
        fprintf(c->err, "==> CA file %s does not exist (create one with cairn tls ca create)\n",
                ca);
        return 1;
    }
    if (!exists(cakey)) {
        fprintf(c->err, "==> CA key file %s does not exist\n", cakey);
        return 1;
    }
    static const char *const kn[] = {"server", "client", "cli"};
    for (int i = 0;; i++) {
        snprintf(cert, sizeof(cert), "%s-%s-%s-%d.pem", r.dc, kn[r.kind], r.domain, i);
        snprintf(key, sizeof(key), "%s-%s-%s-%d-key.pem", r.dc, kn[r.kind], r.domain, i);
        if (!exists(cert) && !exists(key))
            break;
    }
    r.ca_cert = ca;
    r.ca_key = cakey;
    r.cert_path = cert;
    r.key_path = key;
    if (r.kind == TLS_CERT_SERVER)
        fprintf(c->out, "==> WARNING: Server Certificates grants authority to become a\n"
                        "    server and access all state in the cluster including root keys\n"
                        "    and all ACL tokens. Do not distribute them to production hosts\n"
                        "    that are not server nodes. Store them as securely as CA keys.\n");
    fprintf(c->out, "==> Using %s and %s\n", ca, cakey);
    char err[512];
    if (tls_cert_create(&r, err, sizeof(err))) {
        fprintf(c->err, "==> Error: %s\n", err);
        return 1;
    }
    fprintf(c->out, "==> Saved %s\n==> Saved %s\n", cert, key);
    return 0;
}
