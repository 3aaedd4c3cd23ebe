/* agent/agent.c: one process, one libuv loop.
 *
 * Start-up: load configuration (flags over config files over defaults),
 * prepare the data dir (-dev: a temporary one, removed at exit), recover the
 * server (snapshot + log replay), start HTTP, register this node in the
 * catalog with its serfHealth check, and run until SIGINT/SIGTERM. Shutdown
 * closes the HTTP listener and parked queries, lets in-flight writes finish,
 * joins the log writer and closes every handle before exiting. */
#include "agent/agent.h"
#include "agent/debug_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/telemetry.h"
#include "agent/defs.h"
#include "agent/filedefs.h"
#include "agent/lan.h"
#include "agent/wan.h"
#include "agent/watches.h"
#include "local/local.h"
#include "api/api.h"
#include "base/buf.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/log.h"
#include "base/sdnotify.h"
#include "base/mem.h"
#include "dns/dns.h"
#include "agent/tls.h"
#include "http/http.h"
#include "server/server.h"
#include "ui/ui.h"

struct agent {
    uv_loop_t loop;
    struct agent_config cfg;
    struct agent_config loaded; /* as the files and flags said, before -dev's changes: what a
                                   reload compares against */
    struct srv *srv;
    struct api *api;
    struct local *local;
    struct http_server *http;  /* NULL with ports.http = -1 */
    struct http_server *https; /* NULL unless ports.https is set */
    int http_draining;         /* listeners still draining at shutdown */
    struct agent_tls tls;      /* contexts as loaded (start, reload) */
    struct ui *ui;             /* in front of api: the web UI and "/" */
    struct dns_server *dns;    /* NULL when -dns-port=-1 */
    struct agent_lan *lan;     /* LAN gossip; NULL when -serf-lan-port=-1 or -dev */
    struct agent_wan *wan;     /* WAN pool and routes; NULL on a client, -dev, serf_wan -1 */
    uint64_t dns_query_rng;    /* shuffles prepared-query answers (xorshift64, never 0) */
    uv_signal_t sigint, sigterm, sighup;
    int argc; /* the agent's flags, read again on reload */
    char **argv;
    struct agent_filedefs *filedefs;
    struct agent_watches *watches;
    char http_url[128]; /* this agent's HTTP address, for the watches */
    uv_timer_t reaper;
    uv_timer_t ae;      /* anti-entropy check of this node's registration */
    uv_timer_t leave;   /* after PUT /v1/agent/leave: shut down */
    int ae_missing;     /* consecutive checks that found this node absent */
    bool client;        /* a client agent (no -server): agent/client.c */
    bool local_started; /* client: local_start ran (after the first sync) */
    bool ae_busy;       /* client: a sync's refresh in flight */
    uint64_t ae_rng;
    uint64_t reap_mark; /* commit index at the previous reaper tick */
    char dev_dir[256];
    char node_id[40];
    char advertise[64];
    bool stopping;
    int status; /* exit status once the loop drained: 1 after a fatal storage error */
};

/* -log-level, -log-json, -log-file and its rotation (base/logfile.c). */
static int start_logging(const struct agent_config *c, char *err, size_t errcap)
{
    cn_log_set_level((enum cn_log_level)cn_log_level_parse(c->log_level));
    cn_log_set_json(c->log_json);
    if (!c->log_file || !*c->log_file)
        return 0;
    int64_t ns = 0;
    cn_dur_parse(c->log_rotate_duration, &ns); /* validated by the config loader */
    struct cn_log_file_opts o = {.path = c->log_file,
                                 .rotate_bytes = (uint64_t)c->log_rotate_bytes,
                                 .rotate_ns = ns > 0 ? (uint64_t)ns : 0,
                                 .max_files = (int)c->log_rotate_max_files};
    return cn_log_file_open(&o, err, errcap);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int random_uuid(char out[37])
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CN_EIO;
    ssize_t n = read(fd, b, sizeof(b));
    close(fd);
    if (n != (ssize_t)sizeof(b))
        return CN_EIO;
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static int valid_uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdefABCDEF", s[i])) {
            return 0;
        }
    }
    return 1;
}

/* Node ID: the configured one, else the one kept in DATA_DIR/node-id, else a
 * new random UUID written there (Consul keeps it in the same file). */
static int load_node_id(struct agent *ag, char *err, size_t errcap)
{
    if (ag->cfg.node_id && *ag->cfg.node_id) {
        if (!valid_uuid(ag->cfg.node_id)) {
            snprintf(err, errcap, "node ID \"%s\" is not a valid UUID", ag->cfg.node_id);
            return CN_EINVAL;
        }
        snprintf(ag->node_id, sizeof(ag->node_id), "%s", ag->cfg.node_id);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/node-id", ag->cfg.data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[64] = "";
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (!valid_uuid(buf)) {
            snprintf(err, errcap, "%s: not a valid UUID", path);
            return CN_ECORRUPT;
        }
        memcpy(ag->node_id, buf, 37); /* valid_uuid: exactly 36 chars + NUL */
        return 0;
    }
    if (random_uuid(ag->node_id)) {
        snprintf(err, errcap, "cannot read /dev/urandom");
        return CN_EIO;
    }
    f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", ag->node_id) < 0 || fflush(f) || fsync(fileno(f))) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return CN_EIO;
    }
    fclose(f);
    return 0;
}

/* KV tombstones keep prefix indexes from going backwards after deletes, but
 * must not live forever. Like Consul's tombstone GC (tombstone_ttl 15m), every
 * TOMBSTONE_TTL_MS we reap the tombstones older than the previous tick, so a
 * tombstone lives between one and two periods. The reap goes through the log
 * like any other change, so every replica forgets the same tombstones. */
#define TOMBSTONE_TTL_MS (15 * 60 * 1000)

static void on_reap_done(void *arg, int rc, const struct state_result *res)
{
    (void)arg, (void)res;
    if (rc && rc != CN_ESHUTDOWN)
        cn_warn("agent", "tombstone reap failed: %s", cn_strerror(rc));
}

static void on_reap_timer(uv_timer_t *t)
{
    struct agent *ag = t->data;
    uint64_t mark = ag->reap_mark;
    ag->reap_mark = srv_commit_index(ag->srv);
    /* Consul's tombstone GC runs on the leader; the reap replicates. */
    if (!mark || !srv_is_leader(ag->srv))
        return;
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_kv_reap(&cmd, mark) == 0)
        srv_propose(ag->srv, cmd.p, cmd.len, on_reap_done, ag);
    cn_buf_free(&cmd);
}

/* The node registers itself when the agent starts; in a cluster that forms
 * later than the hold timeout (7 s) that write fails. Consul's anti-entropy
 * syncs periodically; we check cheaply that our node row exists and, once a
 * leader is known and it stayed missing for two checks, write everything
 * back (local_resync). */
#define AE_CHECK_MS 3000

/* ---- client agents: anti-entropy through a server ---------------------------------
 * Consul's agent/ae StateSyncer: a full sync every ae_interval (1 min) scaled
 * by the cluster size (x1 up to 128 nodes, +1 per doubling above), plus a
 * random stagger of up to that much, so 1,000 agents do not sync at once. A
 * sync fetches the catalog's rows of this node (srv_client_refresh) and
 * repairs what differs both ways (local_sync). The first sync also rebuilds
 * the agent's registrations from the catalog (a restart with the same node
 * name) and registers the node (local_start). */
#define AE_RETRY_MS 2000

static uint64_t ae_scale(uint64_t nodes)
{
    if (nodes <= 128)
        return 1;
    uint64_t f = 1;
    for (uint64_t n = 128; n < nodes; n *= 2)
        f++;
    return f;
}

static uint64_t ae_rand(struct agent *ag, uint64_t span)
{
    ag->ae_rng ^= ag->ae_rng << 13;
    ag->ae_rng ^= ag->ae_rng >> 7;
    ag->ae_rng ^= ag->ae_rng << 17;
    return span ? ag->ae_rng % span : 0;
}

static void on_client_ae_timer(uv_timer_t *t);

/* A client agent follows the servers of the gossip pool (Consul's client
 * router): every change among them replaces the client's server list (the
 * -retry-join RPC addresses it started with stay in use until gossip knows
 * at least one server). */
#define GOSSIP_SERVERS_MAX 64
static void on_gossip_event(void *arg, const struct gossip_event *e)
{
    struct agent *ag = arg;
    struct gossip_net *net = agent_lan_net(ag->lan);
    if (!net || !gossip_net_is_server_event(net, e))
        return;
    struct gossip_server sv[GOSSIP_SERVERS_MAX];
    size_t n = gossip_net_servers(net, sv, GOSSIP_SERVERS_MAX);
    if (n > GOSSIP_SERVERS_MAX)
        n = GOSSIP_SERVERS_MAX;
    if (!n)
        return;
    const char *addrs[GOSSIP_SERVERS_MAX];
    for (size_t i = 0; i < n; i++)
        addrs[i] = sv[i].addr;
    int rc = srv_client_servers_set(ag->srv, addrs, n);
    if (rc)
        cn_warn("agent", "cannot use the servers found through gossip: %s", cn_strerror(rc));
}

static void on_refreshed(void *arg, int rc, uint64_t nodes)
{
    struct agent *ag = arg;
    ag->ae_busy = false;
    if (ag->stopping || !ag->local)
        return;
    if (rc) {
        cn_warn("agent", "anti-entropy: cannot read this node from a server (%s): retrying",
                cn_strerror(rc));
        uv_timer_start(&ag->ae, on_client_ae_timer, AE_RETRY_MS + ae_rand(ag, AE_RETRY_MS), 0);
        return;
    }
    if (!ag->local_started) {
        ag->local_started = true;
        int lrc = local_start(ag->local);
        if (lrc)
            cn_warn("agent", "cannot register this node: %s", cn_strerror(lrc));
        local_sync(ag->local); /* what was registered before the first sync */
    } else {
        size_t w = local_sync(ag->local);
        if (w)
            cn_info("agent", "anti-entropy: %zu catalog writes to repair drift", w);
    }
    int64_t ns = 0;
    cn_dur_parse(ag->cfg.ae_interval, &ns);
    uint64_t base = (uint64_t)(ns / CN_NS_PER_MS);
    if (base < 10)
        base = 10;
    uint64_t span = base * ae_scale(nodes);
    uv_timer_start(&ag->ae, on_client_ae_timer, base + ae_rand(ag, span), 0);
}

static void client_sync(struct agent *ag)
{
    if (ag->ae_busy || ag->stopping)
        return;
    ag->ae_busy = true;
    if (srv_client_refresh(ag->srv, ag->cfg.node_name, on_refreshed, ag) != 0) {
        ag->ae_busy = false;
        uv_timer_start(&ag->ae, on_client_ae_timer, AE_RETRY_MS, 0);
    }
}

static void on_client_ae_timer(uv_timer_t *t)
{
    client_sync(t->data);
}

static void on_ae_timer(uv_timer_t *t)
{
    struct agent *ag = t->data;
    if (!ag->local || !srv_known_leader(ag->srv) ||
        state_node_get(srv_state(ag->srv), ag->cfg.node_name)) {
        ag->ae_missing = 0;
        return;
    }
    /* Blocked by ACLs (no usable agent token yet): try at every check. */
    if (++ag->ae_missing < 2 && !local_acl_blocked(ag->local))
        return;
    ag->ae_missing = -3; /* then wait a few checks for the writes to land */
    cn_info("agent", "this node is missing from the catalog: registering it again");
    local_resync(ag->local);
}

static void on_closed_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void http_stopped(void *arg)
{
    struct agent *ag = arg;
    if (--ag->http_draining > 0)
        return; /* the other listener (HTTP or HTTPS) still drains */
    agent_tls_free(&ag->tls);
    dns_server_stop(ag->dns, NULL, NULL);
    ag->dns = NULL;
    agent_watches_stop(ag->watches);
    ag->watches = NULL;
    agent_filedefs_free(ag->filedefs);
    ag->filedefs = NULL;
    local_free(ag->local);
    ag->local = NULL;
    api_stop(ag->api); /* its session timers read the server */
    agent_wan_stop(ag->wan);
    ag->wan = NULL;
    agent_lan_stop(ag->lan);
    ag->lan = NULL;
    srv_close(ag->srv);
    ag->srv = NULL;
    uv_close((uv_handle_t *)&ag->sigint, NULL);
    uv_close((uv_handle_t *)&ag->sigterm, NULL);
    uv_close((uv_handle_t *)&ag->sighup, NULL);
    uv_close((uv_handle_t *)&ag->reaper, NULL);
    uv_close((uv_handle_t *)&ag->ae, NULL);
    uv_close((uv_handle_t *)&ag->leave, NULL);
}

#define SHUTDOWN_GRACE_MS 2000

static void shutdown_agent(struct agent *ag)
{
    if (ag->stopping)
        return;
    ag->stopping = true;
    cn_sd_notify("STOPPING=1\nSTATUS=shutting down");
    /* Blocking queries in flight get the current result before the
     * connections close (SHUTDOWN_GRACE_MS to write them). */
    ag->http_draining = 1 + (ag->http != NULL) + (ag->https != NULL);
    agent_telemetry_http(NULL);
    if (ag->http)
        http_server_drain(ag->http, SHUTDOWN_GRACE_MS, http_stopped, ag);
    if (ag->https)
        http_server_drain(ag->https, SHUTDOWN_GRACE_MS, http_stopped, ag);
    http_stopped(ag);
    ag->http = NULL;
    ag->https = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    cn_info("agent", "caught signal, shutting down");
    shutdown_agent(h->data);
}

/* Reload (SIGHUP, PUT /v1/agent/reload, `cairn reload`): read the files
 * again with the same flags. Any error leaves everything as it was. What can
 * change at run time does (log level, file-defined services, checks and
 * watches); what cannot (ports, data dir, server mode, ...) is reported and
 * kept, as Consul's agent does. */
static int reload_config(struct agent *ag, char *err, size_t errcap);

/* systemd (Type=notify) is told RELOADING=1 while the files are read again and
 * READY=1 after, whether the reload succeeded or not: the agent serves on. */
static int reload(void *arg, char *err, size_t errcap)
{
    struct agent *ag = arg;
    cn_sd_notify("RELOADING=1\nSTATUS=reloading the configuration");
    int rc = reload_config(ag, err, errcap);
    cn_sd_notify(rc ? "READY=1\nSTATUS=serving (last reload failed: see the log)"
                    : "READY=1\nSTATUS=serving");
    return rc;
}

static int reload_config(struct agent *ag, char *err, size_t errcap)
{
    struct agent_config nc;
    bool help = false;
    int rc = agent_config_load(&nc, ag->argc, ag->argv, &help, err, errcap);
    if (!rc)
        rc = agent_defs_validate(&nc, err, errcap);
    /* Certificates and keys are read again (new connections use them; open
     * ones keep theirs): a bad file fails the reload, nothing changes. */
    struct agent_tls nt;
    if (!rc && !(rc = agent_tls_load(&nc, &nt, err, errcap))) {
        if (ag->https && nt.https)
            http_server_set_tls(ag->https, nt.https);
        bool same_mode = !nt.rpc == !ag->tls.rpc && nt.rpc_incoming == ag->tls.rpc_incoming &&
                         nt.rpc_outgoing == ag->tls.rpc_outgoing &&
                         nt.rpc_server_hostname == ag->tls.rpc_server_hostname;
        if (!same_mode) {
            cn_warn("agent", "reload: server RPC's TLS mode (on/off, verify_incoming, "
                             "verify_outgoing, verify_server_hostname) cannot change while "
                             "running and is kept (restart to change it)");
        } else if (ag->srv && nt.rpc) {
            srv_set_tls(ag->srv, nt.rpc);
        }
        if (nt.https || (same_mode && nt.rpc))
            cn_info("agent", "reload: TLS certificates and keys loaded again");
        if (ag->tls.https)
            SSL_CTX_free(ag->tls.https);
        ag->tls.https = nt.https;
        if (same_mode) {
            if (ag->tls.rpc)
                SSL_CTX_free(ag->tls.rpc);
            ag->tls.rpc = nt.rpc;
        } else if (nt.rpc) {
            SSL_CTX_free(nt.rpc);
        }
    }
    if (rc) {
        agent_config_free(&nc);
        cn_error("agent", "reload failed, configuration unchanged: %s", err);
        return rc ? rc : CN_EINVAL;
    }
    struct cn_buf fixed = CN_BUF_INIT;
    if (agent_config_diff_fixed(&ag->loaded, &nc, &fixed) > 0 && !cn_buf_cstr(&fixed))
        cn_warn("agent", "reload: these settings cannot change while running and are kept: %s",
                fixed.p);
    cn_buf_free(&fixed);
    if (strcmp(nc.log_level, ag->cfg.log_level)) {
        cn_info("agent", "reload: log level %s -> %s", ag->cfg.log_level, nc.log_level);
        cn_log_set_level((enum cn_log_level)cn_log_level_parse(nc.log_level));
        char *t = ag->cfg.log_level;
        ag->cfg.log_level = nc.log_level;
        nc.log_level = t;
    }
    /* The definitions move over; the old ones go with nc. */
    agent_config_free(&ag->loaded);
    bool h2;
    char e2[64];
    if (agent_config_load(&ag->loaded, ag->argc, ag->argv, &h2, e2, sizeof(e2)))
        agent_config_free(&ag->loaded); /* only the next diff is less precise */
    struct agent_config_defs t1 = ag->cfg.services, t2 = ag->cfg.checks, t3 = ag->cfg.watches;
    ag->cfg.services = nc.services;
    ag->cfg.checks = nc.checks;
    ag->cfg.watches = nc.watches;
    nc.services = t1;
    nc.checks = t2;
    nc.watches = t3;
    agent_config_free(&nc);
    agent_filedefs_apply(ag->filedefs, &ag->cfg);
    agent_watches_stop(ag->watches);
    ag->watches = agent_watches_start(&ag->loop, &ag->cfg.watches, ag->http_url);
    struct cn_buf cj = CN_BUF_INIT;
    if (!agent_debug_config_json(&ag->cfg, ag->node_id, ag->advertise, (int)ag->cfg.http_port,
                                 &cj) &&
        !cn_buf_cstr(&cj))
        api_set_config_json(ag->api, cj.p);
    cn_buf_free(&cj);
    cn_info("agent", "reload: done (%zu services, %zu checks, %zu watches from files)",
            ag->cfg.services.n, ag->cfg.checks.n, ag->cfg.watches.n);
    return 0;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct agent *ag = h->data;
    char err[4096];
    cn_info("agent", "caught SIGHUP, reloading the configuration");
    if (!ag->stopping)
        reload(ag, err, sizeof(err));
}

/* Time given to the leave answer to reach the client before the agent stops
 * (stopping closes every connection, pending writes included). */
#define LEAVE_EXIT_DELAY_MS 200

static void on_leave_timer(uv_timer_t *t)
{
    cn_info("agent", "left the cluster: shutting down");
    shutdown_agent(t->data);
}

static void on_gossip_left(void *arg)
{
    struct agent *ag = arg;
    if (!ag->stopping && !uv_is_active((uv_handle_t *)&ag->leave))
        uv_timer_start(&ag->leave, on_leave_timer, LEAVE_EXIT_DELAY_MS, 0);
}

/* api_config.on_leave: Consul's agent shuts down after a graceful leave,
 * announced to the gossip pool first (members see it "left"). */
static void on_wan_left(void *arg)
{
    struct agent *ag = arg;
    if (!ag->stopping && !uv_is_active((uv_handle_t *)&ag->leave))
        agent_lan_leave(ag->lan, on_gossip_left, ag);
}

static void on_left(void *arg)
{
    struct agent *ag = arg;
    /* A server leaves the WAN pool first, then the LAN (Consul's server). */
    if (!ag->stopping && !uv_is_active((uv_handle_t *)&ag->leave))
        agent_wan_leave(ag->wan, on_wan_left, ag);
}

/* -join: none of the addresses answered (Consul's agent does not start). */
static void on_join_fatal(void *arg)
{
    struct agent *ag = arg;
    ag->status = 1;
    shutdown_agent(ag);
}

/* srv_options.on_fatal: the log's storage failed. Like etcd (which panics on
 * a failed WAL fsync), the agent exits non-zero: a supervisor restarts it and
 * recovery keeps exactly what was durable. */
static void on_fatal(void *arg, int rc, const char *msg)
{
    struct agent *ag = arg;
    cn_error("agent", "%s (%s): shutting down", msg, cn_strerror(rc));
    ag->status = 1;
    shutdown_agent(ag);
}

static int prepare_data_dir(struct agent *ag, char *err, size_t errcap)
{
    struct agent_config *c = &ag->cfg;
    if (c->dev) {
        const char *tmp = getenv("TMPDIR");
        snprintf(ag->dev_dir, sizeof(ag->dev_dir), "%s/cairn-dev-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(ag->dev_dir)) {
            snprintf(err, errcap, "cannot create a temporary data dir: %s", strerror(errno));
            return CN_EIO;
        }
        cn_free(c->data_dir);
        c->data_dir = cn_strdup(ag->dev_dir);
        c->server = true;
        c->bootstrap = true;
        return c->data_dir ? 0 : CN_ENOMEM;
    }
    if (!c->data_dir || !*c->data_dir) {
        snprintf(err, errcap, "must specify a data directory using -data-dir");
        return CN_EINVAL;
    }
    if (mkdir(c->data_dir, 0700) && errno != EEXIST) {
        snprintf(err, errcap, "cannot create data dir %s: %s", c->data_dir, strerror(errno));
        return CN_EIO;
    }
    struct stat st;
    if (stat(c->data_dir, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(err, errcap, "data dir %s is not a directory", c->data_dir);
        return CN_EINVAL;
    }
    return 0;
}

static int validate(struct agent *ag, char *err, size_t errcap)
{
    struct agent_config *c = &ag->cfg;
    if (c->dev) {
        /* -dev is a self-contained server: Consul's dev mode bootstraps itself. */
        c->server = true;
        c->bootstrap = true;
        c->connect_enabled = true; /* as Consul's dev mode */
    }
    int64_t leaf_min = 0;
    if (cn_dur_parse(c->connect_test_min_leaf_ttl, &leaf_min) || leaf_min < CN_NS_PER_S) {
        snprintf(err, errcap, "connect.test_only_min_leaf_cert_ttl must be at least 1s");
        return CN_EINVAL;
    }
    if (!c->server) {
        /* A client agent (Consul's builder.go texts). */
        if (c->bootstrap_expect > 0) {
            snprintf(err, errcap, "'bootstrap_expect > 0' requires 'server = true'");
            return CN_EINVAL;
        }
        if (c->bootstrap) {
            snprintf(err, errcap, "'bootstrap = true' requires 'server = true'");
            return CN_EINVAL;
        }
        ag->client = true;
    }
    if (c->bootstrap && c->bootstrap_expect > 1) {
        snprintf(err, errcap, "-bootstrap and -bootstrap-expect=%lld are exclusive",
                 (long long)c->bootstrap_expect);
        return CN_EINVAL;
    }
    /* Neither -bootstrap, -bootstrap-expect nor -retry-join: like Consul, the
     * server waits to be joined (cairn join through a member). */
    if (!c->node_name || !*c->node_name) {
        char host[256];
        if (gethostname(host, sizeof(host)))
            snprintf(host, sizeof(host), "cairn");
        host[sizeof(host) - 1] = '\0';
        cn_free(c->node_name);
        c->node_name = cn_strdup(host);
        if (!c->node_name)
            return CN_ENOMEM;
    }
    if (!c->dev && c->serf_lan_port >= 0 && c->serf_lan_port == c->server_port) {
        snprintf(err, errcap,
                 "-serf-lan-port and -server-port are both %lld: the LAN gossip (UDP and TCP) "
                 "needs a port of its own (or -serf-lan-port=-1 to run without gossip)",
                 (long long)c->serf_lan_port);
        return CN_EINVAL;
    }
    if (!c->dev && !ag->client && c->serf_lan_port >= 0 && c->serf_wan_port >= 0 &&
        (c->serf_wan_port == c->server_port || c->serf_wan_port == c->serf_lan_port)) {
        snprintf(err, errcap,
                 "-serf-wan-port %lld is the %s port too: the WAN gossip needs a port of its own "
                 "(or -serf-wan-port=-1 to run without it)",
                 (long long)c->serf_wan_port,
                 c->serf_wan_port == c->server_port ? "server" : "LAN gossip");
        return CN_EINVAL;
    }
    const char *adv = c->advertise_addr && *c->advertise_addr ? c->advertise_addr : c->bind_addr;
    if (!strcmp(adv, "0.0.0.0") || !strcmp(adv, "::"))
        adv = "127.0.0.1";
    snprintf(ag->advertise, sizeof(ag->advertise), "%s", adv);
    return 0;
}

/* ---- the DNS interface (src/dns/, docs/dns.md) ---------------------------------------- */

static uint64_t dns_last_contact(void *arg)
{
    return srv_last_contact_ms(((struct agent *)arg)->srv);
}

static struct state *dns_state(void *arg)
{
    return srv_state(((struct agent *)arg)->srv);
}

/* NAME.query.DOMAIN: dns/ cannot include api/ (docs/architecture.md), so
 * the agent hands it this executor of api/'s prepared queries, run against
 * the state the resolver reads, as GET /v1/query/:name/execute would (Near
 * "_agent" = this node; no ?near= or ?limit= in a DNS name). */
/* The agent's own node registration uses acl.tokens.agent (else default). */
static bool local_acl_may(void *arg, const char *node, char *accessor, size_t cap)
{
    struct agent *ag = arg;
    return api_acl_agent_may(ag->api, node, NULL, accessor, cap);
}

/* DNS answers with the default token's view (Consul's DNS uses the agent's
 * default token). */
static bool dns_acl_may(void *arg, bool is_node, const char *name)
{
    struct agent *ag = arg;
    return api_acl_dns_may(ag->api, is_node, name);
}

static int dns_query_node(struct agent *ag, const struct state *st, const char *agent_node,
                          const char *name_or_id, dns_query_visit visit, void *varg)
{
    struct api_query_exec x = {
        .name_or_id = name_or_id,
        .agent_node = agent_node,
        .rng = ag->dns_query_rng,
    };
    char err[256];
    int rc = api_query_execute(st, &x, err, sizeof(err));
    ag->dns_query_rng = x.rng ? x.rng : 88172645463325252ull;
    if (rc) {
        if (rc != CN_ENOTFOUND)
            cn_warn("agent", "DNS prepared query %s: %s", name_or_id, err);
        return rc;
    }
    /* With no instance, a query with a Failover is taken by
     * dns_failover (a server with WAN routes). */
    struct dns_query_answer a = {x.service, x.dns_ttl, x.inst, x.ninst, false};
    if (x.ninst == 0 && !ag->client)
        a.failover = api_query_fails_over(ag->api, st, x.query_id);
    visit(varg, &a);
    api_query_exec_free(&x);
    return 0;
}

static int dns_query(void *arg, const struct state *st, const char *name_or_id,
                     dns_query_visit visit, void *varg)
{
    struct agent *ag = arg;
    return dns_query_node(ag, st, ag->cfg.node_name, name_or_id, visit, varg);
}

/* ---- client agents' DNS: a client sends each query to a server (dns/remote.c),
 * which resolves it here with the client's options, node name and token. */

struct dns_as { /* the asking client */
    struct agent *ag;
    const char *token;
};

static int dns_query_as(void *arg, const struct state *st, const char *agent_node,
                        const char *name_or_id, dns_query_visit visit, void *varg)
{
    struct dns_as *x = arg;
    return dns_query_node(x->ag, st, agent_node, name_or_id, visit, varg);
}

static bool dns_acl_as(void *arg, bool is_node, const char *name)
{
    struct dns_as *x = arg;
    return api_acl_dns_may_as(x->ag->api, x->token, is_node, name);
}

static int dns_serve_client(void *arg, const char *token, const void *body, size_t len,
                            struct api_dns_failover *afo, struct cn_buf *out, char *err,
                            size_t errcap)
{
    struct agent *ag = arg;
    struct dns_as as = {ag, token};
    struct dns_remote_failover fob;
    struct dns_remote_failover *fo = afo && ag->wan ? &fob : NULL;
    struct dns_remote_env env = {
        .st = srv_state(ag->srv),
        .last_contact_ms = srv_last_contact_ms(ag->srv),
        .seed = uv_hrtime() ^ ag->dns_query_rng,
        .serial = (uint32_t)time(NULL),
        .query_exec = dns_query_as,
        .query_arg = &as,
        .acl_may = ag->cfg.acl_enabled ? dns_acl_as : NULL,
        .failover = fo,
    };
    int rc = dns_remote_answer(body, len, &env, out, err, errcap);
    if (rc == DNS_REMOTE_FAILOVER || rc == DNS_REMOTE_OTHER_DC) {
        _Static_assert(sizeof(afo->key) == sizeof(fo->key) && sizeof(afo->q) == sizeof(fo->q),
                       "one failover request layout");
        afo->other_dc = fo->other_dc;
        memcpy(afo->key, fo->key, sizeof(afo->key));
        memcpy(afo->q, fo->q, fo->qlen);
        afo->qlen = fo->qlen;
        afo->limit = fo->limit;
        afo->small_udp = fo->small_udp;
    }
    return rc == DNS_REMOTE_ANSWER     ? 0
           : rc == DNS_REMOTE_FORWARD  ? 1
           : rc == DNS_REMOTE_FAILOVER ? 2
           : rc == DNS_REMOTE_OTHER_DC ? 3
                                       : rc;
}

/* On the client: the query to a server as POST /v1/internal/cairn/dns, with
 * this agent's default token (Consul's DNS reads with it). GET-like: sent
 * again to another server when the one it went to is lost. */
static void dns_remote_answered(void *arg, int rc, const struct srv_cl_resp *a)
{
    dns_remote_done(arg, rc, a ? a->status : 0, a ? a->body : NULL, a ? a->body_len : 0);
}

static int dns_remote_send(void *arg, const char *body, size_t len, void *query, uint64_t *handle)
{
    struct agent *ag = arg;
    static const char target[] = "/v1/internal/cairn/dns";
    struct srv_cl_req m = {
        .kind = SRV_CL_HTTP,
        .method = "POST",
        .method_len = 4,
        .target = target,
        .target_len = sizeof(target) - 1,
        .body = body,
        .body_len = len,
    };
    const char *tok = api_acl_default_token(ag->api);
    if (tok)
        m.hdrs[m.nhdrs++] =
            (struct srv_cl_hdr){"X-Consul-Token", tok, strlen("X-Consul-Token"), strlen(tok)};
    return srv_client_http(ag->srv, &m, true, dns_remote_answered, query, handle);
}

static void dns_remote_cancel(void *arg, uint64_t handle)
{
    struct agent *ag = arg;
    srv_client_cancel(ag->srv, handle);
}

static uint32_t dur_s(const char *text)
{
    int64_t ns = 0;
    cn_dur_parse(text, &ns); /* validated by the config loader */
    int64_t s = ns / CN_NS_PER_S;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* A prepared query's failover for the DNS: api/query_failover.c plans and
 * asks the other datacenters. */
static int dns_failover(void *arg, const char *name_or_id, const uint8_t *q, size_t len,
                        size_t limit, bool small_udp, dns_dc_done done, void *ctx, uint64_t *handle)
{
    struct agent *ag = arg;
    return api_query_failover_dns(ag->api, name_or_id, q, len, limit, small_udp, NULL, done, ctx,
                                  handle);
}

static void dns_failover_cancel(void *arg, uint64_t handle)
{
    struct agent *ag = arg;
    api_query_failover_dns_cancel(ag->api, handle);
}

/* POST /v1/internal/dns/query: another datacenter's failover sent its
 * definition; api/ runs it (run), the DNS answers with it. */
struct dns_exec_def {
    struct agent *ag;
    api_pq_run_fn run;
    void *run_arg;
};

static int dns_exec_def(void *arg, const struct state *st, const char *name_or_id,
                        dns_query_visit visit, void *varg)
{
    struct dns_exec_def *d = arg;
    struct agent *ag = d->ag;
    struct api_query_exec x = {
        .name_or_id = name_or_id,
        .agent_node = ag->cfg.node_name,
        .rng = ag->dns_query_rng,
    };
    int rc = d->run(d->run_arg, st, &x);
    ag->dns_query_rng = x.rng ? x.rng : 88172645463325252ull;
    if (rc) /* not NXDOMAIN (the asker's "no instance there"): SERVFAIL */
        return rc == CN_ENOTFOUND ? CN_EPROTO : rc;
    struct dns_query_answer a = {x.service, x.dns_ttl, x.inst, x.ninst, false};
    visit(varg, &a);
    api_query_exec_free(&x);
    return 0;
}

static size_t dns_answer_exec(void *arg, const uint8_t *q, size_t len, size_t limit, bool small_udp,
                              api_pq_run_fn run, void *run_arg, uint8_t *out, size_t cap)
{
    struct agent *ag = arg;
    struct dns_exec_def d = {ag, run, run_arg};
    return ag->dns ? dns_server_answer_exec(ag->dns, q, len, limit, small_udp, dns_exec_def, &d,
                                            out, cap)
                   : 0;
}

/* POST /v1/internal/dns of another datacenter's DNS interface: this
 * server's DNS answer to a query sent there. */
static size_t dns_answer(void *arg, const uint8_t *q, size_t len, size_t limit, bool small_udp,
                         char *fo_key, size_t fo_cap, uint8_t *out, size_t cap)
{
    struct agent *ag = arg;
    return ag->dns
               ? dns_server_answer_fo(ag->dns, q, len, limit, small_udp, fo_key, fo_cap, out, cap)
               : 0;
}

static int start_dns(struct agent *ag, char *err, size_t errcap)
{
    struct agent_config *c = &ag->cfg;
    if (c->dns_port < 0)
        return 0;
    if (!c->dns_allow_stale) {
        snprintf(err, errcap,
                 "dns_config.allow_stale=false is not supported: cairn's DNS answers from "
                 "this agent's state (docs/dns.md)");
        return CN_EINVAL;
    }
    struct dns_service_ttl ttls[32];
    for (size_t i = 0; i < c->ndns_service_ttl; i++)
        ttls[i] =
            (struct dns_service_ttl){c->dns_service_ttl[i].name, dur_s(c->dns_service_ttl[i].ttl)};
    int64_t rt = 0;
    cn_dur_parse(c->dns_recursor_timeout, &rt);
    struct dns_options o = {
        .host = c->dns_addr && *c->dns_addr ? c->dns_addr : c->client_addr,
        .port = (int)c->dns_port,
        .domain = c->domain,
        .alt_domain = c->alt_domain,
        .datacenter = c->datacenter,
        .node_name = c->node_name,
        .node_addr = ag->advertise,
        .node_ttl = dur_s(c->dns_node_ttl),
        .service_ttl = ttls,
        .nservice_ttl = c->ndns_service_ttl,
        .only_passing = c->dns_only_passing,
        .order_by_weight = c->dns_order_by_weight,
        .node_meta_txt = c->dns_node_meta_txt,
        .udp_answer_limit = (unsigned)c->dns_udp_answer_limit,
        .enable_truncate = c->dns_enable_truncate,
        .soa_refresh = (uint32_t)c->dns_soa_refresh,
        .soa_retry = (uint32_t)c->dns_soa_retry,
        .soa_expire = (uint32_t)c->dns_soa_expire,
        .soa_min_ttl = (uint32_t)c->dns_soa_min_ttl,
        .recursors = (const char *const *)c->recursors,
        .nrecursors = c->nrecursors,
        .recursor_timeout_ms = (uint32_t)(rt / CN_NS_PER_MS),
        .max_stale_ms = (uint64_t)(dur_s(c->dns_max_stale)) * 1000,
        .last_contact_ms = dns_last_contact,
        .state = dns_state,
        .state_arg = ag,
        .query_exec = dns_query,
        .query_arg = ag,
        .acl_may = c->acl_enabled ? dns_acl_may : NULL,
        /* SERVICE.service.DC / NODE.node.DC of another datacenter: asked of
         * it over the WAN route (a server with a WAN pool) */
        .dc_remote = ag->wan ? agent_wan_dns_remote : NULL,
        .dc_cancel = agent_wan_dns_cancel,
        .dc_arg = ag->wan,
        /* NAME.query with no instance here and a Failover: the other
         * datacenters, as GET /v1/query/:id/execute */
        .query_failover = ag->wan ? dns_failover : NULL,
        .query_failover_cancel = dns_failover_cancel,
        .qf_arg = ag,
    };
    if (ag->client) { /* no state here: a server resolves each query */
        o.remote = dns_remote_send;
        o.remote_cancel = dns_remote_cancel;
        o.remote_arg = ag;
    }
    ag->dns_query_rng = (uint64_t)uv_hrtime() | 1;
    int rc = dns_server_start(&ag->loop, &o, &ag->dns, err, errcap);
    if (!rc) {
        api_set_dns_answer(ag->api, dns_answer, ag);
        api_set_dns_answer_exec(ag->api, dns_answer_exec, ag);
    }
    if (!rc)
        cn_info("agent", "DNS on %s:%d (UDP and TCP), domain %s", o.host, dns_server_port(ag->dns),
                c->domain);
    return rc;
}

static int run(struct agent *ag)
{
    char err[1024] = "";
    int rc;
    struct agent_config *c = &ag->cfg;
    if ((rc = validate(ag, err, sizeof(err))) || (rc = prepare_data_dir(ag, err, sizeof(err))) ||
        (rc = load_node_id(ag, err, sizeof(err))) ||
        (rc = agent_tls_load(c, &ag->tls, err, sizeof(err)))) {
        cn_error("agent", "%s", err);
        return 1;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&ag->loop);
    /* Before anything can answer a leave (closed with the rest). */
    uv_timer_init(&ag->loop, &ag->leave);
    ag->leave.data = ag;
    rc = agent_telemetry_start(c, &ag->loop, err, sizeof(err));
    if (rc) {
        cn_error("agent", "cannot start: %s", rc == CN_EINVAL ? err : cn_strerror(rc));
        goto out_loop;
    }

    int64_t snap_ns = 0, elect_ns = 0;
    cn_dur_parse(c->raft_snapshot_interval, &snap_ns); /* validated by the config loader */
    cn_dur_parse(c->raft_election_timeout, &elect_ns);
    uint64_t elect_ms = (uint64_t)(elect_ns / 1000000);
    /* About 50 ticks per election timeout (10 ms at the 500 ms default, at most
     * 50 ms): the randomized timer then has enough distinct values that two
     * survivors rarely time out on the same tick and split the vote. */
    uint64_t tick_ms = elect_ms / 50;
    if (tick_ms < 1)
        tick_ms = 1;
    if (tick_ms > 50)
        tick_ms = 50;
    struct srv_options so = {.data_dir = c->data_dir,
                             .snapshot_entries = (uint64_t)c->raft_snapshot_threshold,
                             .log_window_entries = (size_t)c->raft_log_window,
                             .snapshot_interval_ms = (uint64_t)(snap_ns / 1000000),
                             /* 0: a random raft id kept in the data dir */
                             .node_id = 0,
                             /* -dev listens on no server port (nothing to join) */
                             .bind_addr = c->dev ? NULL : c->bind_addr,
                             .server_port = (int)c->server_port,
                             /* told to the other servers (INFO): servers joined through
                              * their RPC addresses find each other's gossip port */
                             .serf_port = c->dev ? 0 : (int)c->serf_lan_port,
                             .advertise_addr = ag->advertise,
                             .cluster_id = c->datacenter,
                             .bootstrap = c->bootstrap,
                             .bootstrap_expect = (int)c->bootstrap_expect,
                             .join = (const char *const *)c->retry_join,
                             .njoin = c->nretry_join,
                             .tick_ms = tick_ms,
                             .election_ms = elect_ms,
                             .node_name = c->node_name,
                             .node_uuid = ag->node_id,
                             .on_fatal = on_fatal,
                             .fatal_arg = ag,
                             .client = ag->client,
                             .tls = ag->tls.rpc,
                             .tls_outgoing = ag->tls.rpc_outgoing,
                             .tls_required = ag->tls.rpc_incoming,
                             .tls_server_name =
                                 ag->tls.rpc_server_hostname ? ag->tls.rpc_server_name : NULL};
    rc = srv_open(&ag->loop, &so, &ag->srv, err, sizeof(err));
    if (rc) {
        cn_error("agent", "cannot start: %s", err);
        goto out_loop;
    }
    ag->local =
        local_new(&ag->loop, ag->srv, c->node_name, ag->node_id, ag->advertise, c->datacenter);
    if (!ag->local) {
        cn_error("agent", "out of memory");
        rc = CN_ENOMEM;
        goto out_srv;
    }
    struct agent_lan_options lo = {
        .cfg = c,
        .srv = ag->client ? NULL : ag->srv, /* a client: role=node tags, no reconciliation */
        .node_id = ag->node_id,
        .advertise = ag->advertise,
        .server_port = (int)c->server_port,
        .on_fatal = on_join_fatal,
        .fatal_arg = ag,
    };
    ag->lan = agent_lan_start(&ag->loop, &lo, &rc, err, sizeof(err));
    if (rc) {
        cn_error("agent", "cannot start gossip: %s", err);
        goto out_local;
    }
    struct agent_wan_options wo = {
        .cfg = c,
        .node_id = ag->node_id,
        .advertise = ag->advertise,
        .server_port = (int)c->server_port,
        .tls = ag->tls.rpc,
        .tls_outgoing = ag->tls.rpc_outgoing,
        .tls_verify_hostname = ag->tls.rpc_server_hostname,
        .on_fatal = on_join_fatal,
        .fatal_arg = ag,
        .lan = ag->lan ? agent_lan_net(ag->lan) : NULL,
    };
    ag->wan = agent_wan_start(&ag->loop, &wo, &rc, err, sizeof(err));
    if (rc) {
        cn_error("agent", "cannot start WAN gossip: %s", err);
        goto out_local;
    }
    if (ag->client && ag->lan &&
        gossip_net_subscribe(agent_lan_net(ag->lan), on_gossip_event, ag) != 0) {
        cn_error("agent", "out of memory");
        rc = CN_ENOMEM;
        goto out_local;
    }
    struct cn_buf cj = CN_BUF_INIT;
    agent_debug_config_json(c, ag->node_id, ag->advertise, (int)c->http_port, &cj);
    cn_buf_cstr(&cj);
    int64_t dq = 0, mq = 0;
    cn_dur_parse(c->default_query_time, &dq);
    cn_dur_parse(c->max_query_time, &mq);
    int64_t sync_min = 0, coord_period = 0;
    cn_dur_parse(c->sync_coordinate_interval_min, &sync_min);
    cn_dur_parse(c->coordinate_update_period, &coord_period);
    int64_t acl_min = 0, acl_max = 0;
    int64_t acl_ttl = 0;
    cn_dur_parse(c->acl_token_ttl, &acl_ttl);
    cn_dur_parse(c->acl_token_min_ttl, &acl_min);
    cn_dur_parse(c->acl_token_max_ttl, &acl_max);
    int64_t leaf_min = 0;
    cn_dur_parse(c->connect_test_min_leaf_ttl, &leaf_min);
    struct api_config ac = {
        .node_name = c->node_name,
        .node_id = ag->node_id,
        .datacenter = c->datacenter,
        .advertise_addr = ag->advertise,
        .server_port = (int)c->server_port,
        .serf_lan_port = (int)c->serf_lan_port,
        .connect_enabled = c->connect_enabled,
        .connect_min_leaf_ttl_s = leaf_min / CN_NS_PER_S,
        .version = CAIRN_VERSION,
        .kv_max_value_size = (uint64_t)c->kv_max_value_size,
        .txn_max_req_len = (uint64_t)c->txn_max_req_len,
        .default_query_ms = (uint64_t)(dq / CN_NS_PER_MS),
        .max_query_ms = (uint64_t)(mq / CN_NS_PER_MS),
        .config_json = cj.p,
        .on_leave = on_left,
        .on_leave_arg = ag,
        .on_reload = reload,
        .on_reload_arg = ag,
        .gossip = agent_lan_net(ag->lan),
        .acl = {.enabled = c->acl_enabled,
                .default_deny = !strcmp(c->acl_default_policy, "deny"),
                .down_policy = c->acl_down_policy,
                .token_persistence = c->acl_token_persistence,
                .data_dir = c->data_dir,
                .initial_management = c->acl_initial_management,
                .agent_token = c->acl_agent_token,
                .default_token = c->acl_default_token,
                .agent_recovery = c->acl_agent_recovery,
                .token_ttl_ns = acl_ttl,
                .token_min_ttl_ns = acl_min,
                .token_max_ttl_ns = acl_max,
                .primary_datacenter = c->primary_datacenter,
                .replication_token = c->acl_replication_token,
                .token_replication = c->acl_token_replication},
        .http_cache_bytes = (uint64_t)c->http_cache_max_bytes,
        .coord = {.disabled = c->disable_coordinates,
                  .sync_interval_min_ms = (uint64_t)(sync_min / CN_NS_PER_MS),
                  .sync_rate_target = (uint64_t)c->sync_coordinate_rate_target,
                  .update_period_ms = (uint64_t)(coord_period / CN_NS_PER_MS)},
    };
    rc = api_new(&ag->loop, ag->srv, ag->local, &ac, &ag->api);
    cn_buf_free(&cj);
    if (rc) {
        cn_error("agent", "out of memory");
        goto out_local;
    }
    struct api_wan aw;
    agent_wan_api(ag->wan, &aw);
    api_set_wan(ag->api, &aw);
    if (!ag->client && api_serve_clients(ag->api)) {
        cn_error("agent", "out of memory");
        rc = CN_ENOMEM;
        goto out_api;
    }
    if (!ag->client)
        api_set_dns_remote(ag->api, dns_serve_client, ag);
    rc = start_dns(ag, err, sizeof(err));
    if (rc) {
        cn_error("agent", "cannot start DNS: %s", err);
        goto out_api;
    }
    struct ui_options uo = {.enabled = c->ui_enabled,
                            .content_path = c->ui_content_path,
                            .next = api_handle,
                            .next_arg = ag->api};
    ag->ui = ui_new(&uo);
    if (!ag->ui) {
        cn_error("agent", "out of memory");
        rc = CN_ENOMEM;
        goto out_dns;
    }
    /* What the handlers read of a request's headers: the rest is dropped
     * once a request is complete (a parked query holds its token, not its
     * User-Agent or Host). */
    static const char *const http_headers[] = {API_HTTP_HEADERS, UI_HTTP_HEADERS, NULL};
    struct http_options ho = {
        .host = c->http_addr && *c->http_addr ? c->http_addr : c->client_addr,
        .port = (int)c->http_port,
        .max_body_bytes = (size_t)c->http_max_body,
        .large_body_path = API_SNAPSHOT_PATH,
        .large_body_bytes = API_SNAPSHOT_MAX_BODY,
        .keep_headers = http_headers,
        .clean_paths = true, /* Go's ServeMux: 301 to the clean path */
        .handler = ui_handle,
        .handler_arg = ag->ui,
    };
    if (c->http_port >= 0 &&
        (rc = http_server_start(&ag->loop, &ho, &ag->http, err, sizeof(err)))) {
        cn_error("agent", "cannot start HTTP on %s:%lld: %s", c->client_addr,
                 (long long)c->http_port, err);
        goto out_dns;
    }
    /* HTTPS: the same router, limits and drain, over TLS (tls.https). */
    ho.host = c->https_addr && *c->https_addr ? c->https_addr : c->client_addr;
    ho.port = (int)c->https_port;
    ho.tls = ag->tls.https;
    if (c->https_port >= 0 &&
        (rc = http_server_start(&ag->loop, &ho, &ag->https, err, sizeof(err)))) {
        cn_error("agent", "cannot start HTTPS on %s:%lld: %s", ho.host, (long long)c->https_port,
                 err);
        goto out_http;
    }
    agent_telemetry_http(ag->http);
    if (!ag->client)
        local_set_server_port(ag->local, (int)c->server_port);
    local_set_script_checks(ag->local, c->enable_local_script_checks);
    local_set_sidecar_ports(ag->local, (int)c->sidecar_min_port, (int)c->sidecar_max_port);
    if (c->acl_enabled)
        local_set_acl(ag->local, local_acl_may, ag);
    if (c->enable_agent_tls_for_checks && *c->tls_ca_file &&
        local_set_check_ca_file(ag->local, c->tls_ca_file)) {
        cn_error("agent", "out of memory");
        goto out_http;
    }
    /* A client agent starts its registrations after its first sync with a
     * server (on_refreshed). */
    rc = ag->client ? 0 : local_start(ag->local);
    if (rc) {
        cn_error("agent", "cannot register this node: %s", cn_strerror(rc));
        goto out_http;
    }
    uv_signal_init(&ag->loop, &ag->sigint);
    uv_signal_init(&ag->loop, &ag->sigterm);
    ag->sigint.data = ag->sigterm.data = ag;
    uv_signal_start(&ag->sigint, on_signal, SIGINT);
    uv_signal_start(&ag->sigterm, on_signal, SIGTERM);
    uv_signal_init(&ag->loop, &ag->sighup);
    ag->sighup.data = ag;
    uv_signal_start(&ag->sighup, on_sighup, SIGHUP);
    /* Services, checks and watches of the config files. */
    const char *hh = c->http_addr && *c->http_addr ? c->http_addr : c->client_addr;
    if (!strcmp(hh, "0.0.0.0") || !*hh)
        hh = "127.0.0.1";
    if (ag->http)
        snprintf(ag->http_url, sizeof(ag->http_url),
                 strchr(hh, ':') ? "http://[%s]:%d" : "http://%s:%d", hh,
                 http_server_port(ag->http));
    else /* HTTPS only: watches need CONSUL_CACERT in their environment */
        snprintf(ag->http_url, sizeof(ag->http_url),
                 strchr(hh, ':') ? "https://[%s]:%d" : "https://%s:%d", hh,
                 http_server_port(ag->https));
    ag->filedefs = agent_filedefs_new(&ag->loop, ag->local);
    agent_filedefs_apply(ag->filedefs, c);
    ag->watches = agent_watches_start(&ag->loop, &c->watches, ag->http_url);
    uv_timer_init(&ag->loop, &ag->reaper);
    ag->reaper.data = ag;
    ag->reap_mark = srv_commit_index(ag->srv);
    uv_timer_start(&ag->reaper, on_reap_timer, TOMBSTONE_TTL_MS, TOMBSTONE_TTL_MS);
    uv_unref((uv_handle_t *)&ag->reaper);
    uv_timer_init(&ag->loop, &ag->ae);
    ag->ae.data = ag;
    if (ag->client) {
        ag->ae_rng = uv_hrtime() | 1;
        client_sync(ag);
    } else {
        uv_timer_start(&ag->ae, on_ae_timer, AE_CHECK_MS, AE_CHECK_MS);
    }
    uv_unref((uv_handle_t *)&ag->ae);

    cn_info("agent", "cairn agent running!");
    cn_info("agent", "           Version: %s", CAIRN_VERSION);
    cn_info("agent", "           Node ID: %s", ag->node_id);
    cn_info("agent", "         Node name: %s", c->node_name);
    cn_info("agent", "        Datacenter: %s", c->datacenter);
    if (ag->client)
        cn_info("agent", "            Server: false (client agent, %zu server addresses)",
                c->nretry_join);
    else
        cn_info("agent", "            Server: true (Bootstrap: %s, expect %lld)",
                c->bootstrap ? "true" : "false", (long long)c->bootstrap_expect);
    cn_info("agent", "       Client Addr: %s (HTTP: %d, HTTPS: %d)", c->client_addr,
            ag->http ? http_server_port(ag->http) : -1,
            ag->https ? http_server_port(ag->https) : -1);
    if (c->ui_enabled)
        cn_info("agent", "            Web UI: %s%s", ag->http_url, c->ui_content_path);
    cn_info("agent", "      Server RPC TLS: %s",
            !ag->tls.rpc ? "off"
            : ag->tls.rpc_incoming && ag->tls.rpc_outgoing
                ? "mutual (verify_incoming, verify_outgoing)"
            : ag->tls.rpc_outgoing ? "outgoing (verify_outgoing)"
            : ag->tls.rpc_incoming ? "incoming required (verify_incoming)"
                                   : "accepted (certificate configured)");
    if (ag->client)
        cn_info("agent", "      Cluster Addr: %s (client: no server RPC port)", ag->advertise);
    else
        cn_info("agent", "      Cluster Addr: %s (Server: %lld)", ag->advertise,
                (long long)c->server_port);
    cn_info("agent", "          Data dir: %s%s", c->data_dir,
            c->dev ? " (dev: removed at exit)" : "");

    /* HTTP listens and this node is registered: tell systemd (Type=notify). */
    int nrc = cn_sd_notify("READY=1\nSTATUS=serving");
    if (nrc < 0)
        cn_warn("agent", "cannot notify systemd on NOTIFY_SOCKET=%s: %s", getenv("NOTIFY_SOCKET"),
                cn_strerror(nrc));
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    api_free(ag->api);
    ag->api = NULL;
    ui_free(ag->ui);
    ag->ui = NULL;
    /* Close anything still open (there should be nothing) and drain. */
    agent_telemetry_stop_timer();
    uv_walk(&ag->loop, on_closed_walk, NULL);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ag->loop);
    agent_telemetry_free();
    cn_info("agent", "shutdown complete");
    return ag->status;

out_http:
    if (ag->https)
        http_server_stop(ag->https, NULL, NULL);
    if (ag->http)
        http_server_stop(ag->http, NULL, NULL);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
out_dns:
    ui_free(ag->ui);
    ag->ui = NULL;
    dns_server_stop(ag->dns, NULL, NULL);
    ag->dns = NULL;
out_api:
    api_free(ag->api);
out_local:
    agent_wan_stop(ag->wan);
    ag->wan = NULL;
    agent_lan_stop(ag->lan);
    ag->lan = NULL;
    local_free(ag->local);
out_srv:
    srv_close(ag->srv);
out_loop:
    agent_telemetry_stop_timer();
    uv_walk(&ag->loop, on_closed_walk, NULL);
    uv_run(&ag->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ag->loop);
    agent_tls_free(&ag->tls);
    agent_telemetry_free();
    return 1;
}

int agent_main(int argc, char **argv)
{
    struct agent *ag = cn_calloc(1, sizeof(*ag));
    if (!ag) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    char err[8192] = "";
    bool help = false;
    int status;
    ag->argc = argc - 1;
    ag->argv = argv + 1;
    if (agent_config_load(&ag->cfg, argc - 1, argv + 1, &help, err, sizeof(err)) ||
        (!help && agent_defs_validate(&ag->cfg, err, sizeof(err))) ||
        (!help && agent_config_load(&ag->loaded, argc - 1, argv + 1, &help, err, sizeof(err)))) {
        fprintf(stderr, "==> %s\n", err);
        status = 1;
    } else if (help) {
        struct cn_buf u = CN_BUF_INIT;
        agent_config_usage(&u);
        fwrite(u.p, 1, u.len, stdout);
        cn_buf_free(&u);
        status = 0;
    } else if (start_logging(&ag->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "==> %s\n", err);
        status = 1;
    } else {
        status = run(ag);
        cn_log_file_close();
    }
    if (ag->dev_dir[0])
        nftw(ag->dev_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    agent_config_free(&ag->cfg);
    agent_config_free(&ag->loaded);
    cn_free(ag);
    return status;
}
