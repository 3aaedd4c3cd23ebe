/* agent/filedefs.h: keeps the agent's registrations in step with the service
 * and check definitions of its config files. At start every definition is
 * registered (as /v1/agent/service/register and /v1/agent/check/register
 * would); on reload the new set is registered again (an unchanged check keeps
 * its status, local.h) and what the files no longer define is deregistered.
 * Registrations made through the HTTP API are never touched. A registration
 * that fails for a reason other than its content (no leader yet) is retried
 * every 2 s. Loop thread only. */
#ifndef CN_AGENT_FILEDEFS_H
#define CN_AGENT_FILEDEFS_H

#include <uv.h>

#include "agent/config.h"
#include "local/local.h"

struct agent_filedefs;

/* NULL on out of memory. */
struct agent_filedefs *agent_filedefs_new(uv_loop_t *loop, struct local *l);
/* Make the file-defined registrations match cfg's definitions (validated
 * beforehand with agent_defs_validate; one that fails to decode is logged). */
void agent_filedefs_apply(struct agent_filedefs *f, const struct agent_config *cfg);
/* Stop retrying; the memory goes when its timer has closed and every write
 * in flight has called back. Call before local_free. NULL ok. */
void agent_filedefs_free(struct agent_filedefs *f);

#endif
