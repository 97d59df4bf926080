/* ag_json_span: a JSON pointer resolved over the bytes of a text the reader accepted.
 * It skips what it passes (strings by their quotes and escapes, containers by their
 * brackets) and compares keys byte for byte; anything it does not expect makes it answer
 * UNSURE, never a guess, so that a caller falls back to reading the value. */
#include "aimguard/jsonspan.h"

#include <string.h>

typedef struct scan {
    const char *p, *end;
} scan;

static void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* s->p on the opening quote; after: past the closing one. Most of a text's bytes are
 * in strings: memchr finds each quote, and an odd run of backslashes before it escapes
 * it (a run never starts before the segment searched: that byte is a quote). */
static int skip_string(scan *s)
{
    s->p++;
    for (;;) {
        const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
        if (!q)
            return -1;
        const char *b = q;
        while (b > s->p && b[-1] == '\\')
            b--;
        s->p = q + 1;
        if (((q - b) & 1) == 0)
            return 0;
    }
}

/* s->p on a value's first byte; after: past its last */
static int skip_value(scan *s)
{
    if (s->p >= s->end)
        return -1;
    char c = *s->p;
    if (c == '"')
        return skip_string(s);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (s->p < s->end) {
            c = *s->p;
            if (c == '"') {
                if (skip_string(s))
                    return -1;
                continue;
            }
            s->p++;
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return 0;
        }
        return -1;
    }
    /* a number or a literal: up to the next delimiter */
    while (s->p < s->end) {
        char d = *s->p;
        if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\t' || d == '\n' || d == '\r')
            break;
        s->p++;
    }
    return 0;
}

/* 1 when the raw key (no escapes) equals the pointer segment seg[0..n) (~0 ~ and ~1 /) */
static int key_is(const char *key, size_t klen, const char *seg, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k++) {
        char c = seg[i];
        if (c == '~' && i + 1 < n && (seg[i + 1] == '0' || seg[i + 1] == '1'))
            c = seg[++i] == '0' ? '~' : '/';
        if (k >= klen || key[k] != c)
            return 0;
    }
    return k == klen;
}

/* Steps into the member seg of the object at s->p. */
static ag_span_result member(scan *s, const char *seg, size_t n)
{
    int unsure = 0;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}')
        return AG_SPAN_ABSENT;
    while (s->p < s->end) {
        if (*s->p != '"')
            return AG_SPAN_UNSURE;
        const char *key = s->p + 1;
        if (skip_string(s))
            return AG_SPAN_UNSURE;
        size_t klen = (size_t)(s->p - 1 - key);
        int escaped = memchr(key, '\\', klen) != NULL;
        unsure |= escaped;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return AG_SPAN_UNSURE;
        s->p++;
        ws(s);
        /* duplicate keys were refused by the reader: the first plain match is the one */
        if (!escaped && key_is(key, klen, seg, n))
            return AG_SPAN_FOUND;
        if (skip_value(s))
            return AG_SPAN_UNSURE;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == '}')
            return unsure ? AG_SPAN_UNSURE : AG_SPAN_ABSENT;
        return AG_SPAN_UNSURE;
    }
    return AG_SPAN_UNSURE;
}

/* Steps into element seg (a decimal index) of the array at s->p. */
static ag_span_result element(scan *s, const char *seg, size_t n)
{
    size_t index = 0;
    if (n == 0 || n > 9 || (n > 1 && seg[0] == '0'))
        return AG_SPAN_ABSENT;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return AG_SPAN_ABSENT;
        index = index * 10 + (size_t)(seg[i] - '0');
    }
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']')
        return AG_SPAN_ABSENT;
    for (size_t i = 0; s->p < s->end; i++) {
        if (i == index)
            return AG_SPAN_FOUND;
        if (skip_value(s))
            return AG_SPAN_UNSURE;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        return s->p < s->end && *s->p == ']' ? AG_SPAN_ABSENT : AG_SPAN_UNSURE;
    }
    return AG_SPAN_UNSURE;
}

ag_span_result ag_json_span(const char *text, size_t len, const char *ptr, size_t *off, size_t *vlen)
{
    scan s = {text, text + len};
    ws(&s);
    while (*ptr) {
        if (*ptr != '/')
            return AG_SPAN_UNSURE; /* not a JSON pointer */
        const char *seg = ptr + 1, *next = strchr(seg, '/');
        size_t n = next ? (size_t)(next - seg) : strlen(seg);
        ag_span_result r = s.p >= s.end ? AG_SPAN_UNSURE
                           : *s.p == '{' ? member(&s, seg, n)
                           : *s.p == '[' ? element(&s, seg, n) : AG_SPAN_ABSENT;
        if (r != AG_SPAN_FOUND)
            return r;
        ptr = seg + n;
    }
    const char *start = s.p;
    if (skip_value(&s) || s.p == start)
        return AG_SPAN_UNSURE;
    *off = (size_t)(start - text);
    *vlen = (size_t)(s.p - start);
    return AG_SPAN_FOUND;
}
