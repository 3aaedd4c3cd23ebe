/* cli/cli_int.h: internals shared among the cli module's files (and its unit
 * tests): the flag parser, the agent address parser, the HTTP helper, table
 * output and the command table. Nothing outside src/cli/ includes this. */
#ifndef CN_CLI_INT_H
#define CN_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"

/* ---- flags ------------------------------------------------------------------
 * Go's flag package syntax, as Consul's commands use it: `-name`, `--name`,
 * `-name=value`, `--name=value` and `-name value` (not for booleans, which take
 * only `-name` or `-name=true|false`). `--` ends the flags, a lone `-` is a
 * positional argument. Unlike Go, flags may also follow positional arguments
 * (`kv get KEY -recurse`); after the first positional argument, a word that is
 * not a known flag is kept as positional, so `kv put k -5` still writes "-5" as
 * Consul would. `-h`, `-help` and `--help` anywhere before `--` ask for help. */

enum cli_flag_kind {
    CLI_BOOL,
    CLI_STR,
    CLI_U64,  /* unsigned decimal, fits uint64 */
    CLI_INT,  /* signed decimal, fits int64 */
    CLI_LIST, /* repeatable string: every value kept in order */
    CLI_MAP,  /* repeatable key=value (split at the first '='); kept in order */
};

struct cli_flag {
    const char *name; /* without the dash; NULL ends a table */
    enum cli_flag_kind kind;
    const char *hint; /* shown in help as -name=<hint>; NULL for booleans */
    const char *help;
};

#define CLI_MAX_FLAGS 40

struct cli_flag_val {
    int set;
    const char *str; /* CLI_STR: borrowed from argv */
    uint64_t u64;
    int64_t i64;
    int b;
    const char **list; /* CLI_LIST/CLI_MAP: array owned by cli_args, strings borrowed */
    size_t nlist;
};

struct cli_args {
    const struct cli_flag *spec[CLI_MAX_FLAGS];
    struct cli_flag_val val[CLI_MAX_FLAGS];
    size_t nspec;
    const char **pos; /* positional arguments: array owned, strings borrowed */
    size_t npos;
    int help; /* -h, -help or --help was given: nothing else was parsed */
};

/* Parse argv[0..argc) against the NULL-name-terminated tables (ntables of
 * them). Returns 0, CN_EINVAL (message in err, Go-style: "flag provided but not
 * defined: -x") or CN_ENOMEM. Call cli__args_free() in every case. */
int cli__args_parse(struct cli_args *a, const struct cli_flag *const *tables, size_t ntables,
                    int argc, char **argv, char *err, size_t errcap);
void cli__args_free(struct cli_args *a);

/* Value lookups by flag name; a name that is not in the spec is a bug and
 * returns the default / NULL. */
const struct cli_flag_val *cli__flag(const struct cli_args *a, const char *name);
const char *cli__flag_str(const struct cli_args *a, const char *name, const char *def);
int cli__flag_bool(const struct cli_args *a, const char *name);
uint64_t cli__flag_u64(const struct cli_args *a, const char *name);
int64_t cli__flag_int(const struct cli_args *a, const char *name);
int cli__flag_isset(const struct cli_args *a, const char *name);

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False.
 * Returns 0 or 1, or -1 when s is none of these. */
int cli__parse_bool(const char *s);

/* Append the "Command Options" style listing of one flag table to b. */
int cli__flags_usage(struct cn_buf *b, const char *title, const struct cli_flag *t);

/* ---- the agent's address ---------------------------------------------------- */

struct cli_addr {
    char base[300];      /* "http://host:port" or "https://host:port", no trailing '/' */
    char unix_path[108]; /* non-empty for unix://PATH; base is then "http://localhost" */
};

/* Parse an address as Consul's -http-addr accepts it: "host:port", "[v6]:port",
 * "http://host:port", "https://host:port", "unix:///path". Without a scheme,
 * http is used (https when `ssl` is set, CONSUL_HTTP_SSL). A missing port means
 * the scheme's default, as in Consul. Returns 0 or CN_EINVAL with a message. */
int cli__addr_parse(const char *s, int ssl, struct cli_addr *out, char *err, size_t errcap);

/* The address to use: the -http-addr flag value if non-NULL, else
 * $CAIRN_HTTP_ADDR, else $CONSUL_HTTP_ADDR, else 127.0.0.1:8500. */
const char *cli__addr_pick(const char *flag);

/* ---- HTTP ------------------------------------------------------------------- */

struct cli_ctx {
    FILE *out;
    FILE *err;
    const char *cmd; /* full command name for messages, e.g. "kv put" */
    const struct cli_args *args;
    /* Resolved lazily by the first request. */
    int addr_ok;
    struct cli_addr addr;
    void *curl; /* CURL *, owned */
};

struct cli_resp {
    /* In: set before the call. sink: the body goes to this file instead of
     * memory (a snapshot); no_timeout: no overall time limit. */
    FILE *sink;
    int no_timeout;
    long timeout_ms; /* 0: the default (60 s) */
    long code;
    struct cn_buf body; /* owned; NUL-terminated after a successful request */
    uint64_t index;     /* X-Consul-Index, when has_index */
    int has_index;
};

/* Percent-encode a URL path (keeping '/') or a query value into b. */
int cli__url_escape(struct cn_buf *b, const char *s, int keep_slash);
/* b = prefix followed by seg percent-encoded as one path segment ('/' escaped),
 * NUL-terminated: "/v1/agent/join/" + "10.0.0.1". 0, or < 0 (out of memory). */
int cli__path_seg(struct cn_buf *b, const char *prefix, const char *seg);

/* Append "name=<escaped value>" to the query q, after a '&' when q is not empty.
 * Does not NUL-terminate q (cn_buf_cstr once it is complete). */
int cli__query_param(struct cn_buf *q, const char *name, const char *value);

/* Send one request. `path` starts with "/v1/"; `query` is "" or "a=b&c" (already
 * escaped); the common -datacenter/-stale/-token flags are added here. A body
 * (may be NULL) is sent as-is. On a transport failure (connection refused,
 * timeout, bad address) writes a message naming the URL into err and returns
 * CN_EIO; any HTTP status returns 0 with resp->code set. resp->body must be
 * freed by the caller (cli__resp_free) in every case. */
int cli__http(struct cli_ctx *c, const char *method, const char *path, const char *query,
              const void *body, size_t body_len, struct cli_resp *resp, char *err, size_t errcap);
void cli__resp_free(struct cli_resp *r);
void cli__ctx_close(struct cli_ctx *c);

/* One request expected to answer one of the 2xx codes (or 404 when
 * allow_404). On failure prints "<what>: <reason>" to stderr, where the reason
 * is the transport error or "Unexpected response code: N (body)" like Consul's
 * Go client, and returns 1; otherwise 0. */
int cli__call(struct cli_ctx *c, const char *what, const char *method, const char *path,
              const char *query, const void *body, size_t body_len, int allow_404,
              struct cli_resp *resp);

/* Parse resp->body as JSON; prints "<what>: ..." and returns NULL on error. */
struct json_object *cli__json_body(struct cli_ctx *c, const char *what,
                                   const struct cli_resp *resp);

/* ---- output ----------------------------------------------------------------- */

/* columnize (the Go library Consul uses for tables): rows of cells separated by
 * '\x1f', columns padded to their widest cell and joined by two spaces, the
 * last column unpadded. Writes the table and a final newline. */
void cli__columnize(FILE *f, const char *const *rows, size_t nrows);

/* text/tabwriter(minwidth 0, tabwidth 2, padding 6, ' '): cells ended by '\t'
 * are padded to the column's widest + 6, per block of consecutive lines that
 * have that column. Appends the result to out. */
int cli__tabwrite(struct cn_buf *out, const char *text, size_t n);

/* Go's encoding/json string encoding (HTML-safe escapes of <, >, &). */
int cli__go_json_str(struct cn_buf *b, const char *s, size_t n);

/* ---- commands --------------------------------------------------------------- */

typedef int (*cli_run_cb)(struct cli_ctx *c, const struct cli_args *a);

struct cli_cmd {
    const char *name;             /* "kv put"; a group ("kv") has run == NULL */
    const char *synopsis;         /* one line, in the parent's listing */
    const char *usage;            /* "Usage: ..." paragraph, then a description */
    const struct cli_flag *flags; /* command options, or NULL */
    int http;                     /* takes the HTTP API options */
    cli_run_cb run;
};

extern const struct cli_flag cli__http_flags[];
extern const struct cli_cmd cli__cmds[];
extern const size_t cli__ncmds;

/* Same as cli_main() with the output streams given (tests use memstreams). */
int cli__main_io(int argc, char **argv, FILE *out, FILE *err);

/* cmd_acl.c */
extern const struct cli_flag cli__acl_bootstrap_flags[], cli__acl_list_flags[],
    cli__acl_policy_flags[], cli__acl_token_flags[], cli__acl_role_flags[];
int cli__run_acl_bootstrap(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_policy_create(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_policy_list(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_policy_read(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_policy_update(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_policy_delete(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_token_create(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_token_list(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_token_read(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_token_update(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_token_delete(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_token_clone(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_role_create(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_role_list(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_role_read(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_role_update(struct cli_ctx *c, const struct cli_args *a);
int cli__run_acl_role_delete(struct cli_ctx *c, const struct cli_args *a);

/* Handlers, one per leaf command. */
int cli__run_version(struct cli_ctx *c, const struct cli_args *a);
int cli__run_keygen(struct cli_ctx *c, const struct cli_args *a);
int cli__run_members(struct cli_ctx *c, const struct cli_args *a);
int cli__run_info(struct cli_ctx *c, const struct cli_args *a);
int cli__run_catalog_services(struct cli_ctx *c, const struct cli_args *a);
int cli__run_catalog_nodes(struct cli_ctx *c, const struct cli_args *a);
int cli__run_services_register(struct cli_ctx *c, const struct cli_args *a);
int cli__run_services_deregister(struct cli_ctx *c, const struct cli_args *a);
int cli__run_kv_put(struct cli_ctx *c, const struct cli_args *a);
int cli__run_kv_get(struct cli_ctx *c, const struct cli_args *a);
int cli__run_kv_delete(struct cli_ctx *c, const struct cli_args *a);
int cli__run_kv_export(struct cli_ctx *c, const struct cli_args *a);
int cli__run_kv_import(struct cli_ctx *c, const struct cli_args *a);
int cli__run_raft_list_peers(struct cli_ctx *c, const struct cli_args *a);
int cli__run_raft_remove_peer(struct cli_ctx *c, const struct cli_args *a);
int cli__run_raft_transfer_leader(struct cli_ctx *c, const struct cli_args *a);
int cli__run_join(struct cli_ctx *c, const struct cli_args *a);
int cli__run_force_leave(struct cli_ctx *c, const struct cli_args *a);
int cli__run_leave(struct cli_ctx *c, const struct cli_args *a);
int cli__run_reload(struct cli_ctx *c, const struct cli_args *a);
int cli__run_rtt(struct cli_ctx *c, const struct cli_args *a);
int cli__run_maint(struct cli_ctx *c, const struct cli_args *a);
/* cmd_keyring.c */
int cli__run_keyring(struct cli_ctx *c, const struct cli_args *a);
extern const struct cli_flag cli__keyring_flags[];
/* A command's help (its -h text) by name, into f (cli.c). */
void cli__cmd_help(FILE *f, const char *name);
int cli__run_lock(struct cli_ctx *c, const struct cli_args *a);
int cli__run_watch(struct cli_ctx *c, const struct cli_args *a);
int cli__run_tls_ca_create(struct cli_ctx *c, const struct cli_args *a);
int cli__run_tls_cert_create(struct cli_ctx *c, const struct cli_args *a);
extern const struct cli_flag cli__tls_ca_flags[];
extern const struct cli_flag cli__tls_cert_flags[];
int cli__run_catalog_datacenters(struct cli_ctx *c, const struct cli_args *a);
int cli__run_event(struct cli_ctx *c, const struct cli_args *a);
int cli__run_services_query(struct cli_ctx *c, const struct cli_args *a);
extern const struct cli_flag cli__catalog_datacenters_flags[];
extern const struct cli_flag cli__event_flags[];
extern const struct cli_flag cli__services_query_flags[];
int cli__run_pick(struct cli_ctx *c, const struct cli_args *a);
int cli__run_snapshot_save(struct cli_ctx *c, const struct cli_args *a);
int cli__run_monitor(struct cli_ctx *c, const struct cli_args *a);
int cli__run_debug(struct cli_ctx *c, const struct cli_args *a);
extern const struct cli_flag cli__debug_flags[];
/* tarball.c: a ustar member appended to tar; the whole written gzip'd. */
int cli__tar_add(struct cn_buf *tar, const char *name, const void *data, size_t len, bool dir);
int cli__tar_gz_write(const struct cn_buf *tar, const char *path, char *err, size_t errcap);
extern const struct cli_flag cli__monitor_flags[];
int cli__run_snapshot_restore(struct cli_ctx *c, const struct cli_args *a);
int cli__run_snapshot_inspect(struct cli_ctx *c, const struct cli_args *a);
extern const struct cli_flag cli__snapshot_inspect_flags[];

/* Flag tables of the commands (defined next to their handlers). */
extern const struct cli_flag cli__version_flags[];
extern const struct cli_flag cli__members_flags[];
extern const struct cli_flag cli__rtt_flags[];
extern const struct cli_flag cli__catalog_services_flags[];
extern const struct cli_flag cli__catalog_nodes_flags[];
extern const struct cli_flag cli__services_register_flags[];
extern const struct cli_flag cli__services_deregister_flags[];
extern const struct cli_flag cli__kv_put_flags[];
extern const struct cli_flag cli__kv_get_flags[];
extern const struct cli_flag cli__kv_delete_flags[];
extern const struct cli_flag cli__raft_remove_peer_flags[];
extern const struct cli_flag cli__raft_transfer_leader_flags[];
extern const struct cli_flag cli__join_flags[];
extern const struct cli_flag cli__force_leave_flags[];
extern const struct cli_flag cli__maint_flags[];
extern const struct cli_flag cli__lock_flags[];
extern const struct cli_flag cli__watch_flags[];
extern const struct cli_flag cli__pick_flags[];

/* Read a whole file ("-" = stdin) into b. Returns 0 or CN_EIO with a message. */
int cli__read_file(struct cn_buf *b, const char *path, char *err, size_t errcap);

/* cmd_connect.c */
extern const struct cli_flag cli__connect_ca_set_flags[];
int cli__run_connect_ca_get(struct cli_ctx *c, const struct cli_args *a);
int cli__run_connect_ca_set(struct cli_ctx *c, const struct cli_args *a);
extern const struct cli_flag cli__connect_proxy_flags[];
int cli__run_connect_proxy(struct cli_ctx *c, const struct cli_args *a);

/* cmd_intention.c */
extern const struct cli_flag cli__intention_create_flags[];
extern const struct cli_flag cli__intention_match_flags[];
int cli__run_intention_create(struct cli_ctx *c, const struct cli_args *a);
int cli__run_intention_get(struct cli_ctx *c, const struct cli_args *a);
int cli__run_intention_delete(struct cli_ctx *c, const struct cli_args *a);
int cli__run_intention_check(struct cli_ctx *c, const struct cli_args *a);
int cli__run_intention_match(struct cli_ctx *c, const struct cli_args *a);
int cli__run_intention_list(struct cli_ctx *c, const struct cli_args *a);
/* cmd_config.c: config write|read|list|delete over /v1/config. */
extern const struct cli_flag cli__config_write_flags[];
extern const struct cli_flag cli__config_read_flags[];
extern const struct cli_flag cli__config_list_flags[];
extern const struct cli_flag cli__config_delete_flags[];
int cli__run_config_write(struct cli_ctx *c, const struct cli_args *a);
int cli__run_config_read(struct cli_ctx *c, const struct cli_args *a);
int cli__run_config_list(struct cli_ctx *c, const struct cli_args *a);
int cli__run_config_delete(struct cli_ctx *c, const struct cli_args *a);

#endif
