/* ag_json_write: the bytes of json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), appended to
 * one buffer. jansson writes through a callback per token into a string buffer, then
 * copies the result, and keeps a hash table of the open containers to refuse cycles;
 * values built by this program have no cycles, so none of that is paid for here.
 * test/fuzz/fuzz_json.c compares the two byte for byte. */
#include "aimguard/jsonio.h"

#include <stdio.h>
#include <string.h>

/* the bytes that need an escape: '"', '\\' and the control characters (jansson escapes
 * neither '/' nor anything non-ASCII without JSON_ESCAPE_SLASH / JSON_ENSURE_ASCII) */
static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* s[0..len) escaped as jansson escapes it, without the quotes */
static void escape(ag_buf *b, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c))
            continue;
        ag_buf_addn(b, s + run, i - run);
        run = i + 1;
        char seq[8];
        const char *e = seq;
        size_t n = 2;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            /* jansson: "\\u%04X", upper-case hex */
            snprintf(seq, sizeof seq, "\\u%04X", (unsigned)c);
            n = 6;
        }
        ag_buf_addn(b, e, n);
    }
    ag_buf_addn(b, s + run, len - run);
}

int ag_json_write_string(ag_buf *b, const char *s, size_t len)
{
    ag_buf_addn(b, "\"", 1);
    escape(b, s, len);
    ag_buf_addn(b, "\"", 1);
    return b->oom ? -1 : 0;
}

size_t ag_utf8_seq(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
               : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
        return 0;
    return n;
}

int ag_json_write_text(ag_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *run = p;
    ag_buf_addn(b, "\"", 1);
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = ag_utf8_seq(p);
        if (n) {
            p += n;
            continue;
        }
        escape(b, (const char *)run, (size_t)(p - run));
        ag_buf_addn(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        run = ++p;
    }
    escape(b, (const char *)run, (size_t)(p - run));
    ag_buf_addn(b, "\"", 1);
    return b->oom ? -1 : 0;
}

/* jansson's jsonp_dtostr: "%.<precision>g" (17 unless JSON_REAL_PRECISION says), ".0"
 * when the text would read back as an integer, and the exponent without '+' or leading
 * zeros */
void ag_json_write_real(ag_buf *b, double d, int precision)
{
    char t[64];
    int n = snprintf(t, sizeof t, "%.*g", precision, d);
    if (n < 0 || (size_t)n >= sizeof t - 2) {
        b->oom = 1; /* cannot happen for a finite double; never write a truncated number */
        return;
    }
    if (strspn(t, "0123456789-") == (size_t)n) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(t, 'e');
    if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '-')
            *to++ = *from++;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1]) /* keep a lone final zero (never printed by %g) */
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(t);
    }
    ag_buf_addn(b, t, (size_t)n);
}

static int write_value(ag_buf *b, const json_t *v, int precision)
{
    if (!v) {
        b->oom = 1;
        return -1;
    }
    char t[32];
    switch (json_typeof(v)) {
    case JSON_NULL:
        ag_buf_addn(b, "null", 4);
        break;
    case JSON_TRUE:
        ag_buf_addn(b, "true", 4);
        break;
    case JSON_FALSE:
        ag_buf_addn(b, "false", 5);
        break;
    case JSON_INTEGER: {
        int n = snprintf(t, sizeof t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        ag_buf_addn(b, t, (size_t)n);
        break;
    }
    case JSON_REAL:
        ag_json_write_real(b, json_real_value(v), precision);
        break;
    case JSON_STRING:
        return ag_json_write_string(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        ag_buf_addn(b, "[", 1);
        for (size_t i = 0; i < n && !b->oom; i++) {
            if (i)
                ag_buf_addn(b, ",", 1);
            write_value(b, json_array_get(v, i), precision);
        }
        ag_buf_addn(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        /* insertion order: jansson 2.14's objects keep it and json_dumps follows it */
        ag_buf_addn(b, "{", 1);
        int first = 1;
        for (void *it = json_object_iter((json_t *)v); it && !b->oom;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                ag_buf_addn(b, ",", 1);
            first = 0;
            ag_json_write_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
            ag_buf_addn(b, ":", 1);
            write_value(b, json_object_iter_value(it), precision);
        }
        ag_buf_addn(b, "}", 1);
        break;
    }
    }
    return b->oom ? -1 : 0;
}

int ag_json_write(ag_buf *b, const json_t *v) { return write_value(b, v, 17); }

int ag_json_write_prec(ag_buf *b, const json_t *v, int real_precision)
{
    return write_value(b, v, real_precision >= 1 && real_precision <= 31 ? real_precision : 17);
}
