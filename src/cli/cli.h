/* cli/cli.h: the `cairn <command>` client, modelled on Consul's CLI
 * (https://developer.hashicorp.com/consul/commands). Every command talks HTTP to
 * a running agent (libcurl, blocking, one request at a time); nothing here links
 * the agent or touches its state directly.
 *
 * The agent itself (`cairn agent ...`) is dispatched by main.c before this is
 * called; `cairn agent` reaching cli_main() is reported as an error.
 *
 * Exit codes follow Consul: 0 success, 1 any error (usage, HTTP, I/O),
 * 2 for `members` when no member matches the filter, 127 for an unknown or
 * missing top-level command. Output goes to stdout, errors to stderr. */
#ifndef CN_CLI_H
#define CN_CLI_H

/* argv[0] is the program name, argv[1] the command. argv is borrowed for the
 * whole call. Returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
