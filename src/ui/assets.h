/* ui/assets.h: the web UI's files as built into the binary. The table is
 * generated at build time from the repository's ui/ folder by
 * scripts/gen-ui-assets.cmake (ui_assets.c in the build tree). */
#ifndef CN_UI_ASSETS_H
#define CN_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
    const char *path;  /* under the UI prefix: "index.html", "js/app.js" */
    const char *ctype; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip copy, or NULL when not smaller */
    size_t gzlen;
    const char *etag; /* quoted: "\"0123456789abcdef\"" */
};

extern const struct ui_asset ui_assets[];
extern const size_t ui_nassets;

#endif
