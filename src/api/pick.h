/* api/pick.h: ?pick=KEY&policy=... on /v1/health/service (api/pick.c). */
#ifndef CAIRN_API_PICK_H
#define CAIRN_API_PICK_H

struct api_ctx;
struct api_read;

/* NULL when ?pick/?policy are absent or valid, else the 400 text. */
const char *api_pick_check(struct api_ctx *c);
/* With ?pick, replace the finished list in r->body (a 200 JSON array) by the
 * chosen entry, or a 404 "No healthy instance to pick from". Leaves r's
 * index and watch alone, so the answer blocks like the list. */
void api_pick_apply(struct api_ctx *c, struct api_read *r);

#endif
