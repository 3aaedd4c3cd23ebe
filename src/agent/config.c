/* agent/config.c: the options table and its loaders (see config.h). */
#include "agent/config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/mem.h"

enum opt_type {
    OPT_BOOL,
    OPT_INT,
    OPT_STR,
    OPT_DUR,
    OPT_LIST,
    OPT_STRS,
    OPT_RECURSOR, /* DNS block below: a repeatable address */
    OPT_TTLMAP,   /* DNS block below: {"name": "duration"} */
};

struct opt {
    const char *flag; /* command-line name without '-' (NULL: file only) */
    const char *key;  /* JSON config key, dotted for nested objects (NULL: flag only) */
    enum opt_type type;
    size_t off;
    const char *def; /* default, as text */
    int64_t min, max;
    const char *help;
};

#define OFF(f) offsetof(struct agent_config, f)

static const struct opt opts[] = {
    {"dev", NULL, OPT_BOOL, OFF(dev), "false", 0, 0,
     "Development mode: a single in-memory-style server with a temporary data dir removed at "
     "exit."},
    {"server", "server", OPT_BOOL, OFF(server), "false", 0, 0, "Run as a server."},
    {"bootstrap", "bootstrap", OPT_BOOL, OFF(bootstrap), "false", 0, 0,
     "Bootstrap a single-server cluster (this server elects itself)."},
    {"bootstrap-expect", "bootstrap_expect", OPT_INT, OFF(bootstrap_expect), "0", 0, 7,
     "Number of servers expected in the cluster: they bootstrap it together once that many "
     "servers with empty data dirs know each other (through -retry-join)."},
    {"retry-join", "retry_join", OPT_STRS, OFF(retry_join), "", 0, 0,
     "Server RPC address (host:port) of another server to join, retried until it answers "
     "(repeatable; a JSON array in config files)."},
    {"data-dir", "data_dir", OPT_STR, OFF(data_dir), "", 0, 0, "Path to the data directory."},
    {"node", "node_name", OPT_STR, OFF(node_name), "", 0, 0,
     "Name of this node (default: the hostname)."},
    {"node-id", "node_id", OPT_STR, OFF(node_id), "", 0, 0,
     "UUID of this node (default: generated once and kept in the data dir)."},
    {"datacenter", "datacenter", OPT_STR, OFF(datacenter), "dc1", 0, 0, "Datacenter name."},
    {"domain", "domain", OPT_STR, OFF(domain), "consul.", 0, 0, "DNS domain."},
    {"client", "client_addr", OPT_STR, OFF(client_addr), "127.0.0.1", 0, 0,
     "Address the HTTP (and DNS) interfaces bind to."},
    {"bind", "bind_addr", OPT_STR, OFF(bind_addr), "127.0.0.1", 0, 0,
     "Address for server-to-server traffic."},
    {"advertise", "advertise_addr", OPT_STR, OFF(advertise_addr), "", 0, 0,
     "Address advertised to others (default: the bind address)."},
    {"http-port", "ports.http", OPT_INT, OFF(http_port), "8500", 0, 65535, "HTTP API port."},
    {"dns-port", "ports.dns", OPT_INT, OFF(dns_port), "8600", -1, 65535, "DNS port (-1 disables)."},
    {"server-port", "ports.server", OPT_INT, OFF(server_port), "8300", 0, 65535,
     "Server RPC (Raft) port."},
    {"serf-lan-port", "ports.serf_lan", OPT_INT, OFF(serf_lan_port), "8301", 0, 65535,
     "LAN gossip port (reported in members)."},
    {"log-level", "log_level", OPT_STR, OFF(log_level), "info", 0, 0,
     "trace, debug, info, warn or error."},
    {"raft-snapshot-threshold", "raft_snapshot_threshold", OPT_INT, OFF(raft_snapshot_threshold),
     "16384", 1, INT64_C(1) << 40, "Applied log entries between snapshots."},
    {"raft-snapshot-interval", "raft_snapshot_interval", OPT_DUR, OFF(raft_snapshot_interval),
     "30s", 0, 0,
     "Minimum time between snapshots: one is taken once both this has passed and "
     "raft_snapshot_threshold entries were applied since the last."},
    {"enable-local-script-checks", "enable_local_script_checks", OPT_BOOL,
     OFF(enable_local_script_checks), "false", 0, 0,
     "Run script checks (Args) registered through the local HTTP API; off, they are refused "
     "with a 400."},
    {"raft-election-timeout", "raft_election_timeout", OPT_DUR, OFF(raft_election_timeout), "500ms",
     0, 0,
     "Raft election timeout (randomized in [t, 2t)); the heartbeat interval is a tenth of it "
     "and the Raft tick 50 ms (or less for short timeouts)."},
    {NULL, "limits.kv_max_value_size", OPT_INT, OFF(kv_max_value_size), "524288", 1,
     INT64_C(64) << 20, "Largest KV value in bytes (413 above)."},
    {NULL, "limits.txn_max_req_len", OPT_INT, OFF(txn_max_req_len), "524288", 1, INT64_C(64) << 20,
     "Largest /v1/txn body in bytes (413 above)."},
    {NULL, "limits.http_max_body", OPT_INT, OFF(http_max_body), "8388608", 1024, INT64_C(256) << 20,
     "Largest HTTP request body in bytes (413 above)."},
    {NULL, "default_query_time", OPT_DUR, OFF(default_query_time), "5m", 0, 0,
     "Blocking-query wait when ?wait is not given."},
    {NULL, "max_query_time", OPT_DUR, OFF(max_query_time), "10m", 0, 0,
     "Longest blocking-query wait."},
    {"config-dir", NULL, OPT_STR, OFF(config_dir), "", 0, 0,
     "Directory of *.json config files, loaded in lexical order."},
    {"config-file", NULL, OPT_LIST, OFF(config_files), "", 0, 0,
     "A JSON config file (repeatable)."},

    /* ---- DNS interface (src/dns/, docs/dns.md) --------------------------------- */
    {"alt-domain", "alt_domain", OPT_STR, OFF(alt_domain), "", 0, 0,
     "A second DNS domain answered like -domain (answers name the domain asked)."},
    {NULL, "addresses.dns", OPT_STR, OFF(dns_addr), "", 0, 0,
     "Address the DNS interface binds to (default: the client address)."},
    {"recursor", "recursors", OPT_RECURSOR, OFF(recursors), "", 0, 0,
     "Upstream DNS server (ip or ip:port) for names outside the domain (repeatable; a JSON "
     "array in config files). Without one, such names are REFUSED."},
    {NULL, "dns_config.node_ttl", OPT_DUR, OFF(dns_node_ttl), "0s", 0, 0, "TTL of node lookups."},
    {NULL, "dns_config.service_ttl", OPT_TTLMAP, OFF(dns_service_ttl), "", 0, 0,
     "TTL of service lookups by service name: {\"web\": \"10s\", \"db*\": \"5s\", \"*\": "
     "\"1s\"} (exact name, then longest prefix*, then *; default 0)."},
    {NULL, "dns_config.allow_stale", OPT_BOOL, OFF(dns_allow_stale), "true", 0, 0,
     "Answer from this agent's state (cairn always does; false is refused)."},
    {NULL, "dns_config.max_stale", OPT_DUR, OFF(dns_max_stale), "87600h", 0, 0,
     "A follower that has not heard from a leader for longer answers SERVFAIL."},
    {NULL, "dns_config.only_passing", OPT_BOOL, OFF(dns_only_passing), "false", 0, 0,
     "Leave out instances with a warning check too (critical ones always are)."},
    {NULL, "dns_config.enable_truncate", OPT_BOOL, OFF(dns_enable_truncate), "false", 0, 0,
     "Set TC when udp_answer_limit trims an answer (answers cut to fit the UDP size always "
     "have TC set)."},
    {NULL, "dns_config.udp_answer_limit", OPT_INT, OFF(dns_udp_answer_limit), "0", 0, 65535,
     "Most address or SRV records in a UDP answer to a query without EDNS (0: as many as fit; "
     "Consul's default is 3)."},
    {NULL, "dns_config.enable_additional_node_meta_txt", OPT_BOOL, OFF(dns_node_meta_txt), "true",
     0, 0, "Node meta as TXT records in the additional section of node and SRV answers."},
    {NULL, "dns_config.recursor_timeout", OPT_DUR, OFF(dns_recursor_timeout), "2s", 0, 0,
     "How long to wait for a recursor before trying the next."},
    {"dns-order-by-weight", "dns_config.order_by_weight", OPT_BOOL, OFF(dns_order_by_weight),
     "false", 0, 0,
     "cairn only: order service answers by descending weight instead of shuffling them."},
    {NULL, "dns_config.soa.refresh", OPT_INT, OFF(dns_soa_refresh), "3600", 0, 0xFFFFFFFFll,
     "SOA refresh (seconds)."},
    {NULL, "dns_config.soa.retry", OPT_INT, OFF(dns_soa_retry), "600", 0, 0xFFFFFFFFll,
     "SOA retry (seconds)."},
    {NULL, "dns_config.soa.expire", OPT_INT, OFF(dns_soa_expire), "86400", 0, 0xFFFFFFFFll,
     "SOA expire (seconds)."},
    {NULL, "dns_config.soa.min_ttl", OPT_INT, OFF(dns_soa_min_ttl), "0", 0, 0xFFFFFFFFll,
     "SOA minimum TTL (seconds): also the SOA's own TTL and so the negative-caching TTL."},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* ---- DNS interface options (src/dns/, docs/dns.md) --------------------------------
 * The two option types only the DNS block has: recursors (a repeatable
 * address) and dns_config.service_ttl (an object of durations). */

static int dns_set_value(struct agent_config *cfg, const struct opt *o, const char *text, char *err,
                         size_t errcap, const char *where)
{
    if (!*text)
        return 0; /* the empty default */
    if (o->type == OPT_RECURSOR) {
        if (cfg->nrecursors >= sizeof(cfg->recursors) / sizeof(cfg->recursors[0])) {
            snprintf(err, errcap, "%s: too many recursors (at most 8)", where);
            return CN_EINVAL;
        }
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        cfg->recursors[cfg->nrecursors++] = d;
        return 0;
    }
    snprintf(err, errcap, "%s: expected an object of durations", where);
    return CN_EINVAL;
}

static int dns_load_json(struct agent_config *cfg, const struct opt *o, struct json_object *val,
                         char *err, size_t errcap, const char *where)
{
    if (o->type == OPT_RECURSOR) {
        if (json_object_is_type(val, json_type_string))
            return dns_set_value(cfg, o, json_object_get_string(val), err, errcap, where);
        if (!json_object_is_type(val, json_type_array)) {
            snprintf(err, errcap, "%s: expected an array of strings", where);
            return CN_EINVAL;
        }
        for (size_t k = 0; k < json_object_array_length(val); k++) {
            struct json_object *e = json_object_array_get_idx(val, k);
            if (!json_object_is_type(e, json_type_string) || !*json_object_get_string(e)) {
                snprintf(err, errcap, "%s: expected an array of addresses", where);
                return CN_EINVAL;
            }
            int rc = dns_set_value(cfg, o, json_object_get_string(e), err, errcap, where);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!json_object_is_type(val, json_type_object)) {
        snprintf(err, errcap, "%s: expected an object of durations", where);
        return CN_EINVAL;
    }
    json_object_object_foreach(val, name, d)
    {
        int64_t ns;
        if (!json_object_is_type(d, json_type_string) ||
            cn_dur_parse(json_object_get_string(d), &ns) || ns < 0) {
            snprintf(err, errcap, "%s: \"%s\": expected a duration", where, name);
            return CN_EINVAL;
        }
        if (cfg->ndns_service_ttl >=
            sizeof(cfg->dns_service_ttl) / sizeof(cfg->dns_service_ttl[0])) {
            snprintf(err, errcap, "%s: too many entries (at most 32)", where);
            return CN_EINVAL;
        }
        char *n = cn_strdup(name), *t = cn_strdup(json_object_get_string(d));
        if (!n || !t) {
            cn_free(n);
            cn_free(t);
            return CN_ENOMEM;
        }
        cfg->dns_service_ttl[cfg->ndns_service_ttl].name = n;
        cfg->dns_service_ttl[cfg->ndns_service_ttl++].ttl = t;
    }
    return 0;
}

static void dns_config_free(struct agent_config *cfg)
{
    for (size_t i = 0; i < cfg->nrecursors; i++)
        cn_free(cfg->recursors[i]);
    cfg->nrecursors = 0;
    for (size_t i = 0; i < cfg->ndns_service_ttl; i++) {
        cn_free(cfg->dns_service_ttl[i].name);
        cn_free(cfg->dns_service_ttl[i].ttl);
    }
    cfg->ndns_service_ttl = 0;
}

static void dns_config_json(const struct agent_config *cfg, const struct opt *o, struct cn_jsonw *w)
{
    if (o->type == OPT_RECURSOR) {
        cn_jsonw_arr_open(w);
        for (size_t k = 0; k < cfg->nrecursors; k++)
            cn_jsonw_str(w, cfg->recursors[k]);
        cn_jsonw_arr_close(w);
        return;
    }
    cn_jsonw_obj_open(w);
    for (size_t k = 0; k < cfg->ndns_service_ttl; k++) {
        cn_jsonw_key(w, cfg->dns_service_ttl[k].name);
        cn_jsonw_str(w, cfg->dns_service_ttl[k].ttl);
    }
    cn_jsonw_obj_close(w);
}
/* ---- end of the DNS interface options ---- */

static int set_value(struct agent_config *cfg, const struct opt *o, const char *text, char *err,
                     size_t errcap, const char *where)
{
    char *base = (char *)cfg;
    switch (o->type) {
    case OPT_BOOL: {
        bool *b = (bool *)(base + o->off);
        if (!strcmp(text, "true") || !strcmp(text, "1") || !*text)
            *b = true;
        else if (!strcmp(text, "false") || !strcmp(text, "0"))
            *b = false;
        else {
            snprintf(err, errcap, "%s: expected true or false, got \"%s\"", where, text);
            return CN_EINVAL;
        }
        return 0;
    }
    case OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end) {
            snprintf(err, errcap, "%s: expected an integer, got \"%s\"", where, text);
            return CN_EINVAL;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errcap, "%s: %lld is out of range [%lld, %lld]", where, v,
                     (long long)o->min, (long long)o->max);
            return CN_EINVAL;
        }
        *(int64_t *)(base + o->off) = v;
        return 0;
    }
    case OPT_DUR: {
        int64_t ns;
        if (cn_dur_parse(text, &ns) || ns < 0) {
            snprintf(err, errcap, "%s: invalid duration \"%s\"", where, text);
            return CN_EINVAL;
        }
    }
        __attribute__((fallthrough)); /* stored as text */
    case OPT_STR: {
        char **s = (char **)(base + o->off);
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        cn_free(*s);
        *s = d;
        return 0;
    }
    case OPT_STRS: {
        if (cfg->nretry_join >= sizeof(cfg->retry_join) / sizeof(cfg->retry_join[0])) {
            snprintf(err, errcap, "%s: too many addresses", where);
            return CN_EINVAL;
        }
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        cfg->retry_join[cfg->nretry_join++] = d;
        return 0;
    }
    case OPT_LIST: {
        if (cfg->nconfig_files >= sizeof(cfg->config_files) / sizeof(cfg->config_files[0])) {
            snprintf(err, errcap, "%s: too many config files", where);
            return CN_EINVAL;
        }
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        cfg->config_files[cfg->nconfig_files++] = d;
        return 0;
    }
    case OPT_RECURSOR:
    case OPT_TTLMAP:
        return dns_set_value(cfg, o, text, err, errcap, where);
    }
    return CN_EINVAL;
}

static void set_defaults(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char err[64];
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type != OPT_LIST && opts[i].type != OPT_STRS)
            set_value(cfg, &opts[i], opts[i].def, err, sizeof(err), "default");
}

static const struct opt *find_key(const char *key)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].key && strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

static int has_nested(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].key && strncmp(opts[i].key, prefix, n) == 0 && opts[i].key[n] == '.')
            return 1;
    return 0;
}

static int load_object(struct agent_config *cfg, struct json_object *obj, const char *prefix,
                       const char *file, char *err, size_t errcap)
{
    json_object_object_foreach(obj, key, val)
    {
        char path[256];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        char where[512];
        snprintf(where, sizeof(where), "config file %s: key \"%s\"", file, path);
        if (json_object_is_type(val, json_type_object) && has_nested(path)) {
            int rc = load_object(cfg, val, path, file, err, errcap);
            if (rc)
                return rc;
            continue;
        }
        const struct opt *o = find_key(path);
        if (!o) {
            snprintf(err, errcap, "%s: unknown configuration key", where);
            return CN_EINVAL;
        }
        if (o->type == OPT_RECURSOR || o->type == OPT_TTLMAP) {
            int rc = dns_load_json(cfg, o, val, err, errcap, where);
            if (rc)
                return rc;
            continue;
        }
        const char *text;
        char num[32];
        if (o->type == OPT_STRS && json_object_is_type(val, json_type_array)) {
            size_t n = json_object_array_length(val);
            for (size_t k = 0; k < n; k++) {
                struct json_object *e = json_object_array_get_idx(val, k);
                if (!json_object_is_type(e, json_type_string)) {
                    snprintf(err, errcap, "%s: expected an array of strings", where);
                    return CN_EINVAL;
                }
                int rc = set_value(cfg, o, json_object_get_string(e), err, errcap, where);
                if (rc)
                    return rc;
            }
            continue;
        }
        switch (o->type) {
        case OPT_BOOL:
            if (!json_object_is_type(val, json_type_boolean)) {
                snprintf(err, errcap, "%s: expected a boolean", where);
                return CN_EINVAL;
            }
            text = json_object_get_boolean(val) ? "true" : "false";
            break;
        case OPT_INT:
            if (!json_object_is_type(val, json_type_int)) {
                snprintf(err, errcap, "%s: expected an integer", where);
                return CN_EINVAL;
            }
            snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(val));
            text = num;
            break;
        default:
            if (!json_object_is_type(val, json_type_string)) {
                snprintf(err, errcap, "%s: expected a string", where);
                return CN_EINVAL;
            }
            text = json_object_get_string(val);
            break;
        }
        int rc = set_value(cfg, o, text, err, errcap, where);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_file(struct agent_config *cfg, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "config file %s: %s", path, strerror(errno));
        return CN_EINVAL;
    }
    struct cn_buf b = CN_BUF_INIT;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (cn_buf_append(&b, chunk, n) || b.len > (1u << 24)) {
            rc = CN_ETOOBIG;
            break;
        }
    }
    fclose(f);
    if (rc) {
        snprintf(err, errcap, "config file %s: too large", path);
        cn_buf_free(&b);
        return CN_EINVAL;
    }
    char jerr[256];
    struct json_object *obj = cn_json_parse(b.p ? b.p : "", b.len, jerr, sizeof(jerr));
    cn_buf_free(&b);
    if (!obj) {
        snprintf(err, errcap, "config file %s: %s", path, jerr);
        return CN_EINVAL;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(err, errcap, "config file %s: top level must be a JSON object", path);
        json_object_put(obj);
        return CN_EINVAL;
    }
    rc = load_object(cfg, obj, "", path, err, errcap);
    json_object_put(obj);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct agent_config *cfg, const char *dir, char *err, size_t errcap)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errcap, "config dir %s: %s", dir, strerror(errno));
        return CN_EINVAL;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0)
            names[n++] = cn_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i] ? names[i] : "");
        if (!rc && names[i])
            rc = load_file(cfg, path, err, errcap);
        cn_free(names[i]);
    }
    return rc;
}

static const struct opt *find_flag(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].flag && strcmp(opts[i].flag, name) == 0)
            return &opts[i];
    return NULL;
}

int agent_config_load(struct agent_config *cfg, int argc, char **argv, bool *help, char *err,
                      size_t errcap)
{
    set_defaults(cfg);
    *help = false;
    /* Two passes: config files first, then flags on top (Consul's precedence). */
    const struct opt *given[64];
    char *values[64];
    size_t ngiven = 0;
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "-help") || !strcmp(a, "--help")) {
            *help = true;
            return 0;
        }
        if (a[0] != '-') {
            snprintf(err, errcap, "unexpected argument \"%s\"", a);
            rc = CN_EINVAL;
            goto out;
        }
        a += a[1] == '-' ? 2 : 1;
        char name[128];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name)) {
            snprintf(err, errcap, "flag provided but not defined: -%.40s...", a);
            rc = CN_EINVAL;
            goto out;
        }
        memcpy(name, a, nl);
        name[nl] = '\0';
        const struct opt *o = find_flag(name);
        if (!o) {
            snprintf(err, errcap, "flag provided but not defined: -%s", name);
            rc = CN_EINVAL;
            goto out;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->type == OPT_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            snprintf(err, errcap, "flag needs an argument: -%s", name);
            rc = CN_EINVAL;
            goto out;
        }
        if (ngiven >= 64) {
            snprintf(err, errcap, "too many flags");
            rc = CN_EINVAL;
            goto out;
        }
        given[ngiven] = o;
        values[ngiven++] = (char *)val;
    }
    /* config files and dir named by flags */
    for (size_t i = 0; i < ngiven; i++) {
        char where[160];
        snprintf(where, sizeof(where), "flag -%s", given[i]->flag);
        if (given[i]->type == OPT_LIST || given[i]->off == OFF(config_dir)) {
            rc = set_value(cfg, given[i], values[i], err, errcap, where);
            if (rc)
                goto out;
        }
    }
    if (cfg->config_dir && *cfg->config_dir) {
        rc = load_dir(cfg, cfg->config_dir, err, errcap);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < cfg->nconfig_files; i++) {
        rc = load_file(cfg, cfg->config_files[i], err, errcap);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < ngiven; i++) {
        if (given[i]->type == OPT_LIST || given[i]->off == OFF(config_dir))
            continue;
        char where[160];
        snprintf(where, sizeof(where), "flag -%s", given[i]->flag);
        rc = set_value(cfg, given[i], values[i], err, errcap, where);
        if (rc)
            goto out;
    }
    if (cn_log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errcap, "invalid log level \"%s\" (trace, debug, info, warn, error)",
                 cfg->log_level);
        rc = CN_EINVAL;
    }
out:
    return rc;
}

void agent_config_free(struct agent_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_STR || opts[i].type == OPT_DUR) {
            char **s = (char **)((char *)cfg + opts[i].off);
            cn_free(*s);
            *s = NULL;
        }
    }
    for (size_t i = 0; i < cfg->nconfig_files; i++)
        cn_free(cfg->config_files[i]);
    cfg->nconfig_files = 0;
    for (size_t i = 0; i < cfg->nretry_join; i++)
        cn_free(cfg->retry_join[i]);
    cfg->nretry_join = 0;
    dns_config_free(cfg);
}

void agent_config_usage(struct cn_buf *out)
{
    cn_buf_puts(out, "Usage: cairn agent [options]\n\n"
                     "  Starts the cairn agent and runs until an interrupt is received.\n\n"
                     "Options:\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        if (!opts[i].flag)
            continue;
        cn_buf_printf(out, "  -%s%s\n      %s", opts[i].flag,
                      opts[i].type == OPT_BOOL ? "" : "=<value>", opts[i].help);
        if (opts[i].def[0] && opts[i].type != OPT_BOOL)
            cn_buf_printf(out, " Default: %s.", opts[i].def);
        cn_buf_puts(out, "\n\n");
    }
}

void agent_config_markdown(struct cn_buf *out)
{
    cn_buf_puts(out, "| flag | config key | default | meaning |\n| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        cn_buf_puts(out, "| ");
        if (o->flag)
            cn_buf_printf(out, "`-%s`", o->flag);
        cn_buf_puts(out, " | ");
        if (o->key)
            cn_buf_printf(out, "`%s`", o->key);
        cn_buf_printf(out, " | %s | %s |\n", o->def[0] ? o->def : "", o->help);
    }
}

int agent_config_json(const struct agent_config *cfg, struct cn_buf *out)
{
    struct cn_jsonw w;
    cn_jsonw_init(&w, out, 0);
    cn_jsonw_obj_open(&w);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (!o->key)
            continue;
        const char *base = (const char *)cfg;
        cn_jsonw_key(&w, o->key);
        if (o->type == OPT_BOOL)
            cn_jsonw_bool(&w, *(const bool *)(base + o->off));
        else if (o->type == OPT_INT)
            cn_jsonw_i64(&w, *(const int64_t *)(base + o->off));
        else if (o->type == OPT_RECURSOR || o->type == OPT_TTLMAP)
            dns_config_json(cfg, o, &w);
        else if (o->type == OPT_STRS) {
            cn_jsonw_arr_open(&w);
            for (size_t k = 0; k < cfg->nretry_join; k++)
                cn_jsonw_str(&w, cfg->retry_join[k]);
            cn_jsonw_arr_close(&w);
        } else
            cn_jsonw_str(&w, *(char *const *)(base + o->off));
    }
    cn_jsonw_obj_close(&w);
    return w.err;
}
