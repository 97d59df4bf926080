/* ag_error: the human-readable reason a call failed.
 *
 * Every function that can fail returns int (0 ok, negative error) and fills an
 * ag_error owned by the caller (usually on its stack). Thread-safety: none needed,
 * an ag_error is never shared between threads. */
#ifndef AIMGUARD_ERROR_H
#define AIMGUARD_ERROR_H

#include <stddef.h>

#define AG_ERROR_MSG_MAX 1024

enum {
    AG_OK = 0,
    AG_ERR = -1,       /* generic failure, see message */
    AG_ENOMEM = -2,    /* allocation failed */
    AG_EINVAL = -3,    /* bad input from a user or a peer */
    AG_EIO = -4,       /* file or socket error */
    AG_ENOTFOUND = -5, /* a thing asked for does not exist */
};

typedef struct ag_error {
    int code;
    char msg[AG_ERROR_MSG_MAX];
} ag_error;

/* Sets code and a printf-style message; err may be NULL. Returns code. */
int ag_error_set(ag_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "prefix: ". */
void ag_error_prefix(ag_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ag_error_clear(ag_error *err);

/* snprintf that says whether the text fit: 0, or -1 when it was cut. Paths and
 * messages built with it are bounded on purpose; a cut one still ends in NUL. */
int ag_strfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
