/* agent/agent.h: the cairn agent process: configuration, the event loop, and
 * the wiring of server (write path + state), http, api and the local agent
 * state. `cairn agent ...` lands here. */
#ifndef CN_AGENT_H
#define CN_AGENT_H

/* argv[0] is "agent". Returns the process exit status. */
int agent_main(int argc, char **argv);
/* `cairn validate [-config-format=] [-quiet] PATH...` (argv[0] is
 * "validate"): load the files as the agent would, start nothing. Returns 0
 * when valid, else 1 after printing every error. */
int agent_validate_main(int argc, char **argv);

#endif
