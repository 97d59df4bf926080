#include "aimguard/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* room for `need` more bytes plus the NUL */
static int reserve(ag_buf *b, size_t need)
{
    if (b->oom)
        return -1;
    if (need < b->cap - b->len)
        return 0;
    if (need > ((size_t)-1) / 4 - b->len) {
        b->oom = 1;
        return -1;
    }
    size_t nc = b->cap ? b->cap : 64;
    while (nc - b->len <= need)
        nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = nc;
    return 0;
}

void ag_buf_addn(ag_buf *b, const char *s, size_t n)
{
    if (reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ag_buf_add(ag_buf *b, const char *s)
{
    ag_buf_addn(b, s, strlen(s));
}

void ag_buf_vprintf(ag_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        b->oom = 1;
    } else if ((size_t)n < sizeof small) {
        ag_buf_addn(b, small, (size_t)n);
    } else if (!reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void ag_buf_printf(ag_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ag_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *ag_buf_take(ag_buf *b)
{
    char *s = b->p;
    if (b->oom) {
        free(s);
        s = NULL;
    } else if (!s) {
        s = strdup("");
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return s;
}

void ag_buf_clear(ag_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
