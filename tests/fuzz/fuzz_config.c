/* Fuzz the agent's config file loader (HCL or JSON): any bytes must give either a
 * configuration or a clear error, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/defs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks the syntax (the loader goes by extension) */
    char path[] = "/tmp/cairn-fuzz-cfg-XXXXXX.json";
    int hcl = size > 0 && (data[0] & 1);
    if (hcl)
        memcpy(path + strlen(path) - 5, ".hcl\0", 5);
    int fd = mkstemps(path, hcl ? 4 : 5);
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
    if (agent_config_load(&cfg, 1, argv, &help, err, sizeof(err)) == 0)
        agent_defs_validate(&cfg, err, sizeof(err)); /* service, check, watch definitions */
    agent_config_free(&cfg);
    unlink(path);
    return 0;
}
