/* agent/watches.h: the `watches` of the config files, run by the agent. Each
 * watch is a child process running `cairn watch` (cli/cmd_watch.c: the
 * blocking-query loop, its backoff and its handler) with the flags the
 * definition names (agent/defs.h), so the CLI and the agent share one
 * implementation. The children die with the agent (PR_SET_PDEATHSIG, through
 * CAIRN_WATCH_PARENT) and are killed and restarted on reload.
 * Loop thread only. */
#ifndef CN_AGENT_WATCHES_H
#define CN_AGENT_WATCHES_H

#include <uv.h>

#include "agent/config.h"

struct agent_watches;

/* Start one child per definition (errors are logged; a definition that does
 * not decode is skipped). http_addr: "http://host:port" of this agent.
 * NULL on out of memory. */
struct agent_watches *agent_watches_start(uv_loop_t *loop, const struct agent_config_defs *defs,
                                          const char *http_addr);
/* Kill the children; the memory goes once every handle has closed (the loop
 * must run). NULL ok. */
void agent_watches_stop(struct agent_watches *w);

#endif
