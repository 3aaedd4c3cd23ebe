#include "base/err.h"

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
