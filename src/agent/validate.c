/* agent/validate.c: `cairn validate [-config-format=hcl|json] [-quiet] PATH...`,
 * Consul's `consul validate`
 * (https://developer.hashicorp.com/consul/commands/validate): the files and
 * directories are loaded as one configuration, exactly as the agent would
 * load them (definitions included), and nothing is started. Exit 0 with
 * "Configuration is valid!", or 1 with every error. */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/tls.h"
#include "agent/defs.h"
#include "base/err.h"
#include "base/mem.h"

#include <sys/stat.h>

int agent_validate_main(int argc, char **argv)
{
    bool quiet = false;
    const char *format = NULL;
    char **args = cn_calloc((size_t)argc + 2, sizeof(*args));
    char **owned = cn_calloc((size_t)argc + 2, sizeof(*owned));
    int n = 0, npaths = 0, status = 1;
    if (!args || !owned) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "-help") || !strcmp(a, "--help")) {
            printf("Usage: cairn validate [options] FILE_OR_DIRECTORY...\n\n"
                   "  Performs a thorough sanity test on cairn (Consul) configuration files.\n"
                   "  For each file or directory given, the configuration is loaded as the\n"
                   "  agent would load it, and every error is printed.\n\n"
                   "Command Options\n\n"
                   "  -config-format=<string>\n"
                   "     Config files are in this format irrespective of their extension.\n"
                   "     Must be 'hcl' or 'json'\n\n"
                   "  -quiet\n"
                   "     When given, a successful run will produce no output.\n");
            status = 0;
            goto out;
        }
        if (!strcmp(a, "-quiet") || !strcmp(a, "--quiet")) {
            quiet = true;
            continue;
        }
        if (!strncmp(a, "-config-format=", 15) || !strncmp(a, "--config-format=", 16)) {
            format = strchr(a, '=') + 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "flag provided but not defined: %s\n", a);
            goto out;
        }
        struct stat st;
        const char *flag = !stat(a, &st) && S_ISDIR(st.st_mode) ? "-config-dir=" : "-config-file=";
        size_t len = strlen(flag) + strlen(a) + 1;
        owned[n] = cn_malloc(len);
        if (!owned[n]) {
            fprintf(stderr, "out of memory\n");
            goto out;
        }
        snprintf(owned[n], len, "%s%s", flag, a);
        args[n] = owned[n];
        n++;
        npaths++;
    }
    if (npaths == 0) {
        fprintf(stderr, "Must specify at least one config file or directory\n");
        goto out;
    }
    char fmtflag[64];
    if (format) {
        snprintf(fmtflag, sizeof(fmtflag), "-config-format=%s", format);
        args[n++] = fmtflag;
    }
    struct agent_config cfg;
    char err[16384];
    bool help = false;
    int rc = agent_config_load(&cfg, n, args, &help, err, sizeof(err));
    /* the definitions of the files that did load are checked too: every error */
    size_t used = rc ? strlen(err) : 0;
    if (used + 1 < sizeof(err) && (rc == 0 || rc == CN_EINVAL) &&
        agent_defs_validate(&cfg, err + used + (used ? 1 : 0), sizeof(err) - used - 1)) {
        if (used)
            err[used] = '\n';
        rc = CN_EINVAL;
    }
    /* TLS files are read (and TLSv1_1 refused) as the agent would at start. */
    struct agent_tls tls;
    if (rc == 0 && agent_tls_load(&cfg, &tls, err, sizeof(err)) == 0)
        agent_tls_free(&tls);
    else if (rc == 0)
        rc = CN_EINVAL;
    agent_config_free(&cfg);
    if (rc) {
        fprintf(stderr, "Config validation failed: %s\n", err);
        goto out;
    }
    if (!quiet)
        printf("Configuration is valid!\n");
    status = 0;
out:
    for (int i = 0; owned && i < argc + 2; i++)
        cn_free(owned[i]);
    cn_free(owned);
    cn_free(args);
    return status;
}
