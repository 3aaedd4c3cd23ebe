#include "base/err.h"

#include <errno.h>

const char *cn_strerror(int rc)
{
    switch (rc) {
    case CN_OK:
        return "ok";
#define CN_ERR_CASE(name, val, msg)                                                                \
    case name:                                                                                     \
        return msg;
        CN_ERRORS(CN_ERR_CASE)
#undef CN_ERR_CASE
    }
    return "unknown error";
}

int cn_err_from_errno(int e)
{
    switch (e) {
    case ENOMEM:
        return CN_ENOMEM;
    case EINVAL:
        return CN_EINVAL;
    case ENOENT:
        return CN_ENOTFOUND;
    case EEXIST:
        return CN_EEXIST;
    case EAGAIN:
        return CN_EAGAIN;
    case EFBIG:
    case E2BIG:
        return CN_ETOOBIG;
    default:
        return CN_EIO;
    }
}
