/* A tiny server answering 200 "ok" to everything: for wrk runs against the
 * HTTP layer alone (`http_ok_server [port]`, prints the port). Not a test. */
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "http/http.h"

static void handler(void *arg, struct http_req *req)
{
    http_respond(req, 200, "text/plain", NULL, 0, "ok", 2);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    struct http_options o = {
        .host = "127.0.0.1", .port = argc > 1 ? atoi(argv[1]) : 0, .handler = handler};
    struct http_server *s;
    char err[256];
    if (http_server_start(loop, &o, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%d\n", http_server_port(s));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
