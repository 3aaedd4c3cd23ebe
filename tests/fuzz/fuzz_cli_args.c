/* Fuzz the CLI's flag parser and address parser. Input: NUL-separated argv
 * words; the first word is also parsed as an -http-addr value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_int.h"

static const struct cli_flag flags[] = {
    {"recurse", CLI_BOOL, NULL, "r"},
    {"cas", CLI_BOOL, NULL, "c"},
    {"modify-index", CLI_U64, "n", "m"},
    {"flags", CLI_U64, "n", "f"},
    {"separator", CLI_STR, "s", "s"},
    {"tag", CLI_LIST, "t", "t"},
    {"meta", CLI_MAP, "k=v", "m"},
    {"port", CLI_INT, "p", "p"},
    {NULL, 0, NULL, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < 64;) {
        argv[argc++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    const struct cli_flag *tables[] = {flags};
    struct cli_args a;
    char err[256];
    cli__args_parse(&a, tables, 1, argc, argv, err, sizeof(err));
    cli__args_free(&a);
    struct cli_addr addr;
    cli__addr_parse(argv[0], size & 1, &addr, err, sizeof(err));
    free(copy);
    return 0;
}
