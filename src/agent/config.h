/* agent/config.h: the agent's configuration. One options table (config.c)
 * drives command-line flags (Consul's names), JSON config files (Consul's
 * keys), defaults, validation, `cairn agent -h` and docs/config.md.
 * Precedence: defaults < config files (in the order given) < flags. */
#ifndef CN_AGENT_CONFIG_H
#define CN_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct json_object;

/* Definitions read from config files (service/services, check/checks,
 * watches): each object as written (a tree from config/hcl.h, positions kept),
 * with the file it came from, in load order. */
struct agent_config_def {
    struct json_object *def; /* owned reference */
    char *file;
};
struct agent_config_defs {
    struct agent_config_def *v;
    size_t n;
};

struct agent_config {
    bool dev;
    bool server;
    bool bootstrap;
    int64_t bootstrap_expect;
    char *data_dir;
    char *node_name;
    char *node_id;
    char *datacenter;
    char *domain;
    char *client_addr;
    char *bind_addr;
    char *advertise_addr;
    int64_t http_port;
    int64_t dns_port;
    int64_t server_port;
    int64_t serf_lan_port;
    char *log_level;
    int64_t raft_snapshot_threshold;
    char *raft_snapshot_interval; /* Go duration */
    char *raft_election_timeout;  /* Go duration */
    bool enable_local_script_checks;

    /* TLS for checks (Consul's enable_agent_tls_for_checks, tls.defaults.ca_file) */
    bool enable_agent_tls_for_checks;
    char *tls_ca_file;

    char *retry_join[16]; /* "host:port" of other servers' RPC ports */
    size_t nretry_join;
    int64_t kv_max_value_size;
    int64_t txn_max_req_len;
    int64_t http_max_body;
    int64_t http_cache_max_bytes; /* api/cache.c */
    char *default_query_time;     /* Go duration */
    char *max_query_time;
    char *config_files[16];
    size_t nconfig_files;
    char *config_dirs[16];
    size_t nconfig_dirs;
    char *config_format; /* "", "hcl" or "json" */
    char *http_addr;     /* addresses.http ("": client_addr) */
    int64_t raft_multiplier;
    struct agent_config_defs services; /* service + services */
    struct agent_config_defs checks;   /* check + checks */
    struct agent_config_defs watches;

    /* ---- DNS interface (src/dns/, docs/dns.md) ---------------------------- */
    char *alt_domain;
    char *dns_addr;     /* addresses.dns: "" = client_addr */
    char *recursors[8]; /* -recursor / recursors: "ip" or "ip:port" */
    size_t nrecursors;
    char *dns_node_ttl; /* Go durations */
    struct {
        char *name; /* a service, "prefix*" or "*" */
        char *ttl;
    } dns_service_ttl[32]; /* dns_config.service_ttl */
    size_t ndns_service_ttl;
    bool dns_allow_stale;
    char *dns_max_stale;
    bool dns_only_passing;
    bool dns_enable_truncate;
    int64_t dns_udp_answer_limit;
    bool dns_node_meta_txt;
    char *dns_recursor_timeout;
    bool dns_order_by_weight; /* cairn's own */
    int64_t dns_soa_refresh, dns_soa_retry, dns_soa_expire, dns_soa_min_ttl;
};

/* Parse argv (after "agent"). Loads config files named by -config-dir (each
 * directory's *.hcl and *.json in lexical order) and -config-file (in order),
 * HCL or JSON (config/hcl.h), then applies flags over them. Scalars: the
 * later file wins; lists (retry_join, services, checks, watches) append.
 * On error returns CN_EINVAL with every error found, one per line, each
 * naming the flag, or the file:line:column and key
 * ("a.hcl:3:10: key \"ports.http\": expected an integer, got string \"80\"").
 * *help set when -h was given. cfg must be freed with agent_config_free in
 * every case. */
int agent_config_load(struct agent_config *cfg, int argc, char **argv, bool *help, char *err,
                      size_t errcap);
void agent_config_free(struct agent_config *cfg);
/* Usage text generated from the options table. */
void agent_config_usage(struct cn_buf *out);
/* Settings that cannot change while the agent runs and differ between a
 * and b: appends "key (old -> new)" lines to out; returns how many. */
int agent_config_diff_fixed(const struct agent_config *a, const struct agent_config *b,
                            struct cn_buf *out);
/* docs/config.md body generated from the table. */
void agent_config_markdown(struct cn_buf *out);

#endif
