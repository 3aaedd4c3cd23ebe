/* Fuzz the agent's JSON config file loader: any bytes must give either a
 * configuration or a clear error, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/cairn-fuzz-cfg-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    char flag[64];
    snprintf(flag, sizeof(flag), "-config-file=%s", path);
    char *argv[] = {flag};
    struct agent_config cfg;
    char err[512];
    bool help;
    agent_config_load(&cfg, 1, argv, &help, err, sizeof(err));
    agent_config_free(&cfg);
    unlink(path);
    return 0;
}
