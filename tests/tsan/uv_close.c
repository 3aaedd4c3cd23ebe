/* tests/tsan/uv_close.c: linked into every binary of the CAIRN_TSAN build only.
 *
 * Debian's libuv is not built with TSan, and on Linux it closes descriptors
 * with syscall(SYS_close, fd) rather than close() (src/unix/core.c,
 * uv__close_nocancel: close() is a pthread cancellation point in glibc).
 * TSan intercepts close() but not syscall(), so it never learns that a socket
 * the loop closed is gone: when the kernel hands the same number to a file the
 * writer or snapshot thread opens, TSan reports a "data race on file
 * descriptor N created at accept4/socket" between that thread's file I/O and
 * the socket's old life on the loop. This definition of syscall() interposes
 * libuv's (the executable's symbol wins; CMake forces it in with
 * -Wl,--undefined=syscall) and turns SYS_close into close(), so TSan sees every
 * close and no suppression is needed. cairn never cancels threads, so libuv's
 * reason for avoiding close() does not apply here. Every other call is passed
 * on unchanged. */
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*cn_syscall_fn)(long, ...);

long syscall(long number, ...)
{
    /* Like glibc's syscall(): six argument registers, whatever the call used. */
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close)
        return close((int)a[0]);
    static cn_syscall_fn real;
    cn_syscall_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = (cn_syscall_fn)dlsym(RTLD_NEXT, "syscall");
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
