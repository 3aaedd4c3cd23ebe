/* agent/defs.h: service, check and watch definitions from config files
 * (struct agent_config_defs) into what the agent runs: a service definition
 * is decoded exactly as a /v1/agent/service/register body (api/decode.h), a
 * check as a /v1/agent/check/register body, a watch into the argv of
 * `cairn watch` (cli/cmd_watch.c), which the agent runs as a child.
 * Errors carry the file:line:column of the definition. No I/O. */
#ifndef CN_AGENT_DEFS_H
#define CN_AGENT_DEFS_H

#include <stddef.h>

#include "agent/config.h"
#include "local/local.h"
#include "state/state.h"

/* Decode one service definition into *out (released with
 * local_svc_def_free). Returns 0, CN_EINVAL or CN_ENOMEM with
 * "FILE:LINE:COL: service \"name\": message" in err. */
int agent_defs_service(const struct agent_config_def *d, struct local_svc_def *out, char *err,
                       size_t errcap);
/* One check definition (released with state_check_clear). */
int agent_defs_check(const struct agent_config_def *d, struct state_check *out, char *err,
                     size_t errcap);

/* The argv of a watch: {"watch", "-type=...", ..., HANDLER} (handler: the
 * script's args shell-quoted and joined, or `handler` as written). *argv is
 * cn_malloc'ed, NULL-terminated, and owns its strings (agent_defs_argv_free).
 * http_addr is passed as -http-addr unless NULL. */
int agent_defs_watch_argv(const struct agent_config_def *d, const char *http_addr, char ***argv,
                          char *err, size_t errcap);
void agent_defs_argv_free(char **argv);

/* Every definition of cfg checked; every error, one per line, in err.
 * Returns 0 or CN_EINVAL. */
int agent_defs_validate(const struct agent_config *cfg, char *err, size_t errcap);

#endif
