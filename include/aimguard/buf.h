/* ag_buf: a growable, NUL-terminated text buffer for messages, metrics and reports.
 *
 * Zero-initialise it (ag_buf b = {0};), append, then either take the text or free it.
 * An allocation failure sets `oom` and makes every later append a no-op, so a caller
 * checks once at the end instead of after every append; a buffer that ran out of
 * memory never hands out a truncated text (ag_buf_take returns NULL). Not shared
 * between threads. */
#ifndef AIMGUARD_BUF_H
#define AIMGUARD_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ag_buf {
    char *p;    /* the text so far (NULL until the first append) */
    size_t len; /* strlen(p) */
    size_t cap;
    int oom;    /* an append failed: the text is incomplete */
} ag_buf;

void ag_buf_addn(ag_buf *b, const char *s, size_t n);
void ag_buf_add(ag_buf *b, const char *s);
void ag_buf_printf(ag_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ag_buf_vprintf(ag_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* The text (caller frees), "" for an empty buffer, NULL after an allocation failure;
 * the buffer is left empty either way. */
char *ag_buf_take(ag_buf *b);
/* Releases the text; the buffer is empty and reusable (the ag_buf itself is the caller's). */
void ag_buf_clear(ag_buf *b);

#endif
