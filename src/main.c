/* cairn: `cairn agent ...` runs the agent; every other command is the CLI. */
#include <string.h>

#include "agent/agent.h"
#include "cli/cli.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "agent") == 0)
        return agent_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "validate") == 0)
        return agent_validate_main(argc - 1, argv + 1);
    return cli_main(argc, argv);
}
