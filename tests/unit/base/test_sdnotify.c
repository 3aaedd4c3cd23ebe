/* Unit tests for base/sdnotify: the datagrams systemd's service manager
 * reads (sd_notify(3): one datagram of "VAR=value" lines on $NOTIFY_SOCKET,
 * a path or "@" for the abstract namespace). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/sdnotify.h"

/* A listening datagram socket at `addr` ("/path" or "@name"). */
static int listen_at(const char *addr)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(addr);
    memcpy(sa.sun_path, addr, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';
    else
        len++;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    return fd;
}

static void recv_expect(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/cn-sdnotify-%d", (int)getpid());
    unlink(path);
    int fd = listen_at(path);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(cn_sd_notify("READY=1\nSTATUS=serving"), 1);
    recv_expect(fd, "READY=1\nSTATUS=serving");
    assert_int_equal(cn_sd_notify("STOPPING=1"), 1);
    recv_expect(fd, "STOPPING=1");
    close(fd);
    unlink(path);
    /* Nobody listening any more: an error, not a crash, not a block. */
    assert_int_equal(cn_sd_notify("READY=1"), CN_EIO);
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@cn-sdnotify-%d", (int)getpid());
    int fd = listen_at(name);
    assert_int_equal(cn_sd_notify_to(name, "RELOADING=1"), 1);
    recv_expect(fd, "RELOADING=1");
    close(fd);
}

static void test_unset_and_bad(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(cn_sd_notify("READY=1"), 0);
    assert_int_equal(cn_sd_notify_to("", "READY=1"), 0);
    assert_int_equal(cn_sd_notify_to("relative/path", "READY=1"), CN_EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(cn_sd_notify_to(longp, "READY=1"), CN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_unset_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
