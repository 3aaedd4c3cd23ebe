/* base/err.h: cairn's single error space.
 * Every fallible function returns 0 on success or a negative CN_E* code.
 * libuv and errno values are translated once, at the edge. */
#ifndef CN_ERR_H
#define CN_ERR_H

#define CN_ERRORS(X)                                                                               \
    X(CN_ENOMEM, -1, "out of memory")                                                              \
    X(CN_EINVAL, -2, "invalid argument")                                                           \
    X(CN_ENOTFOUND, -3, "not found")                                                               \
    X(CN_ECONFLICT, -4, "conflict")                                                                \
    X(CN_ETOOBIG, -5, "too large")                                                                 \
    X(CN_EIO, -6, "I/O error")                                                                     \
    X(CN_ECORRUPT, -7, "data corrupt")                                                             \
    X(CN_EEXIST, -8, "already exists")                                                             \
    X(CN_ESHUTDOWN, -9, "shutting down")                                                           \
    X(CN_EPROTO, -10, "protocol error")                                                            \
    X(CN_EAGAIN, -11, "try again")                                                                 \
    X(CN_ERANGE, -12, "out of range")

enum cn_err {
    CN_OK = 0,
#define CN_ERR_ENUM(name, val, msg) name = val,
    CN_ERRORS(CN_ERR_ENUM)
#undef CN_ERR_ENUM
};

/* A static string describing `rc` (never NULL). */
const char *cn_strerror(int rc);

/* Evaluate `x` (an int-returning call); if it is non-zero, return it from the
 * enclosing function. For encoders/decoders that chain many fallible steps. */
#define CN_TRY(x)                                                                                  \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
    } while (0)

#endif
