/* agent/config.c: the options table and its loaders (see config.h). */
#include "agent/config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/dur.h"
#include "config/hcl.h"
#include "config/load.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/mem.h"
#include "ui/ui.h"

/* OPT_UNSUP: a Consul key for a feature cairn lacks. `def` is the one value
 * that asks for nothing (Consul's "disabled": "-1", "false"; "" for none) and
 * is accepted; any other value is refused as "not supported", `help` naming
 * the feature. OPT_DEFS: definitions kept as trees (struct agent_config_defs):
 * an object, or a list of objects, appended in load order. */
enum opt_type {
    OPT_BOOL,
    OPT_INT,
    OPT_STR,
    OPT_DUR,
    OPT_LIST,
    OPT_STRS,
    OPT_UNSUP,
    OPT_DEFS,
    OPT_RECURSOR, /* DNS block below: a repeatable address */
    OPT_TTLMAP,   /* DNS block below: {"name": "duration"} */
    OPT_BSTR,     /* a boolean kept as text: "true", "false", or "" when not given */
};

/* One line per option: adding a Consul key is adding a row. */
struct opt {
    const char *flag; /* command-line name without '-' (NULL: file only) */
    const char *key;  /* config key, dotted for nested objects (NULL: flag only) */
    enum opt_type type;
    size_t off;
    const char *def; /* default, as text */
    int64_t min, max;
    const char *help; /* OPT_LIST: max is the offset of its size_t count */
};

#define OFF(f) offsetof(struct agent_config, f)

static const struct opt opts[] = {
    {"dev", NULL, OPT_BOOL, OFF(dev), "false", 0, 0,
     "Development mode: a single in-memory-style server with a temporary data dir removed at "
     "exit."},
    {"server", "server", OPT_BOOL, OFF(server), "false", 0, 0,
     "Run as a server. Without it the agent is a client agent: no Raft state; it keeps its own "
     "services and checks in the catalog through a server and forwards other requests to one."},
    {"bootstrap", "bootstrap", OPT_BOOL, OFF(bootstrap), "false", 0, 0,
     "Bootstrap a single-server cluster (this server elects itself)."},
    {"bootstrap-expect", "bootstrap_expect", OPT_INT, OFF(bootstrap_expect), "0", 0, 7,
     "Number of servers expected in the cluster: they bootstrap it together once that many "
     "servers with empty data dirs know each other (through -retry-join)."},
    {"retry-join", "retry_join", OPT_STRS, OFF(retry_join), "", 0, (int64_t)OFF(nretry_join),
     "Address of another agent to join, retried until it answers (repeatable; a JSON array in "
     "config files): host[:port], tried both as a gossip address (serf_lan, 8301 when no port "
     "is given, as Consul) and, on servers, as a server RPC address (cairn's earlier form). "
     "A client agent finds the servers in the gossip pool, or uses RPC addresses given here."},
    {"join", "start_join", OPT_STRS, OFF(start_join), "", 0, (int64_t)OFF(nstart_join),
     "Gossip address (host[:port], default port 8301) to join once at start; the agent exits "
     "when none of them answers (repeatable)."},
    {"retry-join-wan", "retry_join_wan", OPT_STRS, OFF(retry_join_wan), "", 0,
     (int64_t)OFF(nretry_join_wan),
     "WAN gossip address (host[:port], default port 8302) of a server of another datacenter "
     "to join, retried every 30 s until one answers (repeatable; servers only)."},
    {"join-wan", "start_join_wan", OPT_STRS, OFF(start_join_wan), "", 0,
     (int64_t)OFF(nstart_join_wan),
     "WAN gossip address (host[:port], default port 8302) to join once at start; the agent "
     "exits when none of them answers (repeatable; servers only)."},
    {"serf-wan-bind", "serf_wan", OPT_STR, OFF(serf_wan_bind), "", 0, 0,
     "Address the WAN gossip (UDP and TCP) binds to (default: the bind address)."},
    {NULL, "gossip_wan.gossip_nodes", OPT_INT, OFF(wan_gossip_nodes), "4", 1, 64,
     "WAN pool: members gossiped to every gossip interval."},
    {NULL, "gossip_wan.gossip_interval", OPT_DUR, OFF(wan_gossip_interval), "500ms", 0, 0,
     "WAN pool: gossip interval."},
    {NULL, "gossip_wan.probe_interval", OPT_DUR, OFF(wan_probe_interval), "5s", 0, 0,
     "WAN pool: failure-detection probe interval."},
    {NULL, "gossip_wan.probe_timeout", OPT_DUR, OFF(wan_probe_timeout), "3s", 0, 0,
     "WAN pool: time to wait for a probe's ack before probing indirectly."},
    {NULL, "gossip_wan.retransmit_mult", OPT_INT, OFF(wan_retransmit_mult), "4", 1, 16,
     "WAN pool: an update is gossiped retransmit_mult * ceil(log10(members + 1)) times."},
    {NULL, "gossip_wan.suspicion_mult", OPT_INT, OFF(wan_suspicion_mult), "6", 1, 32,
     "WAN pool: suspicion timeout multiplier (memberlist's WAN profile: 6)."},
    {"serf-lan-bind", "serf_lan", OPT_STR, OFF(serf_lan_bind), "", 0, 0,
     "Address the LAN gossip (UDP and TCP) binds to (default: the bind address)."},
    {"encrypt", "encrypt", OPT_STR, OFF(encrypt), "", 0, 0,
     "Gossip encryption key: base64 of 16, 24 or 32 bytes (cairn keygen); AES-GCM. Every "
     "member needs the same key; packets without it are dropped. With a keyring file in the "
     "data dir (serf/local.keyring, written at first start and by cairn keyring), the file "
     "wins."},
    {NULL, "encrypt_verify_incoming", OPT_BOOL, OFF(encrypt_verify_incoming), "true", 0, 0,
     "With a gossip keyring: refuse unencrypted gossip (false while rolling encryption onto a "
     "pool that has none)."},
    {NULL, "encrypt_verify_outgoing", OPT_BOOL, OFF(encrypt_verify_outgoing), "true", 0, 0,
     "With a gossip keyring: encrypt outgoing gossip (false while rolling encryption onto a "
     "pool that has none)."},
    {"disable-keyring-file", "disable_keyring_file", OPT_BOOL, OFF(disable_keyring_file), "false",
     0, 0,
     "Keep the gossip keyring in memory only: neither read nor write "
     "DATA_DIR/serf/local.keyring."},
    {NULL, "gossip_lan.gossip_nodes", OPT_INT, OFF(gossip_nodes), "3", 1, 64,
     "Members gossiped to every gossip interval."},
    {NULL, "gossip_lan.gossip_interval", OPT_DUR, OFF(gossip_interval), "200ms", 0, 0,
     "Gossip interval."},
    {NULL, "gossip_lan.probe_interval", OPT_DUR, OFF(probe_interval), "1s", 0, 0,
     "Failure-detection probe interval."},
    {NULL, "gossip_lan.probe_timeout", OPT_DUR, OFF(probe_timeout), "500ms", 0, 0,
     "Time to wait for a probe's ack before probing indirectly."},
    {NULL, "gossip_lan.retransmit_mult", OPT_INT, OFF(retransmit_mult), "4", 1, 16,
     "An update is gossiped retransmit_mult * ceil(log10(members + 1)) times."},
    {NULL, "gossip_lan.suspicion_mult", OPT_INT, OFF(suspicion_mult), "4", 1, 32,
     "Suspicion timeout: suspicion_mult * max(1, log10(members)) * probe_interval (at least; "
     "up to 6 times that until others confirm)."},
    {"data-dir", "data_dir", OPT_STR, OFF(data_dir), "", 0, 0, "Path to the data directory."},
    {"node", "node_name", OPT_STR, OFF(node_name), "", 0, 0,
     "Name of this node (default: the hostname)."},
    {"node-id", "node_id", OPT_STR, OFF(node_id), "", 0, 0,
     "UUID of this node (default: generated once and kept in the data dir)."},
    {"datacenter", "datacenter", OPT_STR, OFF(datacenter), "dc1", 0, 0, "Datacenter name."},
    {"primary-datacenter", "primary_datacenter", OPT_STR, OFF(primary_datacenter), "", 0, 0,
     "The datacenter authoritative for ACLs (default: this one). The servers of every other "
     "datacenter replicate its policies and roles (and its global tokens with "
     "acl.enable_token_replication) and forward ACL writes to it (docs/acl.md, "
     "\"Replication\")."},
    {"domain", "domain", OPT_STR, OFF(domain), "consul.", 0, 0, "DNS domain."},
    {"client", "client_addr", OPT_STR, OFF(client_addr), "127.0.0.1", 0, 0,
     "Address the HTTP (and DNS) interfaces bind to."},
    {"bind", "bind_addr", OPT_STR, OFF(bind_addr), "127.0.0.1", 0, 0,
     "Address for server-to-server traffic."},
    {"advertise", "advertise_addr", OPT_STR, OFF(advertise_addr), "", 0, 0,
     "Address advertised to others (default: the bind address)."},
    {"http-port", "ports.http", OPT_INT, OFF(http_port), "8500", -1, 65535,
     "HTTP API port (-1 disables it; then serve HTTPS)."},
    {"https-port", "ports.https", OPT_INT, OFF(https_port), "-1", -1, 65535,
     "HTTPS API port (-1: off, Consul's default; Consul's usual port is 8501). Needs "
     "tls.https (or tls.defaults) cert_file and key_file."},
    {NULL, "addresses.https", OPT_STR, OFF(https_addr), "", 0, 0,
     "Address the HTTPS API binds to (default: client_addr)."},
    {"dns-port", "ports.dns", OPT_INT, OFF(dns_port), "8600", -1, 65535, "DNS port (-1 disables)."},
    {"server-port", "ports.server", OPT_INT, OFF(server_port), "8300", 0, 65535,
     "Server RPC (Raft) port."},
    {"serf-lan-port", "ports.serf_lan", OPT_INT, OFF(serf_lan_port), "8301", -1, 65535,
     "LAN gossip port, UDP and TCP (-1 disables gossip: members lists this agent only)."},
    {"serf-wan-port", "ports.serf_wan", OPT_INT, OFF(serf_wan_port), "8302", -1, 65535,
     "WAN gossip port of a server, UDP and TCP: the pool of every datacenter's servers "
     "(-1 disables it, as does -serf-lan-port=-1: no other datacenter is reachable)."},
    {"log-level", "log_level", OPT_STR, OFF(log_level), "info", 0, 0,
     "trace, debug, info, warn or error."},
    {"log-json", "log_json", OPT_BOOL, OFF(log_json), "false", 0, 0,
     "Log JSON lines (Consul's hclog keys: @level, @message, @module, @timestamp)."},
    {"log-file", "log_file", OPT_STR, OFF(log_file), "", 0, 0,
     "Also log to this file (a path ending in / means cairn.log in that directory); rotated "
     "files are named cairn-<unix ns of creation>.log."},
    {"log-rotate-bytes", "log_rotate_bytes", OPT_INT, OFF(log_rotate_bytes), "0", 0,
     INT64_C(1) << 40, "Rotate the log file once it holds this many bytes (0: no size limit)."},
    {"log-rotate-duration", "log_rotate_duration", OPT_DUR, OFF(log_rotate_duration), "24h", 0, 0,
     "Rotate the log file once it is this old (0s: never)."},
    {"log-rotate-max-files", "log_rotate_max_files", OPT_INT, OFF(log_rotate_max_files), "0", -1,
     1 << 20, "Rotated log files to keep (0: all, -1: none)."},
    {"raft-snapshot-threshold", "raft_snapshot_threshold", OPT_INT, OFF(raft_snapshot_threshold),
     "16384", 1, INT64_C(1) << 40, "Applied log entries between snapshots."},
    {"raft-log-window", "raft_log_window", OPT_INT, OFF(raft_log_window), "1024", 1,
     INT64_C(1) << 32,
     "cairn: applied log entries a server keeps in memory behind the newest (at most 4 MiB of "
     "payload); followers further behind are sent older entries read back from the log on disk, "
     "or the snapshot."},
    {"raft-snapshot-interval", "raft_snapshot_interval", OPT_DUR, OFF(raft_snapshot_interval),
     "30s", 0, 0,
     "Minimum time between snapshots: one is taken once both this has passed and "
     "raft_snapshot_threshold entries were applied since the last."},
    {"enable-local-script-checks", "enable_local_script_checks", OPT_BOOL,
     OFF(enable_local_script_checks), "false", 0, 0,
     "Run script checks (Args) registered through the local HTTP API; off, they are refused "
     "with a 400."},
    {NULL, "enable_agent_tls_for_checks", OPT_BOOL, OFF(enable_agent_tls_for_checks), "false", 0, 0,
     "HTTP, gRPC and H2PING checks verify TLS servers against tls.defaults.ca_file (Consul's "
     "agent TLS for checks) instead of the system's CAs."},
    {NULL, "tls.defaults.ca_file", OPT_STR, OFF(tls_ca_file), "", 0, 0,
     "PEM file of CA certificates: verifies client certificates (verify_incoming), servers "
     "dialed (verify_outgoing) and, with enable_agent_tls_for_checks, checks' TLS servers."},
    {NULL, "tls.defaults.ca_path", OPT_STR, OFF(tls_defaults.ca_path), "", 0, 0,
     "Directory of PEM CA certificates (every file in it is loaded)."},
    {NULL, "tls.defaults.cert_file", OPT_STR, OFF(tls_defaults.cert_file), "", 0, 0,
     "PEM certificate (chain) presented to peers."},
    {NULL, "tls.defaults.key_file", OPT_STR, OFF(tls_defaults.key_file), "", 0, 0,
     "PEM private key of cert_file."},
    {NULL, "tls.defaults.verify_incoming", OPT_BSTR, OFF(tls_defaults.verify_incoming), "", 0, 0,
     "Require and verify a client certificate from the CA on incoming connections."},
    {NULL, "tls.defaults.verify_outgoing", OPT_BSTR, OFF(tls_defaults.verify_outgoing), "", 0, 0,
     "Use TLS on outgoing connections and verify the server's certificate against the CA."},
    {NULL, "tls.defaults.tls_min_version", OPT_STR, OFF(tls_defaults.tls_min_version), "", 0, 0,
     "TLSv1_2 (default) or TLSv1_3; TLSv1_0 and TLSv1_1 are refused."},
    {NULL, "tls.defaults.tls_cipher_suites", OPT_STR, OFF(tls_defaults.tls_cipher_suites), "", 0, 0,
     "Comma-separated TLS 1.2 cipher suites, Go names (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "
     "...)."},
    {NULL, "tls.internal_rpc.ca_file", OPT_STR, OFF(tls_rpc.ca_file), "", 0, 0,
     "server RPC: overrides tls.defaults.ca_file. PEM file of CA certificates."},
    {NULL, "tls.internal_rpc.ca_path", OPT_STR, OFF(tls_rpc.ca_path), "", 0, 0,
     "server RPC: overrides tls.defaults.ca_path. Directory of PEM CA certificates (every file in "
     "it is loaded)."},
    {NULL, "tls.internal_rpc.cert_file", OPT_STR, OFF(tls_rpc.cert_file), "", 0, 0,
     "server RPC: overrides tls.defaults.cert_file. PEM certificate (chain) presented to peers."},
    {NULL, "tls.internal_rpc.key_file", OPT_STR, OFF(tls_rpc.key_file), "", 0, 0,
     "server RPC: overrides tls.defaults.key_file. PEM private key of cert_file."},
    {NULL, "tls.internal_rpc.verify_incoming", OPT_BSTR, OFF(tls_rpc.verify_incoming), "", 0, 0,
     "server RPC: overrides tls.defaults.verify_incoming. Require and verify a client certificate "
     "from the CA on incoming connections."},
    {NULL, "tls.internal_rpc.verify_outgoing", OPT_BSTR, OFF(tls_rpc.verify_outgoing), "", 0, 0,
     "server RPC: overrides tls.defaults.verify_outgoing. Use TLS on outgoing connections and "
     "verify the server's certificate against the CA."},
    {NULL, "tls.internal_rpc.verify_server_hostname", OPT_BSTR, OFF(tls_rpc.verify_server_hostname),
     "", 0, 0,
     "Server RPC: the peer's certificate must name server.<datacenter>.<domain> (implies "
     "verify_outgoing)."},
    {NULL, "tls.internal_rpc.tls_min_version", OPT_STR, OFF(tls_rpc.tls_min_version), "", 0, 0,
     "server RPC: overrides tls.defaults.tls_min_version. TLSv1_2 (default) or TLSv1_3; TLSv1_0 "
     "and TLSv1_1 are refused."},
    {NULL, "tls.internal_rpc.tls_cipher_suites", OPT_STR, OFF(tls_rpc.tls_cipher_suites), "", 0, 0,
     "server RPC: overrides tls.defaults.tls_cipher_suites. Comma-separated TLS 1.2 cipher suites, "
     "Go names (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ...)."},
    {NULL, "tls.https.ca_file", OPT_STR, OFF(tls_https.ca_file), "", 0, 0,
     "HTTPS: overrides tls.defaults.ca_file. PEM file of CA certificates."},
    {NULL, "tls.https.ca_path", OPT_STR, OFF(tls_https.ca_path), "", 0, 0,
     "HTTPS: overrides tls.defaults.ca_path. Directory of PEM CA certificates (every file in it is "
     "loaded)."},
    {NULL, "tls.https.cert_file", OPT_STR, OFF(tls_https.cert_file), "", 0, 0,
     "HTTPS: overrides tls.defaults.cert_file. PEM certificate (chain) presented to peers."},
    {NULL, "tls.https.key_file", OPT_STR, OFF(tls_https.key_file), "", 0, 0,
     "HTTPS: overrides tls.defaults.key_file. PEM private key of cert_file."},
    {NULL, "tls.https.verify_incoming", OPT_BSTR, OFF(tls_https.verify_incoming), "", 0, 0,
     "HTTPS: overrides tls.defaults.verify_incoming. Require and verify a client certificate from "
     "the CA on incoming connections."},
    {NULL, "tls.https.verify_outgoing", OPT_BSTR, OFF(tls_https.verify_outgoing), "", 0, 0,
     "HTTPS: overrides tls.defaults.verify_outgoing. Use TLS on outgoing connections and verify "
     "the server's certificate against the CA."},
    {NULL, "tls.https.tls_min_version", OPT_STR, OFF(tls_https.tls_min_version), "", 0, 0,
     "HTTPS: overrides tls.defaults.tls_min_version. TLSv1_2 (default) or TLSv1_3; TLSv1_0 and "
     "TLSv1_1 are refused."},
    {NULL, "tls.https.tls_cipher_suites", OPT_STR, OFF(tls_https.tls_cipher_suites), "", 0, 0,
     "HTTPS: overrides tls.defaults.tls_cipher_suites. Comma-separated TLS 1.2 cipher suites, Go "
     "names (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ...)."},
    {NULL, "ca_file", OPT_STR, OFF(tls_legacy.ca_file), "", 0, 0,
     "Deprecated (Consul): tls.defaults.ca_file when that is not set."},
    {NULL, "ca_path", OPT_STR, OFF(tls_legacy.ca_path), "", 0, 0,
     "Deprecated (Consul): tls.defaults.ca_path when that is not set."},
    {NULL, "cert_file", OPT_STR, OFF(tls_legacy.cert_file), "", 0, 0,
     "Deprecated (Consul): tls.defaults.cert_file when that is not set."},
    {NULL, "key_file", OPT_STR, OFF(tls_legacy.key_file), "", 0, 0,
     "Deprecated (Consul): tls.defaults.key_file when that is not set."},
    {NULL, "verify_incoming", OPT_BSTR, OFF(tls_legacy.verify_incoming), "", 0, 0,
     "Deprecated (Consul): tls.defaults.verify_incoming when that is not set."},
    {NULL, "verify_outgoing", OPT_BSTR, OFF(tls_legacy.verify_outgoing), "", 0, 0,
     "Deprecated (Consul): tls.defaults.verify_outgoing when that is not set."},
    {NULL, "verify_server_hostname", OPT_BSTR, OFF(tls_legacy.verify_server_hostname), "", 0, 0,
     "Deprecated (Consul): tls.internal_rpc.verify_server_hostname when that is not set."},
    {NULL, "tls_min_version", OPT_STR, OFF(tls_legacy.tls_min_version), "", 0, 0,
     "Deprecated (Consul): tls.defaults.tls_min_version when that is not set."},
    {NULL, "tls_cipher_suites", OPT_STR, OFF(tls_legacy.tls_cipher_suites), "", 0, 0,
     "Deprecated (Consul): tls.defaults.tls_cipher_suites when that is not set."},
    {NULL, "verify_incoming_rpc", OPT_BSTR, OFF(verify_incoming_rpc), "", 0, 0,
     "Deprecated (Consul): tls.internal_rpc.verify_incoming when that is not set."},
    {NULL, "verify_incoming_https", OPT_BSTR, OFF(verify_incoming_https), "", 0, 0,
     "Deprecated (Consul): tls.https.verify_incoming when that is not set."},
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
    {NULL, "http_cache_max_bytes", OPT_INT, OFF(http_cache_max_bytes), "16777216", 0,
     INT64_C(1) << 40,
     "Bytes of encoded catalog and health listings the HTTP API keeps, each until what it read "
     "changes (least recently used dropped first; 0: no cache). cairn's own key."},
    {NULL, "default_query_time", OPT_DUR, OFF(default_query_time), "5m", 0, 0,
     "Blocking-query wait when ?wait is not given."},
    {NULL, "max_query_time", OPT_DUR, OFF(max_query_time), "10m", 0, 0,
     "Longest blocking-query wait."},
    {NULL, "disable_coordinates", OPT_BOOL, OFF(disable_coordinates), "false", 0, 0,
     "Compute no network coordinates (gossip ACKs carry none; /v1/coordinate/* answers 401)."},
    {NULL, "sync_coordinate_interval_min", OPT_DUR, OFF(sync_coordinate_interval_min), "15s", 0, 0,
     "Shortest interval at which an agent sends its network coordinate to the servers (scaled "
     "up by sync_coordinate_rate_target above it, plus a random stagger)."},
    {NULL, "sync_coordinate_rate_target", OPT_INT, OFF(sync_coordinate_rate_target), "64", 1,
     1000000, "Coordinate updates per second the whole cluster aims at (Consul: a float)."},
    {NULL, "consul.coordinate.update_period", OPT_DUR, OFF(coordinate_update_period), "5s", 0, 0,
     "Servers: how often the coordinates received are written to the log as one batch "
     "(Consul's undocumented consul.coordinate.update_period)."},
    {NULL, "ae_interval", OPT_DUR, OFF(ae_interval), "1m", 0, 0,
     "Client agents: base interval of the full anti-entropy sync with the catalog (Consul's "
     "ae_interval): scaled up above 128 nodes, plus a random stagger."},
    {"config-dir", NULL, OPT_LIST, OFF(config_dirs), "", 0, (int64_t)OFF(nconfig_dirs),
     "Directory of config files: its *.hcl and *.json files are loaded in lexical order, other "
     "files ignored (repeatable; directories before -config-file files)."},
    {"config-file", NULL, OPT_LIST, OFF(config_files), "", 0, (int64_t)OFF(nconfig_files),
     "A config file, HCL (.hcl) or JSON (.json) (repeatable; later files override earlier "
     "ones)."},
    {"config-format", NULL, OPT_STR, OFF(config_format), "", 0, 0,
     "hcl or json: read every config file in that format whatever its extension (default: by "
     "extension)."},
    {NULL, "addresses.http", OPT_STR, OFF(http_addr), "", 0, 0,
     "Address the HTTP API binds to (default: client_addr)."},
    {NULL, "performance.raft_multiplier", OPT_INT, OFF(raft_multiplier), "0", 0, 10,
     "Consul's Raft timing scale: sets raft_election_timeout to this many seconds (0: unset)."},
    {NULL, "service", OPT_DEFS, OFF(services), "", 0, 0,
     "A service definition, as the body of /v1/agent/service/register (snake_case or "
     "CamelCase keys); registered at start and kept in step on reload."},
    {NULL, "services", OPT_DEFS, OFF(services), "", 0, 0, "A list of service definitions."},
    {NULL, "check", OPT_DEFS, OFF(checks), "", 0, 0,
     "A check definition, as the body of /v1/agent/check/register."},
    {NULL, "checks", OPT_DEFS, OFF(checks), "", 0, 0, "A list of check definitions."},
    {NULL, "watches", OPT_DEFS, OFF(watches), "", 0, 0,
     "Watches run by the agent (type key, keyprefix, services, nodes, service, checks; "
     "handler_type script with args or handler, or http with http_handler_config), restarted on "
     "reload."},
    /* Consul keys cairn accepts and has nothing to do for. */
    {NULL, "disable_update_check", OPT_UNSUP, 0, "*", 0, 0, "(accepted: cairn never phones home)"},
    /* ---- web UI (src/ui/) ---- */
    {"ui", "ui_config.enabled", OPT_BOOL, OFF(ui_enabled), "false", 0, 0,
     "Serve the web UI at ui_config.content_path, and redirect / there (on by default with "
     "-dev)."},
    {NULL, "ui", OPT_BOOL, OFF(ui_enabled), "false", 0, 0,
     "Consul's older name for ui_config.enabled."},
    {NULL, "ui_config.content_path", OPT_STR, OFF(ui_content_path), "/ui/", 0, 0,
     "URL path the web UI is served under (\"ui\" and \"/ui\" mean \"/ui/\")."},
    {NULL, "ui_config.dir", OPT_UNSUP, 0, "", 0, 0,
     "serving the UI from a directory (it is built into the binary)"},
    {NULL, "ui_config.metrics_provider", OPT_UNSUP, 0, "", 0, 0, "UI metrics providers"},
    {NULL, "ui_config.metrics_proxy", OPT_UNSUP, 0, "", 0, 0, "the UI metrics proxy"},
    {NULL, "ui_config.dashboard_url_templates", OPT_UNSUP, 0, "", 0, 0, "UI dashboard links"},
    {NULL, "ports.grpc", OPT_UNSUP, 0, "-1", 0, 0, "gRPC (xDS)"},
    {NULL, "ports.grpc_tls", OPT_UNSUP, 0, "-1", 0, 0, "gRPC over TLS"},
    {NULL, "ports.sidecar_min_port", OPT_INT, OFF(sidecar_min_port), "21000", 0, 65535,
     "Lowest port given to a Connect sidecar registered without one (0 disables)."},
    {NULL, "ports.sidecar_max_port", OPT_INT, OFF(sidecar_max_port), "21255", 0, 65535,
     "Highest port given to a Connect sidecar registered without one (0 disables)."},
    {NULL, "addresses.grpc", OPT_UNSUP, 0, "", 0, 0, "gRPC (xDS)"},
    {NULL, "limits.http_max_conns_per_client", OPT_UNSUP, 0, "", 0, 0,
     "a per-client HTTP connection limit"},
    {NULL, "limits.rpc_rate", OPT_UNSUP, 0, "", 0, 0, "RPC rate limiting"},
    {NULL, "limits.rpc_max_burst", OPT_UNSUP, 0, "", 0, 0, "RPC rate limiting"},
    {NULL, "acl.enabled", OPT_BOOL, OFF(acl_enabled), "false", 0, 0,
     "Enable ACLs: every request is checked against its token (docs/acl.md)."},
    {NULL, "acl.default_policy", OPT_STR, OFF(acl_default_policy), "allow", 0, 0,
     "What a name no rule covers gets: \"allow\" or \"deny\"."},
    {NULL, "acl.down_policy", OPT_STR, OFF(acl_down_policy), "extend-cache", 0, 0,
     "What a client agent does with a token it cannot resolve because no server answers: "
     "allow, deny, extend-cache (use a cached one past its TTL, else deny) or async-cache "
     "(extend-cache, and a cached one past its TTL is used while it is fetched again)."},
    {NULL, "acl.enable_token_persistence", OPT_BOOL, OFF(acl_token_persistence), "false", 0, 0,
     "Keep tokens set through /v1/agent/token in DATA_DIR/acl-tokens.json."},
    {NULL, "acl.tokens.initial_management", OPT_STR, OFF(acl_initial_management), "", 0, 0,
     "SecretID of a management token the leader creates (bootstraps ACLs with it)."},
    {NULL, "acl.tokens.agent", OPT_STR, OFF(acl_agent_token), "", 0, 0,
     "Token for the agent's own registrations and anti-entropy."},
    {NULL, "acl.tokens.default", OPT_STR, OFF(acl_default_token), "", 0, 0,
     "Token of requests that carry none (and of DNS)."},
    {NULL, "acl.tokens.agent_recovery", OPT_STR, OFF(acl_agent_recovery), "", 0, 0,
     "A local token with agent:write on this agent (when the servers are unreachable)."},
    {NULL, "acl.token_min_expiration_ttl", OPT_DUR, OFF(acl_token_min_ttl), "1m", 0, 0,
     "The shortest ExpirationTTL a token may be given."},
    {NULL, "acl.token_max_expiration_ttl", OPT_DUR, OFF(acl_token_max_ttl), "24h", 0, 0,
     "The longest ExpirationTTL a token may be given."},
    {NULL, "acl.tokens.master", OPT_UNSUP, 0, "", 0, 0,
     "the legacy name: use acl.tokens.initial_management"},
    {NULL, "acl.tokens.agent_master", OPT_UNSUP, 0, "", 0, 0,
     "the legacy name: use acl.tokens.agent_recovery"},
    {NULL, "acl.tokens.replication", OPT_STR, OFF(acl_replication_token), "", 0, 0,
     "Token a secondary datacenter's leader replicates ACLs from the primary datacenter with "
     "(acl:read for policies and roles, acl:write for tokens)."},
    {NULL, "acl.enable_token_replication", OPT_BOOL, OFF(acl_token_replication), "false", 0, 0,
     "In a secondary datacenter: replicate the primary's global tokens too, and create local "
     "tokens here (policies and roles are always replicated)."},
    {NULL, "acl.tokens.config_file_service_registration", OPT_UNSUP, 0, "", 0, 0,
     "a separate token for file-defined services"},
    {NULL, "acl.token_ttl", OPT_DUR, OFF(acl_token_ttl), "30s", 0, 0,
     "How long a client agent uses a token it resolved through a server before asking again."},
    {NULL, "acl.policy_ttl", OPT_UNSUP, 0, "", 0, 0, "ACL policy caching across datacenters"},
    {NULL, "acl.role_ttl", OPT_UNSUP, 0, "", 0, 0, "ACL role caching across datacenters"},
    {NULL, "acl.enable_key_list_policy", OPT_UNSUP, 0, "", 0, 0,
     "the key list policy switch (cairn's list level always applies)"},
    {NULL, "acl_master_token", OPT_UNSUP, 0, "", 0, 0,
     "the legacy name: use acl.tokens.initial_management"},
    {NULL, "acl_token", OPT_UNSUP, 0, "", 0, 0, "the legacy name: use acl.tokens.default"},
    {NULL, "acl_agent_token", OPT_UNSUP, 0, "", 0, 0, "the legacy name: use acl.tokens.agent"},
    {NULL, "acl_default_policy", OPT_UNSUP, 0, "", 0, 0, "the legacy name: use acl.default_policy"},
    {NULL, "tls.defaults.verify_server_hostname", OPT_UNSUP, 0, "", 0, 0,
     "not a Consul key: use tls.internal_rpc.verify_server_hostname"},
    {NULL, "tls.grpc", OPT_UNSUP, 0, "", 0, 0, "TLS"},
    {NULL, "auto_encrypt", OPT_UNSUP, 0, "", 0, 0, "auto-encrypt (TLS)"},
    {NULL, "connect.enabled", OPT_BOOL, OFF(connect_enabled), "false", 0, 0,
     "Service mesh: the servers run the built-in CA (-dev turns it on)."},
    {NULL, "connect.test_only_min_leaf_cert_ttl", OPT_DUR, OFF(connect_test_min_leaf_ttl), "1h", 0,
     0,
     "cairn-only, for tests: the shortest LeafCertTTL PUT /v1/connect/ca/configuration accepts "
     "(Consul's fixed minimum is 1h; at least 1s), so a test can watch leaves renewed."},
    {NULL, "connect.ca_provider", OPT_UNSUP, 0, "", 0, 0,
     "CA providers other than the built-in one (change its settings with PUT "
     "/v1/connect/ca/configuration)"},
    {NULL, "connect.ca_config", OPT_UNSUP, 0, "", 0, 0,
     "CA settings in the agent config (use PUT /v1/connect/ca/configuration)"},
    {NULL, "connect.enable_mesh_gateway_wan_federation", OPT_UNSUP, 0, "false", 0, 0,
     "mesh gateway WAN federation"},
    /* ---- telemetry (src/metrics/, docs/metrics.md) ---- */
    {NULL, "telemetry.prometheus_retention_time", OPT_DUR, OFF(telemetry_prometheus_retention),
     "0s", 0, 0,
     "How long a labelled metric not updated stays in /v1/agent/metrics?format=prometheus; 0 "
     "turns the Prometheus format off (415), as in Consul."},
    {NULL, "telemetry.disable_hostname", OPT_BOOL, OFF(telemetry_disable_hostname), "false", 0, 0,
     "Leave the hostname out of gauge names (go-metrics puts it after the prefix)."},
    {NULL, "telemetry.metrics_prefix", OPT_STR, OFF(telemetry_metrics_prefix), "consul", 0, 0,
     "Prefix of the metrics Consul also has (cairn's own are under \"cairn\")."},
    {NULL, "telemetry.filter_default", OPT_BOOL, OFF(telemetry_filter_default), "true", 0, 0,
     "Keep metrics no prefix_filter rule names (false: only those allowed by a rule)."},
    {NULL, "telemetry.prefix_filter", OPT_LIST, OFF(telemetry_prefix_filter), "", 0,
     (int64_t)OFF(ntelemetry_prefix_filter),
     "Rules \"+prefix\" (keep) or \"-prefix\" (drop) on full metric names; the longest "
     "matching prefix decides."},
    {NULL, "telemetry.statsd_address", OPT_UNSUP, 0, "", 0, 0,
     "a statsd sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.statsite_address", OPT_UNSUP, 0, "", 0, 0,
     "a statsite sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.dogstatsd_addr", OPT_UNSUP, 0, "", 0, 0,
     "a DogStatsD sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.dogstatsd_tags", OPT_UNSUP, 0, "", 0, 0,
     "a DogStatsD sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.circonus_api_token", OPT_UNSUP, 0, "", 0, 0,
     "a Circonus sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.circonus_submission_url", OPT_UNSUP, 0, "", 0, 0,
     "a Circonus sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.circonus_check_id", OPT_UNSUP, 0, "", 0, 0,
     "a Circonus sink (scrape /v1/agent/metrics)"},
    {NULL, "telemetry.enable_host_metrics", OPT_UNSUP, 0, "false", 0, 0, "host metrics"},
    {NULL, "enable_script_checks", OPT_UNSUP, 0, "false", 0, 0,
     "script checks registered remotely (use enable_local_script_checks)"},
    {NULL, "license_path", OPT_UNSUP, 0, "", 0, 0, "Consul Enterprise"},
    {NULL, "auto_config", OPT_UNSUP, 0, "", 0, 0, "auto-config"},
    {NULL, "config_entries", OPT_UNSUP, 0, "", 0, 0, "config entries"},
    {NULL, "disable_remote_exec", OPT_UNSUP, 0, "true", 0, 0, "remote exec"},
    {NULL, "enable_syslog", OPT_UNSUP, 0, "false", 0, 0,
     "syslog (cairn logs to stderr and -log-file; journald collects stderr under systemd)"},
    {NULL, "syslog_facility", OPT_UNSUP, 0, "", 0, 0, "syslog (cairn logs to stderr)"},
    {NULL, "pid_file", OPT_UNSUP, 0, "", 0, 0, "a pid file"},
    {NULL, "enable_debug", OPT_UNSUP, 0, "false", 0, 0, "/debug/pprof endpoints"},
    {NULL, "leave_on_terminate", OPT_UNSUP, 0, "false", 0, 0,
     "leaving on SIGTERM (use cairn leave)"},
    {NULL, "skip_leave_on_interrupt", OPT_UNSUP, 0, "true", 0, 0,
     "leaving on SIGINT (use cairn leave)"},
    {NULL, "rejoin_after_leave", OPT_UNSUP, 0, "", 0, 0, "gossip rejoin"},
    {NULL, "retry_interval", OPT_UNSUP, 0, "", 0, 0, "a configurable join retry interval"},
    {NULL, "retry_max", OPT_UNSUP, 0, "0", 0, 0, "a bounded join retry count"},
    {NULL, "raft_protocol", OPT_UNSUP, 0, "3", 0, 0, "Raft protocol versions other than 3"},
    {NULL, "ui_dir", OPT_UNSUP, 0, "", 0, 0,
     "serving the UI from a directory (it is built into the binary)"},
    {NULL, "advertise_addr_wan", OPT_UNSUP, 0, "", 0, 0, "WAN federation"},
    {NULL, "translate_wan_addrs", OPT_UNSUP, 0, "false", 0, 0, "WAN federation"},
    {NULL, "performance.leave_drain_time", OPT_UNSUP, 0, "", 0, 0, "a leave drain time"},
    {NULL, "performance.rpc_hold_timeout", OPT_UNSUP, 0, "", 0, 0,
     "a configurable RPC hold timeout"},
    {NULL, "node_meta", OPT_UNSUP, 0, "", 0, 0, "node metadata from the agent's config"},
    {NULL, "segment", OPT_UNSUP, 0, "", 0, 0, "network segments (Consul Enterprise)"},
    {NULL, "partition", OPT_UNSUP, 0, "", 0, 0, "admin partitions (Consul Enterprise)"},
    {NULL, "auto_reload_config", OPT_UNSUP, 0, "false", 0, 0,
     "watching config files (use SIGHUP or cairn reload)"},

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
    case OPT_STRS: { /* off: char *[16]; max: offset of its size_t count */
        char **v = (char **)(base + o->off);
        size_t *n = (size_t *)(base + o->max);
        if (*n >= 16) {
            snprintf(err, errcap, "%s: too many addresses", where);
            return CN_EINVAL;
        }
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        v[(*n)++] = d;
        return 0;
    }
    case OPT_LIST: {
        char **v = (char **)(base + o->off);
        size_t *n = (size_t *)(base + o->max);
        if (*n >= 16) {
            snprintf(err, errcap, "%s: given more than 16 times", where);
            return CN_EINVAL;
        }
        if (o->off == OFF(telemetry_prefix_filter) && text[0] != '+' && text[0] != '-') {
            snprintf(err, errcap, "%s: \"%s\" must start with + (allow) or - (block)", where, text);
            return CN_EINVAL;
        }
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        v[(*n)++] = d;
        return 0;
    }
    case OPT_BSTR: {
        if (*text && strcmp(text, "true") && strcmp(text, "false")) {
            snprintf(err, errcap, "%s: expected true or false, got \"%s\"", where, text);
            return CN_EINVAL;
        }
        char **s = (char **)(base + o->off);
        char *d = cn_strdup(text);
        if (!d)
            return CN_ENOMEM;
        cn_free(*s);
        *s = d;
        return 0;
    }
    case OPT_UNSUP:
    case OPT_DEFS:
        break;
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
        if (opts[i].type != OPT_LIST && opts[i].type != OPT_STRS && opts[i].type != OPT_UNSUP &&
            opts[i].type != OPT_DEFS)
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

/* ---- config files -------------------------------------------------------------- */

/* One file being applied; errors accumulate (every one is reported). */
struct loader {
    struct agent_config *cfg;
    const char *file;
    char *err;
    size_t errcap, elen;
    int nerr;
    bool oom;
};

static void add_err(struct loader *ld, struct json_object *at, const char *key, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static void add_err(struct loader *ld, struct json_object *at, const char *key, const char *fmt,
                    ...)
{
    ld->nerr++;
    if (ld->elen + 2 >= ld->errcap)
        return;
    char *p = ld->err + ld->elen;
    size_t cap = ld->errcap - ld->elen;
    struct cfg_pos pos = cfg_pos_of(at);
    int k = snprintf(p, cap, "%s%s:%u:%u: key \"%s\": ", ld->elen ? "\n" : "", ld->file, pos.line,
                     pos.col, key);
    if (k > 0 && (size_t)k < cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p + k, cap - (size_t)k, fmt, ap);
        va_end(ap);
    }
    ld->elen += strlen(p);
}

static const char *type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_int:
        return "an integer";
    case json_type_double:
        return "a number";
    case json_type_string:
        return "a string";
    case json_type_array:
        return "a list";
    case json_type_object:
        return "an object";
    }
    return "?";
}

/* "string \"80\"" / "an object": what was found, for messages. */
static const char *got(struct json_object *v, char *buf, size_t cap)
{
    if (json_object_is_type(v, json_type_string))
        snprintf(buf, cap, "string \"%.60s\"", json_object_get_string(v));
    else if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_boolean))
        snprintf(buf, cap, "%s", json_object_to_json_string(v));
    else
        snprintf(buf, cap, "%s", type_name(v));
    return buf;
}

static void set_from_text(struct loader *ld, const struct opt *o, const char *path,
                          struct json_object *at, const char *text)
{
    char e[512];
    if (set_value(ld->cfg, o, text, e, sizeof(e), "value")) {
        /* set_value's message starts with "value: " */
        add_err(ld, at, path, "%s", strncmp(e, "value: ", 7) ? e : e + 7);
    }
}

static void add_def(struct loader *ld, const struct opt *o, const char *path, struct json_object *v)
{
    struct agent_config_defs *d = (struct agent_config_defs *)((char *)ld->cfg + o->off);
    if (!json_object_is_type(v, json_type_object)) {
        char g[96];
        add_err(ld, v, path, "expected an object, got %s", got(v, g, sizeof(g)));
        return;
    }
    /* capacity doubles at each power of two: no quadratic copying */
    bool grow = (d->n & (d->n - 1)) == 0;
    struct agent_config_def *nv =
        grow ? cn_realloc(d->v, (d->n ? 2 * d->n : 1) * sizeof(*nv)) : d->v;
    char *file = cn_strdup(ld->file);
    if (!nv || !file) {
        if (nv)
            d->v = nv;
        cn_free(file);
        ld->oom = true;
        add_err(ld, v, path, "out of memory");
        return;
    }
    d->v = nv;
    d->v[d->n].def = json_object_get(v);
    d->v[d->n].file = file;
    d->n++;
}

static void apply(struct loader *ld, const struct opt *o, const char *path, struct json_object *val)
{
    char g[96], num[32];
    switch (o->type) {
    case OPT_UNSUP: {
        bool fine = !strcmp(o->def, "*");
        if (!fine && *o->def && val && !json_object_is_type(val, json_type_object) &&
            !json_object_is_type(val, json_type_array))
            fine = !strcmp(json_object_to_json_string(val), o->def);
        if (!fine && json_object_is_type(val, json_type_object) &&
            json_object_object_length(val) == 0)
            fine = true;
        if (!fine)
            add_err(ld, val, path, "not supported by cairn (%s)%s%s", o->help,
                    *o->def ? "; only this value is accepted: " : "", o->def);
        return;
    }
    case OPT_RECURSOR:
    case OPT_TTLMAP: {
        char e[512];
        if (dns_load_json(ld->cfg, o, val, e, sizeof(e), "value"))
            add_err(ld, val, path, "%s", strncmp(e, "value: ", 7) ? e : e + 7);
        return;
    }
    case OPT_DEFS:
        if (json_object_is_type(val, json_type_array)) {
            for (size_t k = 0; k < json_object_array_length(val); k++)
                add_def(ld, o, path, json_object_array_get_idx(val, k));
        } else {
            add_def(ld, o, path, val);
        }
        return;
    case OPT_STRS:
    case OPT_LIST: /* telemetry.prefix_filter: a list in files */
        if (json_object_is_type(val, json_type_array)) {
            for (size_t k = 0; k < json_object_array_length(val); k++) {
                struct json_object *e = json_object_array_get_idx(val, k);
                if (!json_object_is_type(e, json_type_string))
                    add_err(ld, e, path, "expected a list of strings, got %s",
                            got(e, g, sizeof(g)));
                else
                    set_from_text(ld, o, path, e, json_object_get_string(e));
            }
            return;
        }
        break;
    case OPT_BSTR:
    case OPT_BOOL:
        if (!json_object_is_type(val, json_type_boolean)) {
            add_err(ld, val, path, "expected a boolean, got %s", got(val, g, sizeof(g)));
            return;
        }
        set_from_text(ld, o, path, val, json_object_get_boolean(val) ? "true" : "false");
        return;
    case OPT_INT:
        if (!json_object_is_type(val, json_type_int)) {
            add_err(ld, val, path, "expected an integer, got %s", got(val, g, sizeof(g)));
            return;
        }
        snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(val));
        set_from_text(ld, o, path, val, num);
        return;
    default:
        break;
    }
    if (!json_object_is_type(val, json_type_string)) {
        add_err(ld, val, path, "expected %s, got %s",
                o->type == OPT_STRS ? "a string or a list of strings" : "a string",
                got(val, g, sizeof(g)));
        return;
    }
    set_from_text(ld, o, path, val, json_object_get_string(val));
}

static void walk(struct loader *ld, struct json_object *obj, const char *prefix)
{
    json_object_object_foreach(obj, key, val)
    {
        char path[256];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        const struct opt *o = find_key(path);
        if (!o && has_nested(path)) {
            /* a nested object: `ports { ... }`, or the same block repeated */
            if (json_object_is_type(val, json_type_object)) {
                walk(ld, val, path);
            } else if (json_object_is_type(val, json_type_array)) {
                for (size_t k = 0; k < json_object_array_length(val); k++) {
                    struct json_object *e = json_object_array_get_idx(val, k);
                    if (json_object_is_type(e, json_type_object))
                        walk(ld, e, path);
                    else
                        add_err(ld, e, path, "expected an object, got %s", type_name(e));
                }
            } else {
                add_err(ld, val, path, "expected an object, got %s", type_name(val));
            }
            continue;
        }
        if (!o) {
            add_err(ld, val ? val : obj, path, "unknown configuration key");
            continue;
        }
        if (!val) { /* a JSON null has no position of its own */
            add_err(ld, obj, path, "null is not a valid value");
            continue;
        }
        apply(ld, o, path, val);
    }
}

/* Read and apply one file; errors appended. */
static void load_file(struct loader *ld, const char *path, enum cfg_format fmt)
{
    struct json_object *t = NULL;
    char e[1024];
    ld->file = path;
    if (cfg_read_file(path, fmt, &t, e, sizeof(e))) {
        ld->nerr++;
        if (ld->elen + 2 < ld->errcap) {
            snprintf(ld->err + ld->elen, ld->errcap - ld->elen, "%s%s", ld->elen ? "\n" : "", e);
            ld->elen += strlen(ld->err + ld->elen);
        }
        return;
    }
    walk(ld, t, "");
    json_object_put(t);
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
    /* config files and dirs named by flags, and their format */
    for (size_t i = 0; i < ngiven; i++) {
        char where[160];
        snprintf(where, sizeof(where), "flag -%s", given[i]->flag);
        if (given[i]->type == OPT_LIST || given[i]->off == OFF(config_format)) {
            rc = set_value(cfg, given[i], values[i], err, errcap, where);
            if (rc)
                goto out;
        }
    }
    /* Consul's dev mode turns the UI on; a file or flag may still turn it off. */
    for (size_t i = 0; i < ngiven; i++)
        if (given[i]->off == OFF(dev) && strcmp(values[i], "false") && strcmp(values[i], "0"))
            cfg->ui_enabled = true;
    enum cfg_format fmt;
    if (cfg_format_parse(cfg->config_format, &fmt)) {
        snprintf(err, errcap, "flag -config-format: expected hcl or json, got \"%s\"",
                 cfg->config_format);
        rc = CN_EINVAL;
        goto out;
    }
    /* Consul: directories and files in the order given, each directory's
     * files in lexical order; cairn reads directories first, then files. */
    struct loader ld = {.cfg = cfg, .err = err, .errcap = errcap};
    if (errcap)
        err[0] = '\0';
    for (size_t d = 0; d < cfg->nconfig_dirs; d++) {
        char **paths = NULL;
        size_t np = 0;
        char e[512];
        if (cfg_dir_files(cfg->config_dirs[d], fmt, &paths, &np, e, sizeof(e))) {
            ld.nerr++;
            if (ld.elen + 2 < errcap) {
                snprintf(err + ld.elen, errcap - ld.elen, "%s%s", ld.elen ? "\n" : "", e);
                ld.elen += strlen(err + ld.elen);
            }
            continue;
        }
        for (size_t k = 0; k < np; k++)
            load_file(&ld, paths[k], fmt);
        cfg_paths_free(paths, np);
    }
    for (size_t i = 0; i < cfg->nconfig_files; i++)
        load_file(&ld, cfg->config_files[i], fmt);
    if (ld.nerr) {
        rc = ld.oom ? CN_ENOMEM : CN_EINVAL;
        goto out;
    }
    /* performance.raft_multiplier: Consul's timing scale (1 s of election
     * timeout per step), unless raft_election_timeout is set by a flag. */
    if (cfg->raft_multiplier > 0) {
        char t[32];
        snprintf(t, sizeof(t), "%llds", (long long)cfg->raft_multiplier);
        set_value(cfg, find_key("raft_election_timeout"), t, err, errcap, "raft_multiplier");
    }
    for (size_t i = 0; i < ngiven; i++) {
        if (given[i]->type == OPT_LIST || given[i]->off == OFF(config_format))
            continue;
        char where[160];
        snprintf(where, sizeof(where), "flag -%s", given[i]->flag);
        rc = set_value(cfg, given[i], values[i], err, errcap, where);
        if (rc)
            goto out;
    }
    char uip[160];
    if (!rc && ui_content_path(cfg->ui_content_path, uip, sizeof(uip), err, errcap)) {
        rc = CN_EINVAL;
        goto out;
    }
    if (!rc && strcmp(uip, cfg->ui_content_path)) {
        char *d = cn_strdup(uip);
        if (!d) {
            rc = CN_ENOMEM;
            goto out;
        }
        cn_free(cfg->ui_content_path);
        cfg->ui_content_path = d;
    }
    if (cn_log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errcap, "invalid log level \"%s\" (trace, debug, info, warn, error)",
                 cfg->log_level);
        rc = CN_EINVAL;
    }
    if (!rc && strcmp(cfg->acl_default_policy, "allow") &&
        strcmp(cfg->acl_default_policy, "deny")) {
        snprintf(err, errcap, "acl.default_policy: invalid value \"%s\" (allow or deny)",
                 cfg->acl_default_policy);
        rc = CN_EINVAL;
    }
    static const char *const downs[] = {"allow", "deny", "extend-cache", "async-cache"};
    bool down_ok = false;
    for (size_t i = 0; i < 4; i++)
        down_ok = down_ok || !strcmp(cfg->acl_down_policy, downs[i]);
    if (!rc && !down_ok) {
        snprintf(err, errcap,
                 "acl.down_policy: invalid value \"%s\" (allow, deny, extend-cache, async-cache)",
                 cfg->acl_down_policy);
        rc = CN_EINVAL;
    }
out:
    return rc;
}

void agent_config_free(struct agent_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_STR || opts[i].type == OPT_DUR || opts[i].type == OPT_BSTR) {
            char **s = (char **)((char *)cfg + opts[i].off);
            cn_free(*s);
            *s = NULL;
        }
    }
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_LIST) {
            char **v = (char **)((char *)cfg + opts[i].off);
            size_t *n = (size_t *)((char *)cfg + opts[i].max);
            for (size_t k = 0; k < *n; k++)
                cn_free(v[k]);
            *n = 0;
        }
    }
    struct agent_config_defs *defs[] = {&cfg->services, &cfg->checks, &cfg->watches};
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k < defs[i]->n; k++) {
            json_object_put(defs[i]->v[k].def);
            cn_free(defs[i]->v[k].file);
        }
        cn_free(defs[i]->v);
        defs[i]->v = NULL;
        defs[i]->n = 0;
    }
    for (size_t i = 0; i < cfg->nretry_join; i++)
        cn_free(cfg->retry_join[i]);
    cfg->nretry_join = 0;
    for (size_t i = 0; i < cfg->nstart_join; i++)
        cn_free(cfg->start_join[i]);
    cfg->nstart_join = 0;
    for (size_t i = 0; i < cfg->nretry_join_wan; i++)
        cn_free(cfg->retry_join_wan[i]);
    cfg->nretry_join_wan = 0;
    for (size_t i = 0; i < cfg->nstart_join_wan; i++)
        cn_free(cfg->start_join_wan[i]);
    cfg->nstart_join_wan = 0;
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
        if (o->type == OPT_UNSUP)
            continue;
        cn_buf_puts(out, "| ");
        if (o->flag)
            cn_buf_printf(out, "`-%s`", o->flag);
        cn_buf_puts(out, " | ");
        if (o->key)
            cn_buf_printf(out, "`%s`", o->key);
        cn_buf_printf(out, " | %s | %s |\n", o->def[0] ? o->def : "", o->help);
    }
    cn_buf_puts(out, "\nConsul keys for features cairn does not have: a file that sets one to "
                     "anything but the value shown (Consul's \"off\") is refused with "
                     "\"not supported by cairn\".\n\n| config key | accepted value | feature "
                     "|\n| --- | --- | --- |\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (o->type != OPT_UNSUP)
            continue;
        cn_buf_printf(out, "| `%s` | %s | %s |\n", o->key,
                      !strcmp(o->def, "*") ? "any"
                      : o->def[0]          ? o->def
                                           : "none",
                      o->help);
    }
}

int agent_config_diff_fixed(const struct agent_config *a, const struct agent_config *b,
                            struct cn_buf *out)
{
    int n = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (!o->key || o->type == OPT_UNSUP || o->type == OPT_DEFS || o->type == OPT_LIST ||
            !strcmp(o->key, "log_level") || !strcmp(o->key, "ui") /* = ui_config.enabled */)
            continue;
        /* TLS files reload; agent/tls.c's caller says what of server RPC's mode is kept. */
        if (o->off >= OFF(tls_ca_file) && o->off <= OFF(verify_incoming_https))
            continue;
        const char *pa = (const char *)a + o->off, *pb = (const char *)b + o->off;
        char va[64], vb[64];
        const char *ta = va, *tb = vb;
        switch (o->type) {
        case OPT_BOOL:
            ta = *(const bool *)pa ? "true" : "false";
            tb = *(const bool *)pb ? "true" : "false";
            break;
        case OPT_INT:
            snprintf(va, sizeof(va), "%lld", (long long)*(const int64_t *)pa);
            snprintf(vb, sizeof(vb), "%lld", (long long)*(const int64_t *)pb);
            break;
        case OPT_RECURSOR: {
            bool same = a->nrecursors == b->nrecursors;
            for (size_t k = 0; same && k < a->nrecursors; k++)
                same = !strcmp(a->recursors[k], b->recursors[k]);
            ta = "[...]";
            tb = same ? ta : "[changed]";
            break;
        }
        case OPT_TTLMAP: {
            bool same = a->ndns_service_ttl == b->ndns_service_ttl;
            for (size_t k = 0; same && k < a->ndns_service_ttl; k++)
                same = !strcmp(a->dns_service_ttl[k].name, b->dns_service_ttl[k].name) &&
                       !strcmp(a->dns_service_ttl[k].ttl, b->dns_service_ttl[k].ttl);
            ta = "{...}";
            tb = same ? ta : "{changed}";
            break;
        }
        case OPT_STRS: {
            char *const *la = (char *const *)pa, *const *lb = (char *const *)pb;
            size_t na = *(const size_t *)((const char *)a + o->max);
            size_t nb = *(const size_t *)((const char *)b + o->max);
            bool same = na == nb;
            for (size_t k = 0; same && k < na; k++)
                same = !strcmp(la[k], lb[k]);
            ta = "[...]";
            tb = same ? ta : "[changed]";
            break;
        }
        default:
            ta = *(char *const *)pa ? *(char *const *)pa : "";
            tb = *(char *const *)pb ? *(char *const *)pb : "";
            if (!strncmp(o->key, "acl.tokens.", 11)) { /* secrets never reach a log */
                bool same = !strcmp(ta, tb);
                ta = "[hidden]";
                tb = same ? ta : "[changed]";
            }
            break;
        }
        if (strcmp(ta, tb)) {
            cn_buf_printf(out, "%s%s (%s -> %s)", n ? ", " : "", o->key, ta, tb);
            n++;
        }
    }
    return n;
}
