/* agent/debug_config.c: /v1/agent/self "DebugConfig" — Consul's sanitized
 * RuntimeConfig (agent/config/runtime.go), with its key names, for the
 * settings cairn has. Tools read a few of them: Nomad and consul-template
 * read DNSPort/DNSAddrs, GRPCPort (-1: no gRPC/xDS port, so no service
 * mesh) and ConnectEnabled; operators read the rest. Addresses are written
 * as Consul writes net.Addr values ("tcp://127.0.0.1:8500"), durations in
 * Go's format. Options Consul has and cairn lacks are not invented here. */
#include <stdio.h>
#include <string.h>

#include "agent/debug_config.h"
#include "base/jsonw.h"

static void addr(struct cn_jsonw *w, const char *proto, const char *host, int64_t port)
{
    char s[320];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(s, sizeof(s), "%s://%s%s%s:%lld", proto, v6 ? "[" : "", host, v6 ? "]" : "",
             (long long)port);
    cn_jsonw_str(w, s);
}

static void kstr(struct cn_jsonw *w, const char *k, const char *v)
{
    cn_jsonw_kstr(w, k, v ? v : "");
}

int agent_debug_config_json(const struct agent_config *c, const char *node_id,
                            const char *advertise, int http_port, struct cn_buf *out)
{
    struct cn_jsonw w;
    cn_jsonw_init(&w, out, 0);
    const char *client = c->client_addr ? c->client_addr : "127.0.0.1";
    cn_jsonw_obj_open(&w);
    cn_jsonw_kbool(&w, "ACLsEnabled", c->acl_enabled);
    kstr(&w, "AdvertiseAddrLAN", advertise);
    kstr(&w, "BindAddr", c->bind_addr);
    cn_jsonw_kbool(&w, "Bootstrap", c->bootstrap);
    cn_jsonw_ki64(&w, "BootstrapExpect", c->bootstrap_expect);
    cn_jsonw_key(&w, "ClientAddrs");
    cn_jsonw_arr_open(&w);
    cn_jsonw_str(&w, client);
    cn_jsonw_arr_close(&w);
    cn_jsonw_kbool(&w, "ConnectEnabled", c->connect_enabled);
    kstr(&w, "DNSDomain", c->domain ? c->domain : "consul.");
    cn_jsonw_key(&w, "DNSAddrs");
    cn_jsonw_arr_open(&w);
    if (c->dns_port > 0) {
        addr(&w, "tcp", client, c->dns_port);
        addr(&w, "udp", client, c->dns_port);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_ki64(&w, "DNSPort", c->dns_port > 0 ? c->dns_port : -1);
    kstr(&w, "DataDir", c->data_dir);
    kstr(&w, "Datacenter", c->datacenter);
    cn_jsonw_kbool(&w, "DevMode", c->dev);
    cn_jsonw_kbool(&w, "EnableLocalScriptChecks", c->enable_local_script_checks);
    cn_jsonw_ki64(&w, "GRPCPort", -1);
    cn_jsonw_ki64(&w, "GRPCTLSPort", -1);
    cn_jsonw_key(&w, "HTTPAddrs");
    cn_jsonw_arr_open(&w);
    if (http_port >= 0)
        addr(&w, "tcp", client, http_port);
    cn_jsonw_arr_close(&w);
    cn_jsonw_ki64(&w, "HTTPPort", http_port);
    cn_jsonw_key(&w, "HTTPSAddrs");
    cn_jsonw_arr_open(&w);
    if (c->https_port >= 0)
        addr(&w, "tcp", c->https_addr && *c->https_addr ? c->https_addr : c->client_addr,
             (int)c->https_port);
    cn_jsonw_arr_close(&w);
    cn_jsonw_ki64(&w, "HTTPSPort", c->https_port);
    cn_jsonw_ki64(&w, "KVMaxValueSize", c->kv_max_value_size);
    kstr(&w, "LogLevel", c->log_level);
    kstr(&w, "NodeID", node_id);
    kstr(&w, "NodeName", c->node_name);
    kstr(&w, "PrimaryDatacenter", c->datacenter);
    cn_jsonw_ki64(&w, "RaftSnapshotThreshold", c->raft_snapshot_threshold);
    kstr(&w, "RaftSnapshotInterval", c->raft_snapshot_interval);
    cn_jsonw_key(&w, "RetryJoinLAN");
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < c->nretry_join; i++)
        cn_jsonw_str(&w, c->retry_join[i]);
    cn_jsonw_arr_close(&w);
    cn_jsonw_ki64(&w, "SerfPortLAN", c->serf_lan_port);
    cn_jsonw_ki64(&w, "SerfPortWAN", -1);
    cn_jsonw_kbool(&w, "ServerMode", true);
    cn_jsonw_ki64(&w, "ServerPort", c->server_port);
    cn_jsonw_ki64(&w, "TxnMaxReqLen", c->txn_max_req_len);
    cn_jsonw_key(&w, "UIConfig"); /* RuntimeConfig.UIConfig, what cairn has of it */
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "ContentPath", c->ui_content_path ? c->ui_content_path : "/ui/");
    cn_jsonw_kstr(&w, "Dir", "");
    cn_jsonw_kbool(&w, "Enabled", c->ui_enabled);
    cn_jsonw_kstr(&w, "MetricsProvider", "");
    cn_jsonw_obj_close(&w);
    cn_jsonw_obj_close(&w);
    return w.err;
}
