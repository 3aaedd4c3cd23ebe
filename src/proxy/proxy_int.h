/* proxy/proxy_int.h: shared among the files of proxy/ (hcli.c: requests to
 * the agent; proxy.c: the proxy). */
#ifndef CN_PROXY_INT_H
#define CN_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proxy/hresp.h"
#include "proxy/proxy.h"

#define PX_HTTP_MAX (16u << 20) /* the largest answer read from the agent */

struct px_http;
/* rc 0: r is the answer (its body is freed after the call); otherwise err
 * says why (no answer). */
typedef void (*px_http_cb)(void *arg, int rc, struct px_hresp *r, const char *err);
/* Start one request; NULL when it could not start (cb is not called). */
struct px_http *px_http_do(uv_loop_t *loop, const struct sockaddr *agent, const char *method,
                           const char *target, const char *token, const char *body, size_t blen,
                           uint64_t timeout_ms, px_http_cb cb, void *arg);
/* Abandon a request: its callback is never called. NULL ok. */
void px_http_cancel(struct px_http *q);

#endif
