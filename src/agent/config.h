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
    char *primary_datacenter; /* ACLs' authoritative datacenter ("": this one) */
    char *domain;
    char *client_addr;
    char *bind_addr;
    char *advertise_addr;
    int64_t http_port;
    int64_t dns_port;
    int64_t sidecar_min_port, sidecar_max_port; /* ports.sidecar_{min,max}_port */
    int64_t server_port;
    int64_t serf_lan_port;
    bool connect_enabled;            /* connect.enabled (-dev: on) */
    char *connect_test_min_leaf_ttl; /* connect.test_only_min_leaf_cert_ttl (Go duration) */
    char *log_level;
    bool log_json;
    char *log_file;
    int64_t log_rotate_bytes;
    char *log_rotate_duration; /* Go duration */
    int64_t log_rotate_max_files;
    int64_t raft_snapshot_threshold;
    int64_t raft_log_window;
    char *raft_snapshot_interval; /* Go duration */
    char *raft_election_timeout;  /* Go duration */
    char *ae_interval;            /* Go duration: client agents' full sync */
    /* network coordinates (api/coordinate.c) */
    bool disable_coordinates;
    char *sync_coordinate_interval_min;  /* Go duration: an agent sends its coordinate */
    int64_t sync_coordinate_rate_target; /* updates per second, cluster-wide */
    char *coordinate_update_period;      /* Go duration: a server's batch to the log */
    bool enable_local_script_checks;
    bool ui_enabled;       /* ui_config.enabled (or ui), -ui; -dev's default */
    char *ui_content_path; /* ui_config.content_path, normalized: "/ui/" */

    /* TLS for checks (Consul's enable_agent_tls_for_checks, tls.defaults.ca_file) */
    bool enable_agent_tls_for_checks;
    char *tls_ca_file; /* tls.defaults.ca_file */

    /* ---- TLS (agent/tls.c, docs/tls.md): each value as given, "" when unset;
     * booleans as "true"/"false"/"". tls.defaults (ca_file above), the
     * per-interface overrides, and Consul's deprecated top-level keys. */
    struct agent_tls_keys {
        char *ca_file, *ca_path, *cert_file, *key_file;
        char *verify_incoming, *verify_outgoing, *verify_server_hostname;
        char *tls_min_version, *tls_cipher_suites;
    } tls_defaults, tls_rpc, tls_https, tls_legacy;
    char *verify_incoming_rpc, *verify_incoming_https; /* deprecated top-level */
    int64_t https_port;
    char *https_addr; /* addresses.https ("": client_addr) */

    char *retry_join[16]; /* "host[:port]": gossip or server RPC addresses */
    size_t nretry_join;
    char *start_join[16]; /* -join / start_join: gossip addresses, once */
    size_t nstart_join;
    char *retry_join_wan[16]; /* WAN gossip addresses of other datacenters' servers */
    size_t nretry_join_wan;
    char *start_join_wan[16]; /* -join-wan / start_join_wan: once */
    size_t nstart_join_wan;
    char *serf_wan_bind; /* "": bind_addr */
    int64_t serf_wan_port;
    int64_t wan_gossip_nodes, wan_retransmit_mult, wan_suspicion_mult;
    char *wan_gossip_interval, *wan_probe_interval, *wan_probe_timeout; /* Go durations */
    char *serf_lan_bind;                                                /* "": bind_addr */
    char *encrypt;                                         /* base64 gossip key, "" none */
    bool encrypt_verify_incoming, encrypt_verify_outgoing; /* default true */
    bool disable_keyring_file;                             /* no DATA_DIR/serf/local.keyring */
    int64_t gossip_nodes, retransmit_mult, suspicion_mult;
    char *gossip_interval, *probe_interval, *probe_timeout; /* Go durations */
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
    /* acl { } (docs/acl.md) */
    bool acl_enabled, acl_token_persistence, acl_token_replication;
    char *acl_replication_token; /* acl.tokens.replication */
    char *acl_default_policy, *acl_down_policy;
    char *acl_token_min_ttl, *acl_token_max_ttl, *acl_token_ttl; /* Go durations */
    char *acl_initial_management, *acl_agent_token, *acl_default_token, *acl_agent_recovery;
    int64_t dns_soa_refresh, dns_soa_retry, dns_soa_expire, dns_soa_min_ttl;

    /* ---- telemetry (src/metrics/, docs/metrics.md) ------------------------ */
    char *telemetry_prometheus_retention; /* Go duration; "0s": no Prometheus output */
    bool telemetry_disable_hostname;
    char *telemetry_metrics_prefix;
    bool telemetry_filter_default;
    char *telemetry_prefix_filter[16]; /* "+prefix" / "-prefix" */
    size_t ntelemetry_prefix_filter;
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
