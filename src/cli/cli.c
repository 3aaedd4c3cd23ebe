/* cli/cli.c: the command table and dispatch. One table holds every command's
 * name, synopsis, usage text, flags and handler, so `-h` output, the command
 * listings and the parser can never disagree.
 *
 * Dispatch mirrors the mitchellh/cli framework Consul uses: `-h`/`-help`/
 * `--help` anywhere prints the command's help to stdout and exits 0; a command
 * group without a known subcommand prints its help to stderr and exits 1; an
 * unknown or missing top-level command prints the usage to stderr and exits 127;
 * a flag error prints the error and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <string.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/version.h"
#include "cli/cli.h"
#include "cli/cli_int.h"

/* Consul's "HTTP API Options" and "API Options"
 * (https://developer.hashicorp.com/consul/commands#api-options). */
const struct cli_flag cli__http_flags[] = {
    {"http-addr", CLI_STR, "address",
     "The `address` and port of the Cairn HTTP agent. The value can be an IP address or DNS "
     "address, but it must also include the port. It may be prefixed with http:// or "
     "https://, or be unix:///path/to/socket. This can also be specified via the "
     "CAIRN_HTTP_ADDR or CONSUL_HTTP_ADDR environment variables. The default value is "
     "127.0.0.1:8500."},
    {"token", CLI_STR, "value",
     "ACL token to use in the request, sent as X-Consul-Token. This can also be specified via "
     "the CAIRN_HTTP_TOKEN or CONSUL_HTTP_TOKEN environment variables."},
    {"ca-file", CLI_STR, "value",
     "Path to a CA file to use for TLS when communicating with Cairn. This can also be "
     "specified via the CONSUL_CACERT environment variable."},
    {"ca-path", CLI_STR, "value",
     "Path to a directory of CA certificates to use for TLS when communicating with Cairn. "
     "This can also be specified via the CONSUL_CAPATH environment variable."},
    {"client-cert", CLI_STR, "value",
     "Path to a client cert file to use for TLS when 'verify_incoming' is enabled. This can "
     "also be specified via the CONSUL_CLIENT_CERT environment variable."},
    {"client-key", CLI_STR, "value",
     "Path to a client key file to use for TLS when 'verify_incoming' is enabled. This can "
     "also be specified via the CONSUL_CLIENT_KEY environment variable."},
    {"tls-server-name", CLI_STR, "value",
     "The server name to use as the SNI host when connecting via TLS. This can also be "
     "specified via the CONSUL_TLS_SERVER_NAME environment variable."},
    {"datacenter", CLI_STR, "name",
     "Name of the datacenter to query. If unspecified, this will default to the datacenter of "
     "the queried agent."},
    {"stale", CLI_BOOL, NULL,
     "Permit any Cairn server (non-leader) to respond to this request. This allows for lower "
     "latency and higher throughput, but can result in stale data. The default value is "
     "false."},
    {NULL, 0, NULL, NULL},
};

const struct cli_cmd cli__cmds[] = {
    {"acl", "Interact with Cairn's ACLs",
     "Usage: cairn acl <subcommand> [options] [args]\n\n"
     "  This command has subcommands for interacting with Cairn's ACLs (docs/acl.md).\n\n"
     "  Bootstrap ACLs:\n\n"
     "      $ cairn acl bootstrap\n\n"
     "  List policies, tokens and roles:\n\n"
     "      $ cairn acl policy list\n"
     "      $ cairn acl token list\n"
     "      $ cairn acl role list",
     NULL, 0, NULL},
    {"acl bootstrap", "Bootstrap Cairn's ACL system",
     "Usage: cairn acl bootstrap [options]\n"
     "\n"
     "  The bootstrap command makes the initial management token (global-management\n"
     "  policy). It works once: afterwards it fails with the reset index.\n"
     "\n"
     "      $ cairn acl bootstrap",
     cli__acl_bootstrap_flags, 1, cli__run_acl_bootstrap},
    {"acl policy", "Manage Cairn's ACL policies",
     "Usage: cairn acl policy <subcommand> [options] [args]\n\n"
     "  Create, list, read, update and delete ACL policies.\n\n"
     "      $ cairn acl policy create -name kv-app -rules @rules.hcl",
     NULL, 0, NULL},
    {"acl policy create", "Create an ACL policy",
     "Usage: cairn acl policy create -name NAME [options]\n"
     "\n"
     "  Creates a policy; -rules is HCL or JSON text, @FILE or - (stdin).\n"
     "\n"
     "      $ cairn acl policy create -name kv-app -rules @rules.hcl",
     cli__acl_policy_flags, 1, cli__run_acl_policy_create},
    {"acl policy delete", "Delete an ACL policy",
     "Usage: cairn acl policy delete (-id ID | -name NAME) [options]\n"
     "\n"
     "      $ cairn acl policy delete -name kv-app",
     cli__acl_policy_flags, 1, cli__run_acl_policy_delete},
    {"acl policy list", "Lists ACL policies",
     "Usage: cairn acl policy list [options]\n"
     "\n"
     "      $ cairn acl policy list",
     cli__acl_list_flags, 1, cli__run_acl_policy_list},
    {"acl policy read", "Read an ACL policy",
     "Usage: cairn acl policy read (-id ID | -name NAME) [options]\n"
     "\n"
     "      $ cairn acl policy read -name kv-app",
     cli__acl_policy_flags, 1, cli__run_acl_policy_read},
    {"acl policy update", "Update an ACL policy",
     "Usage: cairn acl policy update (-id ID | -name NAME) [options]\n"
     "\n"
     "  Updates a policy; what is not given is kept. With -id, -name renames it.\n"
     "\n"
     "      $ cairn acl policy update -name kv-app -rules @rules.hcl",
     cli__acl_policy_flags, 1, cli__run_acl_policy_update},
    {"acl role", "Manage Cairn's ACL roles",
     "Usage: cairn acl role <subcommand> [options] [args]\n\n"
     "  Create, list, read, update and delete ACL roles.\n\n"
     "      $ cairn acl role create -name app -policy-name kv-app",
     NULL, 0, NULL},
    {"acl role create", "Create an ACL role",
     "Usage: cairn acl role create -name NAME [options]\n"
     "\n"
     "      $ cairn acl role create -name app -policy-name kv-app",
     cli__acl_role_flags, 1, cli__run_acl_role_create},
    {"acl role delete", "Delete an ACL role",
     "Usage: cairn acl role delete (-id ID | -name NAME) [options]\n"
     "\n"
     "      $ cairn acl role delete -name app",
     cli__acl_role_flags, 1, cli__run_acl_role_delete},
    {"acl role list", "Lists ACL roles",
     "Usage: cairn acl role list [options]\n"
     "\n"
     "      $ cairn acl role list",
     cli__acl_list_flags, 1, cli__run_acl_role_list},
    {"acl role read", "Read an ACL role",
     "Usage: cairn acl role read (-id ID | -name NAME) [options]\n"
     "\n"
     "      $ cairn acl role read -name app",
     cli__acl_role_flags, 1, cli__run_acl_role_read},
    {"acl role update", "Update an ACL role",
     "Usage: cairn acl role update (-id ID | -name NAME) [options]\n"
     "\n"
     "  Updates a role; given policies replace the role's.\n"
     "\n"
     "      $ cairn acl role update -name app -policy-name other",
     cli__acl_role_flags, 1, cli__run_acl_role_update},
    {"acl token", "Manage Cairn's ACL tokens",
     "Usage: cairn acl token <subcommand> [options] [args]\n\n"
     "  Create, list, read, update, clone and delete ACL tokens.\n\n"
     "      $ cairn acl token create -description app -policy-name kv-app",
     NULL, 0, NULL},
    {"acl token clone", "Clone an ACL token",
     "Usage: cairn acl token clone -id ACCESSOR [options]\n"
     "\n"
     "  A new token with the same policies, roles and expiration time.\n"
     "\n"
     "      $ cairn acl token clone -id 986193 -description copy",
     cli__acl_token_flags, 1, cli__run_acl_token_clone},
    {"acl token create", "Create an ACL token",
     "Usage: cairn acl token create [options]\n"
     "\n"
     "      $ cairn acl token create -description app -policy-name kv-app -expires-ttl 1h",
     cli__acl_token_flags, 1, cli__run_acl_token_create},
    {"acl token delete", "Delete an ACL token",
     "Usage: cairn acl token delete -id ACCESSOR [options]\n"
     "\n"
     "      $ cairn acl token delete -id 986193",
     cli__acl_token_flags, 1, cli__run_acl_token_delete},
    {"acl token list", "List ACL tokens",
     "Usage: cairn acl token list [options]\n"
     "\n"
     "      $ cairn acl token list",
     cli__acl_list_flags, 1, cli__run_acl_token_list},
    {"acl token read", "Read an ACL token",
     "Usage: cairn acl token read (-id ACCESSOR | -self) [options]\n"
     "\n"
     "      $ cairn acl token read -self",
     cli__acl_token_flags, 1, cli__run_acl_token_read},
    {"acl token update", "Update an ACL token",
     "Usage: cairn acl token update -id ACCESSOR [options]\n"
     "\n"
     "  Updates a token; given policies or roles replace the token's (-merge-policies,\n"
     "  -merge-roles add them instead); what is not given is kept.\n"
     "\n"
     "      $ cairn acl token update -id 986193 -policy-name other -merge-policies",
     cli__acl_token_flags, 1, cli__run_acl_token_update},
    {"agent", "Runs a Cairn agent",
     "Usage: cairn agent [options]\n\n"
     "  Starts a Cairn agent. Run \"cairn agent -h\" for its options.",
     NULL, 0, NULL},
    {"catalog", "Interact with the catalog",
     "Usage: cairn catalog <subcommand> [options] [args]\n\n"
     "  This command has subcommands for interacting with Cairn's catalog. The catalog\n"
     "  should not be confused with the agent, although the APIs and responses may be\n"
     "  similar.\n\n"
     "  List all nodes in the catalog:\n\n"
     "      $ cairn catalog nodes\n\n"
     "  List all services in the catalog:\n\n"
     "      $ cairn catalog services",
     NULL, 0, NULL},
    {"catalog datacenters", "Lists all known datacenters",
     "Usage: cairn catalog datacenters [options]\n\n"
     "  Retrieves the list of all known datacenters: the agent's own first, then\n"
     "  every datacenter whose servers are in the WAN gossip pool.\n\n"
     "      $ cairn catalog datacenters",
     cli__catalog_datacenters_flags, 1, cli__run_catalog_datacenters},
    {"catalog nodes", "Lists all nodes in the given datacenter",
     "Usage: cairn catalog nodes [options]\n\n"
     "  Retrieves the list nodes registered in a given datacenter. By default, the\n"
     "  datacenter of the local agent is queried.\n\n"
     "  To retrieve the list of nodes:\n\n"
     "      $ cairn catalog nodes\n\n"
     "  To print detailed information including full node IDs, tagged addresses, and\n"
     "  metadata information:\n\n"
     "      $ cairn catalog nodes -detailed\n\n"
     "  To list nodes which are running a particular service:\n\n"
     "      $ cairn catalog nodes -service=web",
     cli__catalog_nodes_flags, 1, cli__run_catalog_nodes},
    {"catalog services", "Lists all registered services in a datacenter",
     "Usage: cairn catalog services [options]\n\n"
     "  Retrieves the list services registered in a given datacenter. By default, the\n"
     "  datacenter of the local agent is queried.\n\n"
     "  To retrieve the list of services:\n\n"
     "      $ cairn catalog services\n\n"
     "  To include the services' tags in the output:\n\n"
     "      $ cairn catalog services -tags\n\n"
     "  To list services which run on a particular node:\n\n"
     "      $ cairn catalog services -node=web",
     cli__catalog_services_flags, 1, cli__run_catalog_services},
    {"config", "Interact with Cairn's centralized configurations",
     "Usage: cairn config <subcommand> [options] [args]\n\n"
     "  Configuration entries: cairn has the kind service-intentions, a view of\n"
     "  the intentions of one destination service (the intention commands and\n"
     "  this one see the same data).\n\n"
     "      $ cairn config write db-intentions.hcl\n"
     "      $ cairn config read -kind service-intentions -name db",
     NULL, 0, NULL},
    {"config delete", "Delete a centralized config entry",
     "Usage: cairn config delete [options] -kind <config kind> -name <config name>\n\n"
     "  Deletes the entry (for service-intentions: every intention of that\n"
     "  destination).",
     cli__config_delete_flags, 1, cli__run_config_delete},
    {"config list", "List centralized config entries of a given kind",
     "Usage: cairn config list -kind <config kind>", cli__config_list_flags, 1,
     cli__run_config_list},
    {"config read", "Read a centralized config entry",
     "Usage: cairn config read -kind <config kind> -name <config name>", cli__config_read_flags, 1,
     cli__run_config_read},
    {"config write", "Create or update a centralized config entry",
     "Usage: cairn config write [options] <configuration>\n\n"
     "  Writes the entry in the file (HCL or JSON; \"-\" reads stdin).\n\n"
     "      $ cairn config write -cas -modify-index=12 db-intentions.hcl",
     cli__config_write_flags, 1, cli__run_config_write},
    {"connect", "Interact with the service mesh",
     "Usage: cairn connect <subcommand> [options] [args]\n\n"
     "  The built-in Connect CA and sidecar proxy (docs/connect-proxy.md).\n\n"
     "      $ cairn connect ca get-config\n"
     "      $ cairn connect proxy -sidecar-for web1",
     NULL, 0, NULL},
    {"connect proxy", "Runs the built-in Connect proxy",
     "Usage: cairn connect proxy [options]\n\n"
     "  Runs cairn's built-in mutual-TLS proxy: for the sidecar registration of a\n"
     "  service (-sidecar-for), or for -service with -listen/-service-addr and\n"
     "  -upstream flags. It follows the local agent for its certificate, the CA\n"
     "  roots, intentions and the upstreams' healthy proxies.\n\n"
     "      $ cairn connect proxy -sidecar-for web1\n"
     "      $ cairn connect proxy -service web -upstream db:9191",
     cli__connect_proxy_flags, 1, cli__run_connect_proxy},
    {"connect ca", "Interact with the Connect Certificate Authority (CA)",
     "Usage: cairn connect ca <subcommand> [options] [args]\n\n"
     "  View or change the CA's configuration; a new PrivateKey and RootCert rotate\n"
     "  the root (the new one is cross-signed by the old one).\n\n"
     "      $ cairn connect ca get-config\n"
     "      $ cairn connect ca set-config -config-file ca.json",
     NULL, 0, NULL},
    {"connect ca get-config", "Display the current Connect CA configuration",
     "Usage: cairn connect ca get-config [options]\n\n"
     "  Prints the CA configuration (GET /v1/connect/ca/configuration) as JSON.",
     NULL, 1, cli__run_connect_ca_get},
    {"connect ca set-config", "Modify the current Connect CA configuration",
     "Usage: cairn connect ca set-config [options]\n\n"
     "  Sends the configuration in -config-file to PUT /v1/connect/ca/configuration.\n\n"
     "      $ cairn connect ca set-config -config-file ca.json",
     cli__connect_ca_set_flags, 1, cli__run_connect_ca_set},
    {"debug", "Records a debugging archive for operators",
     "Usage: cairn debug [options]\n\n"
     "  Monitors a Cairn agent for the specified period of time, recording\n"
     "  information about the agent, cluster, and environment to an archive\n"
     "  written to the current directory: agent.json, host.json, members.json,\n"
     "  raft.json, metrics.json (one capture per interval, when the agent serves\n"
     "  /v1/agent/metrics), cairn.log (the log at debug level for the duration)\n"
     "  and index.json, in a directory named like the archive.\n\n"
     "      $ cairn debug -duration=30s -interval=10s -output=incident",
     cli__debug_flags, 1, cli__run_debug},
    {"event", "Fire a new event",
     "Usage: cairn event [options] [payload]\n\n"
     "  Dispatches a custom user event across a datacenter. An event must provide\n"
     "  a name, but a payload is optional. Events support filtering using regular\n"
     "  expressions on node name, service, and tag definitions.\n\n"
     "      $ cairn event -name=deploy -service=web v1.2.3",
     cli__event_flags, 1, cli__run_event},
    {"force-leave", "Forces a member of the cluster to enter the \"left\" state",
     "Usage: cairn force-leave [options] name\n\n"
     "  Forces a member of a Cairn cluster to enter the \"left\" state. Note\n"
     "  that if the member is still actually alive, it will eventually rejoin\n"
     "  the cluster. A server forced to leave is also removed from the Raft\n"
     "  configuration; the leader deregisters a left member's node.",
     cli__force_leave_flags, 1, cli__run_force_leave},
    {"info", "Provides debugging information for operators.",
     "Usage: cairn info [options]\n\n"
     "  Provides debugging information for operators.",
     NULL, 1, cli__run_info},
    {"intention", "Interact with service intentions",
     "Usage: cairn intention <subcommand> [options] [args]\n\n"
     "  Intentions say which services may connect to which: allow or deny from a\n"
     "  source service to a destination service, either of which may be \"*\".\n\n"
     "  Allow web to talk to db, deny everything else to db, and check:\n\n"
     "      $ cairn intention create web db\n"
     "      $ cairn intention create -deny '*' db\n"
     "      $ cairn intention check web db",
     NULL, 0, NULL},
    {"intention check", "Check whether a connection between two services is allowed",
     "Usage: cairn intention check [options] SRC DST\n\n"
     "  Prints \"Allowed\" and exits 0, or prints \"Denied\" and exits 2, by the\n"
     "  first intention matching SRC => DST in evaluation order, else the default\n"
     "  (allow).",
     NULL, 1, cli__run_intention_check},
    {"intention create", "Create intentions for service connections",
     "Usage: cairn intention create [options] SRC DST\n\n"
     "  Creates an intention allowing (or, with -deny, denying) connections from\n"
     "  SRC to DST. Without -replace an existing intention for the pair is an\n"
     "  error; with it, that intention is replaced.\n\n"
     "      $ cairn intention create -deny -description='no direct access' web db",
     cli__intention_create_flags, 1, cli__run_intention_create},
    {"intention delete", "Delete an intention",
     "Usage: cairn intention delete [options] (SRC DST | ID)\n\n"
     "  Deletes the intention of the SRC => DST pair, or the one with ID.",
     NULL, 1, cli__run_intention_delete},
    {"intention get", "Show information about an intention",
     "Usage: cairn intention get [options] (SRC DST | ID)", NULL, 1, cli__run_intention_get},
    {"intention list", "List all intentions",
     "Usage: cairn intention list [options]\n\n"
     "  Lists every intention with its ID and precedence, in evaluation order.",
     NULL, 1, cli__run_intention_list},
    {"intention match", "Show intentions that match a source or destination",
     "Usage: cairn intention match [options] NAME\n\n"
     "  Lists the intentions whose destination (or, with -source, source) is NAME\n"
     "  or \"*\", in evaluation order: the first that matches a request decides.",
     cli__intention_match_flags, 1, cli__run_intention_match},
    {"join", "Tell Cairn agent to join cluster",
     "Usage: cairn join [options] address ...\n\n"
     "  Tells a running Cairn agent (with \"cairn agent\") to join the cluster\n"
     "  by specifying at least one existing member: its gossip address\n"
     "  (host[:port], port 8301 when omitted), or a server's RPC address\n"
     "  (host:port) as before gossip existed.",
     cli__join_flags, 1, cli__run_join},
    {"keygen", "Generates a new encryption key",
     "Usage: cairn keygen\n\n"
     "  Generates a new encryption key that can be used to configure the\n"
     "  agent to encrypt traffic. The output of this command is already\n"
     "  in the proper format that the agent expects (the encrypt key).",
     NULL, 0, cli__run_keygen},
    {"keyring", "Manages gossip layer encryption keys",
     "Usage: cairn keyring [options]\n\n"
     "  Manages encryption keys used for gossip messages. Gossip encryption is\n"
     "  optional. When enabled, this command may be used to examine active encryption\n"
     "  keys in the cluster, add new keys, and remove old ones. When combined, this\n"
     "  functionality provides the ability to perform key rotation cluster-wide,\n"
     "  without disrupting the cluster.\n\n"
     "  All operations performed by this command can only be run against server nodes,\n"
     "  and affect the LAN keyring of every member (cairn has no WAN pool).\n\n"
     "  All variations of the keyring command return 0 if all nodes reply and there\n"
     "  are no errors. If any node fails to reply or reports failure, the exit code\n"
     "  will be 1.",
     cli__keyring_flags, 1, cli__run_keyring},
    {"kv", "Interact with the key-value store",
     "Usage: cairn kv <subcommand> [options] [args]\n\n"
     "  This command has subcommands for interacting with Cairn's key-value store.\n"
     "  Here are some simple examples, and more detailed examples are available in\n"
     "  the subcommands or the documentation.\n\n"
     "  Create or update the key named \"redis/config/connections\" with the value \"5\":\n\n"
     "      $ cairn kv put redis/config/connections 5\n\n"
     "  Read this value back:\n\n"
     "      $ cairn kv get redis/config/connections\n\n"
     "  Or get detailed key information:\n\n"
     "      $ cairn kv get -detailed redis/config/connections\n\n"
     "  Finally, delete the key:\n\n"
     "      $ cairn kv delete redis/config/connections",
     NULL, 0, NULL},
    {"kv delete", "Removes data from the KV store",
     "Usage: cairn kv delete [options] KEY_OR_PREFIX\n\n"
     "  Removes the value from the key-value store at the given path. If no key\n"
     "  exists at the path, no action is taken.\n\n"
     "  To delete the value for the key named \"foo\" in the key-value store:\n\n"
     "      $ cairn kv delete foo\n\n"
     "  To delete all keys which start with \"foo\", specify the -recurse option:\n\n"
     "      $ cairn kv delete -recurse foo\n\n"
     "  This will delete the keys named \"foo\", \"food\", and \"foo/bar/zip\" if they\n"
     "  existed.",
     cli__kv_delete_flags, 1, cli__run_kv_delete},
    {"kv export", "Exports a tree from the KV store as JSON",
     "Usage: cairn kv export [KEY_OR_PREFIX]\n\n"
     "  Retrieves key-value pairs for the given prefix from the key-value store, and\n"
     "  writes a JSON representation to stdout. This can be used with the command\n"
     "  \"cairn kv import\" (or \"consul kv import\") to move entire trees between\n"
     "  clusters.\n\n"
     "      $ cairn kv export vault",
     NULL, 1, cli__run_kv_export},
    {"kv get", "Retrieves or lists data from the KV store",
     "Usage: cairn kv get [options] [KEY_OR_PREFIX]\n\n"
     "  Retrieves the value from the key-value store at the given key name. If no key\n"
     "  exists with that name, an error is returned. If a key exists with that name\n"
     "  but has no data, nothing is returned. If the name or prefix is omitted, it\n"
     "  defaults to \"\" which is the root of the key-value store.\n\n"
     "      $ cairn kv get foo\n\n"
     "  To view detailed information about the key, specify the \"-detailed\" flag:\n\n"
     "      $ cairn kv get -detailed foo\n\n"
     "  To list all key-value pairs under a prefix, specify the \"-recurse\" flag:\n\n"
     "      $ cairn kv get -recurse foo\n\n"
     "  To list only the keys under a prefix, use the \"-keys\" option instead:\n\n"
     "      $ cairn kv get -keys foo",
     cli__kv_get_flags, 1, cli__run_kv_get},
    {"kv import", "Imports a tree stored as JSON to the KV store",
     "Usage: cairn kv import [DATA]\n\n"
     "  Imports key-value pairs to the key-value store from the JSON representation\n"
     "  generated by the \"cairn kv export\" command.\n\n"
     "  The data can be read from a file by prefixing the filename with the \"@\"\n"
     "  symbol. For example:\n\n"
     "      $ cairn kv import @filename.json\n\n"
     "  Or it can be read from stdin using the \"-\" symbol:\n\n"
     "      $ cat filename.json | cairn kv import -\n\n"
     "  Alternatively the data may be provided as the final parameter to the command,\n"
     "  though care must be taken with regards to shell escaping.",
     NULL, 1, cli__run_kv_import},
    {"kv put", "Sets or updates data in the KV store",
     "Usage: cairn kv put [options] KEY [DATA]\n\n"
     "  Writes the data to the given path in the key-value store. The data can be of\n"
     "  any type.\n\n"
     "      $ cairn kv put config/redis/maxconns 5\n\n"
     "  The data can also be consumed from a file on disk by prefixing with the \"@\"\n"
     "  symbol:\n\n"
     "      $ cairn kv put config/program/license @license.lic\n\n"
     "  Or it can be read from stdin using the \"-\" symbol:\n\n"
     "      $ echo \"abcd1234\" | cairn kv put config/program/license -\n\n"
     "  The DATA argument itself is optional. If omitted, this will create an empty\n"
     "  key-value pair at the specified path.\n\n"
     "  To perform a Check-And-Set operation, specify the -cas flag with the\n"
     "  appropriate -modify-index flag corresponding to the key you want to perform\n"
     "  the CAS operation on:\n\n"
     "      $ cairn kv put -cas -modify-index=844 config/redis/maxconns 5",
     cli__kv_put_flags, 1, cli__run_kv_put},
    {"leave", "Gracefully leaves the Cairn cluster and shuts down",
     "Usage: cairn leave [options]\n\n"
     "  Causes the agent to gracefully leave the Cairn cluster and shutdown.",
     NULL, 1, cli__run_leave},
    {"reload", "Triggers the agent to reload configuration files",
     "Usage: cairn reload [options]\n\n"
     "  Causes the agent to reload configurations. This can be used instead\n"
     "  of sending the SIGHUP signal to the agent.",
     NULL, 1, cli__run_reload},
    {"lock", "Execute a command holding a lock",
     "Usage: cairn lock [options] prefix child...\n\n"
     "  Acquires a lock at a given prefix (the key prefix/.lock, as Consul's Go\n"
     "  client lays it out), and invokes a child process while holding it. The child\n"
     "  runs through the shell, in its own process group. If the lock is lost (its\n"
     "  session invalidated, or the key taken), the child is stopped (SIGTERM, then\n"
     "  SIGKILL after 5 s); it also dies if cairn lock itself is killed. On exit\n"
     "  the lock is released and the session destroyed. With -n > 1 it holds one of\n"
     "  n slots of a semaphore (the Go client's SemaphorePrefix layout).\n\n"
     "      $ cairn lock service/leader ./run-as-leader.sh",
     cli__lock_flags, 1, cli__run_lock},
    {"maint", "Controls node or service maintenance mode",
     "Usage: cairn maint [options]\n\n"
     "  Places a node or service into maintenance mode. During maintenance mode, the\n"
     "  node or service will be excluded from all queries through the DNS or API\n"
     "  interfaces, effectively taking it out of the pool of available nodes. This is\n"
     "  done by registering an additional critical health check.\n\n"
     "  When enabling maintenance mode for a node or service, you may optionally\n"
     "  specify a reason string. This string will appear in the \"Notes\" field of\n"
     "  the critical health check which is registered against the node or service.\n"
     "  If no reason is provided, a default value will be used.\n\n"
     "  Maintenance mode is persistent and will be restored on agent restart. It will\n"
     "  therefore be required to disable maintenance mode on a given node or service\n"
     "  before it will be placed back into any pool.\n\n"
     "  If no arguments are given, the current maintenance status is listed.",
     cli__maint_flags, 1, cli__run_maint},
    {"members", "Lists the members of a Cairn cluster",
     "Usage: cairn members [options]\n\n"
     "  Outputs the members of a running Cairn agent.",
     cli__members_flags, 1, cli__run_members},
    {"monitor", "Stream logs from a Cairn agent",
     "Usage: cairn monitor [options]\n\n"
     "  Shows recent log messages of a Cairn agent, and attaches to the agent,\n"
     "  outputting log messages as they occur in real time. The monitor lets you\n"
     "  listen for log levels that may be filtered out of the agent's own log, such\n"
     "  as debug. A reader too slow for the log loses lines, reported in a WARN\n"
     "  line. It runs until interrupted or the agent goes away.",
     cli__monitor_flags, 1, cli__run_monitor},
    {"operator", "Provides cluster-level tools for Cairn operators",
     "Usage: cairn operator <subcommand> [options]\n\n"
     "  Provides cluster-level tools for Cairn operators, such as interacting with\n"
     "  the Raft subsystem. NOTE: Use this command with extreme caution, as improper\n"
     "  use could lead to a Cairn outage and even loss of data.",
     NULL, 0, NULL},
    {"operator raft", "Provides cluster-level tools for Cairn operators",
     "Usage: cairn operator raft <subcommand> [options]\n\n"
     "  The Raft operator command is used to interact with Cairn's Raft subsystem. The\n"
     "  command can be used to verify Raft peers or in rare cases to recover quorum by\n"
     "  removing invalid peers.",
     NULL, 0, NULL},
    {"operator raft list-peers", "Display the current Raft peer configuration",
     "Usage: cairn operator raft list-peers [options]\n\n"
     "  Displays the current Raft peer configuration.",
     NULL, 1, cli__run_raft_list_peers},
    {"operator raft remove-peer", "Remove a Cairn server from the Raft configuration",
     "Usage: cairn operator raft remove-peer [options]\n\n"
     "  Remove the Cairn server with given -address (or -id) from the Raft\n"
     "  configuration.\n\n"
     "  There are rare cases where a peer may be left behind in the Raft quorum even\n"
     "  though the server is no longer present and known to the cluster. This command\n"
     "  can be used to remove the failed server so that it no longer affects the Raft\n"
     "  quorum.",
     cli__raft_remove_peer_flags, 1, cli__run_raft_remove_peer},
    {"operator raft transfer-leader", "Transfer raft leadership to another node",
     "Usage: cairn operator raft transfer-leader [options]\n\n"
     "  Transfer raft leadership to another node (the most up to date voter\n"
     "  unless -id names one).",
     cli__raft_transfer_leader_flags, 1, cli__run_raft_transfer_leader},
    {"pick", "Picks one healthy instance of a service for a key",
     "Usage: cairn pick [options] SERVICE KEY\n\n"
     "  Prints the instance of SERVICE that the registry's consistent hashing picks\n"
     "  for KEY among the healthy instances (cairn's ?pick= on /v1/health/service).\n"
     "  Every agent and server with the same healthy set picks the same instance for\n"
     "  the same key, and so does libcairn's cairn_pick().\n\n"
     "      $ cairn pick web user-42\n"
     "      $ cairn pick -policy=rendezvous web user-42",
     cli__pick_flags, 1, cli__run_pick},
    {"rtt", "Estimates network round trip time between nodes",
     "Usage: cairn rtt [options] node1 [node2]\n\n"
     "  Estimates the round trip time between two nodes using Serf's network\n"
     "  coordinate model of the cluster.\n\n"
     "  At least one node name is required. If the second node name isn't given, it\n"
     "  is set to the agent's node name. These are the node names as known to\n"
     "  Cairn as the \"cairn members\" command would show, not IP addresses.\n\n"
     "  The two nodes are nodes of the local datacenter and their LAN coordinates\n"
     "  are used (-wan, WAN coordinates, needs a WAN pool cairn does not have yet).",
     cli__rtt_flags, 1, cli__run_rtt},
    {"services", "Interact with services",
     "Usage: cairn services <subcommand> [options] [args]\n\n"
     "  This command has subcommands for interacting with services. The subcommands\n"
     "  default to working with services registered with the local agent.\n\n"
     "  Register a service using flags:\n\n"
     "      $ cairn services register -name=web -port=8080 -tag=v1\n\n"
     "  Register services from a JSON definition file:\n\n"
     "      $ cairn services register web.json\n\n"
     "  Deregister a service by ID:\n\n"
     "      $ cairn services deregister -id=web",
     NULL, 0, NULL},
    {"services deregister", "Deregister services with the local agent",
     "Usage: cairn services deregister [options] [FILE...]\n\n"
     "  Deregister one or more services that were previously registered with the\n"
     "  local agent.\n\n"
     "      $ cairn services deregister web.json db.json\n\n"
     "  The -id flag may be used to deregister a single service by ID:\n\n"
     "      $ cairn services deregister -id=web\n\n"
     "  Services are deregistered from the local agent catalog. This command must be\n"
     "  run against the same agent where the service was registered.",
     cli__services_deregister_flags, 1, cli__run_services_deregister},
    {"services query", "Lists the instances of a service with their health (cairn's own)",
     "Usage: cairn services query NAME [options]\n\n"
     "  Lists every instance of service NAME in the catalog with its node, ID,\n"
     "  address, port, aggregated health (the worst of its checks: critical >\n"
     "  warning > passing; maintenance when a maintenance check is on) and tags.\n"
     "  Consul has no such command: this is cairn's.\n\n"
     "      $ cairn services query web -tag=primary -passing",
     cli__services_query_flags, 1, cli__run_services_query},
    {"services register", "Register services with the local agent",
     "Usage: cairn services register [options] [FILE...]\n\n"
     "  Register one or more services using the local agent API. Services can be\n"
     "  registered from JSON definition files in Consul's format ({\"service\": {...}}\n"
     "  or {\"services\": [...]}) or using flags. The service is registered and the\n"
     "  command returns. The caller must remember to call \"cairn services\n"
     "  deregister\" or a similar API to deregister the service when complete.\n\n"
     "      $ cairn services register web.json\n\n"
     "  When both files and flags are given, the flags fill in what the files leave\n"
     "  unset; tags and meta are added.",
     cli__services_register_flags, 1, cli__run_services_register},
    {"tls", "Builtin helpers for creating CAs and certificates",
     "Usage: cairn tls <subcommand> <subcommand> [options]\n\n"
     "  Helpers for a TLS setup: a CA and certificates for servers, clients and the\n"
     "  CLI, with Consul's file names (docs/tls.md).\n\n"
     "      $ cairn tls ca create\n"
     "      $ cairn tls cert create -server -dc dc1\n"
     "      $ cairn tls cert create -client -dc dc1",
     NULL, 0, NULL},
    {"tls ca", "Helpers for CAs", "Usage: cairn tls ca <subcommand> [options]\n\n  Create a CA.",
     NULL, 0, NULL},
    {"tls ca create", "Create a new cairn CA",
     "Usage: cairn tls ca create [options]\n\n"
     "  Create a new CA: an ECDSA P-256 key and a self-signed certificate,\n"
     "  written to <domain>-agent-ca.pem and <domain>-agent-ca-key.pem.\n\n"
     "      $ cairn tls ca create\n"
     "      ==> Saved consul-agent-ca.pem\n"
     "      ==> Saved consul-agent-ca-key.pem",
     cli__tls_ca_flags, 0, cli__run_tls_ca_create},
    {"tls cert", "Helpers for certificates",
     "Usage: cairn tls cert <subcommand> [options]\n\n  Create a certificate.", NULL, 0, NULL},
    {"tls cert create", "Create a new certificate",
     "Usage: cairn tls cert create [options]\n\n"
     "  Create a new certificate signed by the CA: <dc>-<kind>-<domain>-<n>.pem and\n"
     "  -key.pem, n the first free index. Server certificates name\n"
     "  server.<dc>.<domain>, localhost and 127.0.0.1.\n\n"
     "      $ cairn tls cert create -server\n"
     "      ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
     "      ==> Saved dc1-server-consul-0.pem\n"
     "      ==> Saved dc1-server-consul-0-key.pem\n"
     "      $ cairn tls cert create -client",
     cli__tls_cert_flags, 0, cli__run_tls_cert_create},
    /* Listed here for `cairn -h`; main.c hands `cairn validate` to the agent
     * module (agent/validate.c), which owns the options table. */
    {"snapshot", "Saves, restores and inspects snapshots of Cairn server state",
     "Usage: cairn snapshot <subcommand> [options] [args]\n\n"
     "  This command has subcommands for saving, restoring, and inspecting the state\n"
     "  of the Cairn servers for disaster recovery. These are atomic, point-in-time\n"
     "  snapshots which include key/value entries, service catalog, prepared queries,\n"
     "  and sessions. Cairn reads only its own archives, not Consul's.\n\n"
     "  Create a snapshot:\n\n"
     "      $ cairn snapshot save backup.snap\n\n"
     "  Restore a snapshot:\n\n"
     "      $ cairn snapshot restore backup.snap\n\n"
     "  Inspect a snapshot:\n\n"
     "      $ cairn snapshot inspect backup.snap",
     NULL, 0, NULL},
    {"snapshot inspect", "Displays information about a Cairn snapshot file",
     "Usage: cairn snapshot inspect [options] FILE\n\n"
     "  Displays information about a snapshot file on disk, after checking every\n"
     "  checksum in it: its ID, size, index, term, version, and the number of\n"
     "  entries of each table.\n\n"
     "      $ cairn snapshot inspect backup.snap",
     cli__snapshot_inspect_flags, 0, cli__run_snapshot_inspect},
    {"snapshot restore", "Restores snapshot of Cairn server state",
     "Usage: cairn snapshot restore [options] FILE\n\n"
     "  Restores an atomic, point-in-time snapshot of the state of the Cairn servers\n"
     "  which includes key/value entries, service catalog, prepared queries, and\n"
     "  sessions. The restore goes through the Raft log: every server replaces its\n"
     "  state at the same index. A damaged file is refused and nothing changes.\n\n"
     "      $ cairn snapshot restore backup.snap",
     NULL, 1, cli__run_snapshot_restore},
    {"snapshot save", "Saves snapshot of Cairn server state",
     "Usage: cairn snapshot save [options] FILE\n\n"
     "  Retrieves an atomic, point-in-time snapshot of the state of the Cairn servers\n"
     "  which includes key/value entries, service catalog, prepared queries, and\n"
     "  sessions, and verifies it once written. With -stale any server may answer.\n\n"
     "      $ cairn snapshot save backup.snap",
     NULL, 1, cli__run_snapshot_save},
    {"validate", "Validate config files/directories",
     "Usage: cairn validate [options] FILE_OR_DIRECTORY...", NULL, 0, NULL},
    {"version", "Prints the Cairn version",
     "Usage: cairn version [options]\n\n"
     "  Prints the Cairn version and the protocol versions it understands.",
     cli__version_flags, 0, cli__run_version},
    {"watch", "Watch for changes in Cairn",
     "Usage: cairn watch -type=<type> [options] [child...]\n\n"
     "  Watches for changes in a given data view from Cairn. If a child process is\n"
     "  specified, it is invoked (through the shell) with the latest results on\n"
     "  stdin; otherwise the results are printed on stdout, once per change. The\n"
     "  watch keeps running across agent restarts (errors back off, 1 s to 30 s).\n\n"
     "  Types: key (-key), keyprefix (-prefix), services, nodes,\n"
     "  service (-service, -tag, -passing), checks (-service or -state), event (-name).",
     cli__watch_flags, 1, cli__run_watch},
};
const size_t cli__ncmds = sizeof(cli__cmds) / sizeof(cli__cmds[0]);

static const struct cli_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < cli__ncmds; i++)
        if (strcmp(cli__cmds[i].name, name) == 0)
            return &cli__cmds[i];
    return NULL;
}

/* Direct children of `parent` ("" for top level), in table (alphabetical) order. */
static void list_children(FILE *f, const char *parent)
{
    size_t pl = strlen(parent), w = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cli__ncmds; i++) {
            const char *n = cli__cmds[i].name;
            if (pl) {
                if (strncmp(n, parent, pl) != 0 || n[pl] != ' ')
                    continue;
                n += pl + 1;
            }
            if (strchr(n, ' '))
                continue;
            if (pass == 0 && strlen(n) > w)
                w = strlen(n);
            if (pass == 1)
                fprintf(f, "    %-*s    %s\n", (int)w, n, cli__cmds[i].synopsis);
        }
    }
}

static void top_usage(FILE *f)
{
    fprintf(f, "Usage: cairn [--version] [--help] <command> [<args>]\n\nAvailable commands "
               "are:\n");
    list_children(f, "");
    fputc('\n', f);
}

static void cmd_help(FILE *f, const struct cli_cmd *cmd)
{
    struct cn_buf b = CN_BUF_INIT;
    cn_buf_printf(&b, "%s\n", cmd->usage);
    if (cmd->http)
        cli__flags_usage(&b, "HTTP API Options", cli__http_flags);
    cli__flags_usage(&b, "Command Options", cmd->flags);
    if (!cmd->run) {
        cn_buf_puts(&b, "\nSubcommands:\n");
    }
    if (b.p)
        fwrite(b.p, 1, b.len, f);
    if (!cmd->run)
        list_children(f, cmd->name);
    cn_buf_free(&b);
}

void cli__cmd_help(FILE *f, const char *name)
{
    for (size_t i = 0; i < cli__ncmds; i++)
        if (!strcmp(cli__cmds[i].name, name))
            cmd_help(f, &cli__cmds[i]);
}

static int run_cmd(const struct cli_cmd *cmd, int argc, char **argv, FILE *out, FILE *err)
{
    const struct cli_flag *tables[2];
    size_t nt = 0;
    if (cmd->http)
        tables[nt++] = cli__http_flags;
    if (cmd->flags)
        tables[nt++] = cmd->flags;
    struct cli_args a;
    char msg[512];
    int rc = cli__args_parse(&a, tables, nt, argc, argv, msg, sizeof(msg));
    int exit_code;
    if (rc < 0) {
        fprintf(err, "%s\nRun \"cairn %s -h\" for usage.\n",
                rc == CN_ENOMEM ? "out of memory" : msg, cmd->name);
        exit_code = 1;
    } else if (a.help) {
        cmd_help(out, cmd);
        exit_code = 0;
    } else {
        struct cli_ctx c = {.out = out, .err = err, .cmd = cmd->name, .args = &a};
        exit_code = cmd->run(&c, &a);
        cli__ctx_close(&c);
    }
    cli__args_free(&a);
    return exit_code;
}

static int has_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "-help") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

int cli__main_io(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2) {
        top_usage(err);
        return 127;
    }
    const char *first = argv[1];
    if (!strcmp(first, "-v") || !strcmp(first, "-version") || !strcmp(first, "--version"))
        return run_cmd(find_cmd("version"), argc - 2, argv + 2, out, err);
    if (!strcmp(first, "-h") || !strcmp(first, "-help") || !strcmp(first, "--help")) {
        top_usage(out);
        return 0;
    }
    /* `cairn help [COMMAND [SUBCOMMAND]]`: the same text as -h, on stdout. */
    if (!strcmp(first, "help")) {
        if (argc == 2) {
            top_usage(out);
            return 0;
        }
        char name[256] = "";
        for (int i = 2; i < argc; i++) {
            size_t l = strlen(name);
            snprintf(name + l, sizeof(name) - l, "%s%s", l ? " " : "", argv[i]);
        }
        const struct cli_cmd *hc = find_cmd(name);
        if (!hc) {
            fprintf(err, "Unknown command: \"%s\"\n\n", name);
            top_usage(err);
            return 127;
        }
        cmd_help(out, hc);
        return 0;
    }
    const struct cli_cmd *cmd = find_cmd(first);
    if (!cmd) {
        fprintf(err, "Unknown command: \"%s\"\n\n", first);
        top_usage(err);
        return 127;
    }
    /* Descend through groups ("operator raft list-peers" is two deep). */
    int used = 2;
    while (!cmd->run && argc > used) {
        char name[128];
        snprintf(name, sizeof(name), "%s %s", cmd->name, argv[used]);
        const struct cli_cmd *sub = find_cmd(name);
        if (!sub)
            break;
        cmd = sub;
        used++;
    }
    if (cmd->run)
        return run_cmd(cmd, argc - used, argv + used, out, err);
    if (has_help(argc - used, argv + used)) {
        cmd_help(out, cmd);
        return 0;
    }
    if (strcmp(cmd->name, "agent") == 0) {
        fprintf(err, "cairn agent: not available in this build\n");
        return 1;
    }
    /* A group with a missing or unknown subcommand, as Consul: help and exit 1. */
    if (argc > used)
        fprintf(err, "Unknown subcommand: \"%s %s\"\n\n", cmd->name, argv[used]);
    cmd_help(err, cmd);
    return 1;
}

int cli_main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cli__main_io(argc, argv, stdout, stderr);
    fflush(stdout);
    curl_global_cleanup();
    return rc;
}

/* ---- keygen ----------------------------------------------------------------- */

/* Consul's `consul keygen`: 32 random bytes, base64 (the gossip `encrypt`
 * key; AES-256-GCM). */
int cli__run_keygen(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    unsigned char k[33] = {0};
    if (getrandom(k, 32, 0) != 32) {
        fprintf(c->err, "Error reading random data: %s\n", strerror(errno));
        return 1;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[48];
    size_t o = 0;
    for (size_t i = 0; i < 32; i += 3) {
        unsigned v = (unsigned)k[i] << 16 | (unsigned)k[i + 1] << 8 | (i + 2 < 32 ? k[i + 2] : 0);
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < 32 ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < 32 ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    fprintf(c->out, "%s\n", out);
    return 0;
}

/* ---- version ---------------------------------------------------------------- */

const struct cli_flag cli__version_flags[] = {
    {"format", CLI_STR, "pretty|json", "Output format {pretty|json}. The default is pretty."},
    {NULL, 0, NULL, NULL},
};

int cli__run_version(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Too many arguments (expected 0, got %zu)\n", a->npos);
        return 1;
    }
    const char *fmt = cli__flag_str(a, "format", "pretty");
    /* Cairn speaks Consul's HTTP API; the protocol line mirrors `consul version`
     * so tools that scrape it keep working. */
    if (strcmp(fmt, "pretty") == 0) {
        fprintf(c->out,
                "Cairn v%s\n"
                "Consul API v%s (the Consul release whose HTTP API cairn follows)\n"
                "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use "
                "protocol >2 when speaking to compatible agents)\n",
                CAIRN_VERSION, CN_CONSUL_API_VERSION);
        return 0;
    }
    if (strcmp(fmt, "json") == 0) {
        fprintf(c->out,
                "{\n    \"Version\": \"%s\",\n    \"Revision\": \"\",\n    \"Prerelease\": \"\",\n"
                "    \"RPC\": {\n        \"Default\": 2,\n        \"Min\": 2,\n        \"Max\": 3\n"
                "    },\n    \"ConsulAPIVersion\": \"%s\"\n}\n",
                CAIRN_VERSION, CN_CONSUL_API_VERSION);
        return 0;
    }
    fprintf(c->err, "Unknown format: %s\n", fmt);
    return 1;
}
