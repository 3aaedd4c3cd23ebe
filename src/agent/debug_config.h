/* agent/debug_config.h: /v1/agent/self's DebugConfig, built from the agent's
 * configuration with Consul's RuntimeConfig key names. */
#ifndef CN_AGENT_DEBUG_CONFIG_H
#define CN_AGENT_DEBUG_CONFIG_H

#include "agent/config.h"
#include "base/buf.h"

/* Appends one JSON object to out. Strings are read, not kept. Returns 0 or
 * CN_ENOMEM (out then holds a partial object). */
int agent_debug_config_json(const struct agent_config *c, const char *node_id,
                            const char *advertise, int http_port, struct cn_buf *out);

#endif
