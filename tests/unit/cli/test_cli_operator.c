/* Unit tests for the cluster commands (cli/cmd_operator.c): `operator raft
 * list-peers|remove-peer|transfer-leader`, `join`, `leave`. A tiny HTTP
 * responder on a loopback port (one thread, one canned answer per
 * connection) records each request line, so the tests check both what the
 * command asks the agent and what it prints, with Consul's messages and exit
 * codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli_int.h"

/* ---- the fake agent ------------------------------------------------------- */

struct fake {
    int lfd;
    int port;
    pthread_t th;
    int status;       /* answer for every request */
    const char *body; /* answer body */
    char line[512];   /* last request line, "METHOD /path?query HTTP/1.1" */
    int nreq;
};

/* Read one request's head (and ignore any body: the commands send none). */
static void serve_one(struct fake *f, int fd)
{
    char buf[8192];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    buf[n] = '\0';
    size_t l = strcspn(buf, "\r\n");
    snprintf(f->line, sizeof(f->line), "%.*s", (int)l, buf);
    f->nreq++;
    char head[256];
    size_t blen = strlen(f->body);
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      f->status, blen);
    if (write(fd, head, (size_t)hl) < 0 || write(fd, f->body, blen) < 0)
        f->nreq += 1000; /* makes the test fail loudly */
    close(fd);
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    for (;;) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        serve_one(f, fd);
    }
}

static struct fake *fake_start(int status, const char *body)
{
    struct fake *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->status = status;
    f->body = body;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
    return f;
}

static void fake_stop(struct fake *f)
{
    shutdown(f->lfd, SHUT_RDWR); /* wakes accept() */
    close(f->lfd);
    pthread_join(f->th, NULL);
    free(f);
}

/* ---- running commands ------------------------------------------------------ */

struct run {
    int code;
    char *out, *err;
    size_t out_len, err_len;
};

static struct run run_argv(int argc, char **argv)
{
    struct run r = {0};
    FILE *o = open_memstream(&r.out, &r.out_len);
    FILE *e = open_memstream(&r.err, &r.err_len);
    r.code = cli__main_io(argc, argv, o, e);
    fclose(o);
    fclose(e);
    return r;
}

#define RUN(...)                                                                                   \
    run_argv((int)(sizeof((char *[]){"cairn", __VA_ARGS__}) / sizeof(char *)),                     \
             (char *[]){"cairn", __VA_ARGS__})

static void done(struct run *r)
{
    free(r->out);
    free(r->err);
}

static char addr_flag[64];

static const char *addr_of(const struct fake *f)
{
    snprintf(addr_flag, sizeof(addr_flag), "-http-addr=127.0.0.1:%d", f->port);
    return addr_flag;
}
#define ADDR(f) ((char *)addr_of(f))

/* ---- list-peers ------------------------------------------------------------- */

static const char config3[] =
    "{\"Servers\":["
    "{\"ID\":\"1\",\"Node\":\"n1\",\"Address\":\"127.0.0.1:8301\",\"Leader\":false,"
    "\"ProtocolVersion\":\"3\",\"Voter\":true},"
    "{\"ID\":\"2\",\"Node\":\"node-two\",\"Address\":\"127.0.0.1:8302\",\"Leader\":true,"
    "\"ProtocolVersion\":\"3\",\"Voter\":true},"
    "{\"ID\":\"3\",\"Node\":\"n3\",\"Address\":\"127.0.0.1:8303\",\"Leader\":false,"
    "\"ProtocolVersion\":\"\",\"Voter\":false}],\"Index\":12}";

static void test_list_peers(void **state)
{
    (void)state;
    struct fake *f = fake_start(200, config3);
    struct run r = RUN("operator", "raft", "list-peers", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_string_equal(f->line, "GET /v1/operator/raft/configuration HTTP/1.1");
    /* columnize: columns padded to the widest cell, two spaces apart. */
    assert_string_equal(r.out, "Node      ID  Address         State     Voter  RaftProtocol\n"
                               "n1        1   127.0.0.1:8301  follower  true   3\n"
                               "node-two  2   127.0.0.1:8302  leader    true   3\n"
                               "n3        3   127.0.0.1:8303  follower  false  <=1\n");
    assert_string_equal(r.err, "");
    done(&r);

    /* -stale reaches the agent as ?stale. */
    r = RUN("operator", "raft", "list-peers", "-stale", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(f->line, "/v1/operator/raft/configuration?"));
    assert_non_null(strstr(f->line, "stale"));
    done(&r);
    fake_stop(f);

    f = fake_start(500, "No cluster leader");
    r = RUN("operator", "raft", "list-peers", ADDR(f));
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error getting peers: Failed to retrieve raft configuration: "
                               "Unexpected response code: 500 (No cluster leader)\n");
    assert_string_equal(r.out, "");
    done(&r);
    fake_stop(f);
}

/* ---- remove-peer ------------------------------------------------------------- */

static void test_remove_peer(void **state)
{
    (void)state;
    /* Argument checks come before any request. */
    struct run r = RUN("operator", "raft", "remove-peer", "-http-addr=127.0.0.1:1");
    assert_int_equal(r.code, 1);
    assert_string_equal(
        r.err, "Error removing peer: an address or id is required for the peer to remove\n");
    done(&r);
    r = RUN("operator", "raft", "remove-peer", "-id=1", "-address=1.2.3.4:5",
            "-http-addr=127.0.0.1:1");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error removing peer: cannot give both an address and id\n");
    done(&r);

    struct fake *f = fake_start(200, "");
    r = RUN("operator", "raft", "remove-peer", "-address=127.0.0.1:8302", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_string_equal(f->line, "DELETE /v1/operator/raft/peer?address=127.0.0.1%3A8302 HTTP/1.1");
    assert_string_equal(r.out, "Removed peer with address \"127.0.0.1:8302\"\n");
    done(&r);
    r = RUN("operator", "raft", "remove-peer", "-id=3", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_string_equal(f->line, "DELETE /v1/operator/raft/peer?id=3 HTTP/1.1");
    assert_string_equal(r.out, "Removed peer with id \"3\"\n");
    done(&r);
    fake_stop(f);

    f = fake_start(500, "address \"1.2.3.4:5\" was not found in the Raft configuration");
    r = RUN("operator", "raft", "remove-peer", "-address=1.2.3.4:5", ADDR(f));
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error removing peer: Unexpected response code: 500 (address "
                               "\"1.2.3.4:5\" was not found in the Raft configuration)\n");
    assert_string_equal(r.out, "");
    done(&r);
    fake_stop(f);
}

/* ---- transfer-leader ----------------------------------------------------------- */

static void test_transfer_leader(void **state)
{
    (void)state;
    struct fake *f = fake_start(200, "{\"Success\":true}");
    struct run r = RUN("operator", "raft", "transfer-leader", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_string_equal(f->line, "POST /v1/operator/raft/transfer-leader HTTP/1.1");
    assert_string_equal(r.out, "Success\n");
    done(&r);
    r = RUN("operator", "raft", "transfer-leader", "-id=2", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_string_equal(f->line, "POST /v1/operator/raft/transfer-leader?id=2 HTTP/1.1");
    done(&r);
    fake_stop(f);

    f = fake_start(200, "{\"Success\":false}");
    r = RUN("operator", "raft", "transfer-leader", ADDR(f));
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error transfering leadership: Failed to transfer leadership\n");
    done(&r);
    fake_stop(f);

    f = fake_start(500, "No cluster leader");
    r = RUN("operator", "raft", "transfer-leader", ADDR(f));
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error transfering leadership: Failed to transfer leadership "
                               "Unexpected response code: 500 (No cluster leader)\n");
    done(&r);
    fake_stop(f);
}

/* ---- join / leave ---------------------------------------------------------------- */

static void test_join(void **state)
{
    (void)state;
    struct run r = RUN("join", "-http-addr=127.0.0.1:1");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "At least one address to join must be specified.\n"));
    assert_non_null(strstr(r.err, "Usage: cairn join"));
    done(&r);

    struct fake *f = fake_start(200, "");
    r = RUN("join", ADDR(f), "127.0.0.1:8301", "127.0.0.1:8302");
    assert_int_equal(r.code, 0);
    assert_int_equal(f->nreq, 2);
    assert_string_equal(f->line, "PUT /v1/agent/join/127.0.0.1%3A8302 HTTP/1.1");
    assert_string_equal(r.out, "Successfully joined cluster by contacting 2 nodes.\n");
    done(&r);
    fake_stop(f);

    f = fake_start(500, "dial tcp 10.9.9.9:8300: connection refused");
    r = RUN("join", ADDR(f), "10.9.9.9");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error joining address '10.9.9.9': Unexpected response code: "
                               "500 (dial tcp 10.9.9.9:8300: connection refused)\n"
                               "Failed to join any nodes.\n");
    assert_string_equal(r.out, "");
    done(&r);
    fake_stop(f);
}

static void test_leave(void **state)
{
    (void)state;
    struct run r = RUN("leave", "-http-addr=127.0.0.1:1", "extra", "args");
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err, "Error found unexpected args: [extra args]\n");
    assert_non_null(strstr(r.out, "Usage: cairn leave"));
    done(&r);

    struct fake *f = fake_start(200, "");
    r = RUN("leave", ADDR(f));
    assert_int_equal(r.code, 0);
    assert_string_equal(f->line, "PUT /v1/agent/leave HTTP/1.1");
    assert_string_equal(r.out, "Graceful leave complete\n");
    done(&r);
    fake_stop(f);

    f = fake_start(500, "No cluster leader");
    r = RUN("leave", ADDR(f));
    assert_int_equal(r.code, 1);
    assert_string_equal(r.err,
                        "Error leaving: Unexpected response code: 500 (No cluster leader)\n");
    done(&r);
    fake_stop(f);
}

/* ---- dispatch through two levels of groups --------------------------------------- */

static void test_groups(void **state)
{
    (void)state;
    struct run r = RUN("operator");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "    raft "));
    done(&r);
    r = RUN("operator", "raft");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "    list-peers "));
    assert_non_null(strstr(r.err, "    remove-peer "));
    assert_non_null(strstr(r.err, "    transfer-leader "));
    done(&r);
    r = RUN("operator", "raft", "frob");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "Unknown subcommand: \"operator raft frob\""));
    done(&r);
    r = RUN("operator", "raft", "remove-peer", "-h");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "Usage: cairn operator raft remove-peer"));
    assert_non_null(strstr(r.out, "\n  -address"));
    done(&r);
    r = RUN("operator", "raft", "list-peers", "-bogus");
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "flag provided but not defined: -bogus"));
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_peers),      cmocka_unit_test(test_remove_peer),
        cmocka_unit_test(test_transfer_leader), cmocka_unit_test(test_join),
        cmocka_unit_test(test_leave),           cmocka_unit_test(test_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
