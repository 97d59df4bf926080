/* ag_json_read: a recursive-descent JSON reader over the caller's buffer, equal to
 * json_loadb(..., JSON_REJECT_DUPLICATES) in what it accepts and builds (test/fuzz/fuzz_json.c
 * holds it to that). jansson reads through a character stream that copies every byte into
 * a string buffer and checks UTF-8 byte by byte; here a string without escapes is handed
 * to json_stringn_nocheck straight from the input, after one validating pass. */
#include "aimguard/jsonio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* jansson's JSON_PARSER_MAX_DEPTH: it counts every value (scalars too), so a scalar
 * inside 2048 nested arrays is already too deep for it, and so for us. */
#define JANSSON_MAX_DEPTH 2048

/* A key of an object inside a pruned member: such objects are not built, so their
 * duplicate keys are found here. Entries of all open pruned objects live in one table,
 * pushed and popped like a stack (an object's keys go when it closes), told apart by
 * the object's serial number; the key bytes are in the arena at off. */
typedef struct kent {
    uint32_t hash, next; /* next: 1-based index of the next entry in the bucket, 0 = end */
    size_t serial, off, len;
} kent;

typedef struct reader {
    const unsigned char *start, *p, *end;
    int max_depth;
    const ag_json_prune *prune;
    size_t nprune;
    int *match;          /* per prune entry: how many of its keys the current path matched */
    size_t *spans;       /* per prune entry: offset and length of its member's bytes, or NULL */
    size_t *dropped_in;  /* per prune entry: serial of the object its member was dropped from */
    size_t serial;       /* objects opened so far */
    uint64_t seed;       /* of hash_key */
    char *a;             /* arena: decoded strings and pruned objects' keys (stack discipline) */
    size_t alen, acap;
    kent *ke;            /* the key table of pruned objects */
    size_t kn, kcap;
    uint32_t *heads;     /* nb buckets, 1-based entry indices */
    size_t nb;
    const char *err;     /* the first error */
    const unsigned char *errp;
    int too_deep;
    char inl[1024];      /* the arena's first bytes: most documents never need the heap */
    kent ke_inl[32];     /* and the key table's: a pruned managedFields entry fits */
    uint32_t heads_inl[32];
} reader;

static int fail(reader *r, const unsigned char *at, const char *text)
{
    if (!r->err) {
        r->err = text;
        r->errp = at;
    }
    return -1;
}

static const char oom_text[] = "out of memory";

static int oom(reader *r)
{
    return fail(r, r->p, oom_text);
}

/* room for n more arena bytes; offsets stay valid, pointers do not */
static int reserve(reader *r, size_t n)
{
    if (n <= r->acap - r->alen)
        return 0;
    if (n > SIZE_MAX / 4 - r->alen)
        return oom(r);
    size_t nc = r->acap * 2;
    while (nc - r->alen < n)
        nc *= 2;
    char *na;
    if (r->a == r->inl) {
        na = malloc(nc);
        if (na)
            memcpy(na, r->a, r->alen);
    } else {
        na = realloc(r->a, nc);
    }
    if (!na)
        return oom(r);
    r->a = na;
    r->acap = nc;
    return 0;
}

/* Byte classes, one load per byte in the two hot loops: bit 1 = a byte a string holds as
 * it is (printable ASCII but '"' and '\\'), bit 2 = JSON whitespace (' ' is both). */
static const unsigned char byte_class[256] = {
    /* 0x00-0x7F; 0x80-0xFF are 0 (UTF-8, checked apart) */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 2, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static void ws(reader *r)
{
    const unsigned char *p = r->p, *end = r->end;
    while (p < end && (byte_class[*p] & 2))
        p++;
    r->p = p;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* the 4 hex digits at p (p + 4 <= end checked by the caller), or -1 */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence of 2..4 bytes at p, 0 when invalid: the same
 * sequences jansson's utf8_check_full admits (no overlong forms, no encoded surrogates,
 * nothing beyond U+10FFFF, nothing cut off by the end of the input). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Lexes the string whose opening quote is at r->p, checking all of it. Without escapes,
 * *s points at its bytes in the input; with escapes and decode, they are decoded into
 * the arena at *off (the arena grows by *n) and *s is NULL; with escapes and no decode,
 * *s is NULL and nothing is decoded (a pruned value: only checked). */
static int lex_string(reader *r, int decode, const char **s, size_t *n, size_t *off)
{
    const unsigned char *p = r->p + 1, *end = r->end, *begin = p;
    int escapes = 0;
    for (;;) {
        /* the common bytes in one tight loop */
        while (p < end && (byte_class[*p] & 1))
            p++;
        if (p >= end)
            return fail(r, p, "premature end of input in a string");
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(r, p, "control character in a string");
        if (c >= 0x80) {
            size_t l = utf8_len(p, end);
            if (!l)
                return fail(r, p, "invalid UTF-8 in a string");
            p += l;
            continue;
        }
        /* a backslash */
        escapes = 1;
        if (end - p < 2)
            return fail(r, p, "premature end of input in a string");
        c = p[1];
        if (c == 'u') {
            long v = end - p >= 6 ? hex4(p + 2) : -1;
            if (v < 0)
                return fail(r, p, "invalid escape");
            if (v == 0)
                return fail(r, p, "\\u0000 is not allowed");
            if (v >= 0xDC00 && v <= 0xDFFF)
                return fail(r, p, "invalid Unicode escape (lone low surrogate)");
            if (v >= 0xD800 && v <= 0xDBFF) {
                long w = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
                if (w < 0xDC00 || w > 0xDFFF)
                    return fail(r, p, "invalid Unicode escape (lone high surrogate)");
                p += 6;
            }
            p += 6;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                   c == 'r' || c == 't') {
            p += 2;
        } else {
            return fail(r, p, "invalid escape");
        }
    }
    r->p = p + 1;
    *n = (size_t)(p - begin);
    *s = NULL;
    if (!escapes) {
        *s = (const char *)begin;
        return 0;
    }
    if (!decode)
        return 0;
    /* second pass, over text known to be valid: decoded, it is never longer */
    if (reserve(r, *n))
        return -1;
    *off = r->alen;
    char *o = r->a + r->alen;
    for (const unsigned char *q = begin; q < p;) {
        if (*q != '\\') {
            *o++ = (char)*q++;
            continue;
        }
        char e = (char)q[1];
        if (e != 'u') {
            *o++ = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r'
                 : e == 't' ? '\t' : e;
            q += 2;
            continue;
        }
        unsigned long v = (unsigned long)hex4(q + 2);
        q += 6;
        if (v >= 0xD800 && v <= 0xDBFF) {
            v = 0x10000 + ((v - 0xD800) << 10) + ((unsigned long)hex4(q + 2) - 0xDC00);
            q += 6;
        }
        if (v < 0x80) {
            *o++ = (char)v;
        } else if (v < 0x800) {
            *o++ = (char)(0xC0 | (v >> 6));
            *o++ = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            *o++ = (char)(0xE0 | (v >> 12));
            *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
            *o++ = (char)(0x80 | (v & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (v >> 18));
            *o++ = (char)(0x80 | ((v >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
            *o++ = (char)(0x80 | (v & 0x3F));
        }
    }
    *n = (size_t)(o - (r->a + r->alen));
    r->alen += *n;
    return 0;
}

/* jansson's quirk, kept so that both accept the same texts: its lexer reads one byte
 * past a number or a literal and puts it back, and a NUL byte put back reads as "no byte
 * buffered", so that one NUL is skipped ("[1\0]" is [1] to jansson). */
static const unsigned char *skip_nul(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p == '\0' ? p + 1 : p;
}

static int isdig(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number, with jansson's grammar and limits: no fraction or exponent makes a long
 * long (beyond its range is an error), anything else a double from strtod (an overflow
 * to infinity is an error, an underflow is not). out NULL: only checked. */
static int lex_number(reader *r, json_t **out)
{
    const unsigned char *s = r->p, *p = s, *end = r->end;
    int neg = 0, real = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
    } else if (isdig(p, end)) {
        while (isdig(p, end))
            p++;
    } else {
        return fail(r, s, "invalid number");
    }
    if (p < end && *p == '.') {
        p++;
        if (!isdig(p, end))
            return fail(r, s, "invalid number");
        while (isdig(p, end))
            p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!isdig(p, end))
            return fail(r, s, "invalid number");
        while (isdig(p, end))
            p++;
        real = 1;
    }
    r->p = skip_nul(p, end);
    if (!real) {
        unsigned long long u = 0, limit = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
        for (const unsigned char *q = s + neg; q < p; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (u > (limit - d) / 10)
                return fail(r, s, "too big integer");
            u = u * 10 + d;
        }
        if (!out)
            return 0;
        long long v = !neg ? (long long)u : u > (unsigned long long)LLONG_MAX ? LLONG_MIN
                                                                               : -(long long)u;
        *out = json_integer(v);
        return *out ? 0 : oom(r);
    }
    /* strtod needs a terminated copy: the input is neither terminated nor ours */
    size_t n = (size_t)(p - s), mark = r->alen;
    if (reserve(r, n + 1))
        return -1;
    char *t = r->a + r->alen;
    memcpy(t, s, n);
    t[n] = '\0';
    errno = 0;
    double d = strtod(t, NULL);
    int overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    r->alen = mark;
    if (overflow)
        return fail(r, s, "real number overflow");
    if (!out)
        return 0;
    *out = json_real(d);
    return *out ? 0 : oom(r);
}

/* The key table's hash. A pruned member's keys are the client's (managedFields is
 * written by whoever applies the object), so a fixed hash would let a request pick keys
 * that all land in one bucket and make the read quadratic; the seed differs per process
 * and per request (see ag_json_read) and each word goes through a multiply-xorshift, so
 * colliding keys cannot be chosen without it. jansson seeds its own tables likewise. */
static uint32_t hash_key(const char *k, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull), w;
    for (; n >= 8; k += 8, n -= 8) {
        memcpy(&w, k, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    w = 0;
    memcpy(&w, k, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* Adds the key at arena offset off to the pruned object `serial`; -1 when it is
 * already there (a duplicate) or memory ran out. */
static int keyset_add(reader *r, size_t serial, size_t off, size_t n, const unsigned char *at)
{
    uint32_t h = hash_key(r->a + off, n, r->seed);
    {
        for (uint32_t i = r->heads[h & (r->nb - 1)]; i; i = r->ke[i - 1].next) {
            const kent *e = &r->ke[i - 1];
            if (e->hash == h && e->serial == serial && e->len == n && !memcmp(r->a + e->off, r->a + off, n))
                return fail(r, at, "duplicate object key");
        }
    }
    if (r->kn == r->kcap) {
        size_t nc = r->kcap * 2;
        kent *nk = NULL;
        if (nc < UINT32_MAX && r->ke == r->ke_inl) {
            if ((nk = malloc(nc * sizeof *nk)))
                memcpy(nk, r->ke, r->kn * sizeof *nk);
        } else if (nc < UINT32_MAX) {
            nk = realloc(r->ke, nc * sizeof *nk);
        }
        if (!nk)
            return oom(r);
        r->ke = nk;
        r->kcap = nc;
    }
    if (r->kn >= r->nb) {
        /* rebuild the chains in insertion order, so a bucket's head stays its newest
         * entry and popping stays exact */
        size_t nb = r->nb * 2;
        uint32_t *nh = calloc(nb, sizeof *nh);
        if (!nh)
            return oom(r);
        if (r->heads != r->heads_inl)
            free(r->heads);
        r->heads = nh;
        r->nb = nb;
        for (size_t i = 0; i < r->kn; i++) {
            r->ke[i].next = nh[r->ke[i].hash & (nb - 1)];
            nh[r->ke[i].hash & (nb - 1)] = (uint32_t)(i + 1);
        }
    }
    kent *e = &r->ke[r->kn];
    e->hash = h;
    e->serial = serial;
    e->off = off;
    e->len = n;
    e->next = r->heads[h & (r->nb - 1)];
    r->heads[h & (r->nb - 1)] = (uint32_t)(++r->kn);
    return 0;
}

/* pops the key table back to kn entries (the entries of the objects that closed) */
static void keyset_pop(reader *r, size_t kn)
{
    while (r->kn > kn) {
        kent *e = &r->ke[--r->kn];
        r->heads[e->hash & (r->nb - 1)] = e->next;
    }
}

static int value(reader *r, int depth, size_t nlive, json_t **out);

static int key_is(const char *k, size_t n, const char *want)
{
    return want && strlen(want) == n && !memcmp(k, want, n);
}

/* An object, r->p after its '{'; depth is its own (the root is 1), so its keys are the
 * prune paths' [depth - 1]. nlive: how many prune entries matched the whole path to it.
 * out NULL: a pruned member, only checked. */
static int object(reader *r, int depth, size_t nlive, json_t **out)
{
    json_t *obj = NULL;
    if (out && !(obj = json_object()))
        return oom(r);
    size_t serial = ++r->serial, kmark = r->kn, amark = r->alen, kl = (size_t)depth - 1;
    int ndropped = 0;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        goto done;
    }
    for (;;) {
        ws(r);
        const unsigned char *at = r->p;
        if (at >= r->end || *at != '"') {
            fail(r, at, "string expected (an object key)");
            goto error;
        }
        const char *ks;
        size_t kn, koff = r->alen, kstart = r->alen;
        if (lex_string(r, 1, &ks, &kn, &koff))
            goto error;
        if (!obj && ks) { /* pruned objects keep their keys in the arena */
            if (reserve(r, kn))
                goto error;
            memcpy(r->a + r->alen, ks, kn);
            r->alen += kn;
            ks = NULL;
        }
        const char *key = ks ? ks : r->a + koff;
        if (!obj) {
            if (keyset_add(r, serial, koff, kn, at))
                goto error;
        } else {
            int dup = json_object_getn(obj, key, kn) != NULL;
            for (size_t i = 0; ndropped && !dup && i < r->nprune; i++)
                dup = r->dropped_in[i] == serial && key_is(key, kn, r->prune[i].path[kl]);
            if (dup) {
                fail(r, at, "duplicate object key");
                goto error;
            }
        }
        ws(r);
        if (r->p >= r->end || *r->p != ':') {
            fail(r, r->p, "':' expected");
            goto error;
        }
        r->p++;
        /* which prune entries this member ends (prune it) or continues (nchild) */
        size_t hit = SIZE_MAX, nchild = 0, nspan = 0, span_of[8];
        for (size_t i = 0; obj && nlive && i < r->nprune; i++) {
            if (r->match[i] != (int)kl || !key_is(key, kn, r->prune[i].path[kl]))
                continue;
            if (!r->prune[i].path[kl + 1]) {
                if (r->spans && nspan < sizeof span_of / sizeof span_of[0])
                    span_of[nspan++] = i;
                if (hit == SIZE_MAX && r->prune[i].action != AG_JSON_SPAN)
                    hit = i;
            } else {
                r->match[i] = (int)kl + 1;
                nchild++;
            }
        }
        json_t *v = NULL;
        ws(r);
        const unsigned char *vat = r->p;
        int rc = value(r, depth + 1, hit == SIZE_MAX ? nchild : 0,
                       obj && hit == SIZE_MAX ? &v : NULL);
        for (size_t i = 0; nchild && i < r->nprune; i++)
            if (r->match[i] == (int)kl + 1)
                r->match[i] = (int)kl;
        if (rc)
            goto error;
        for (size_t i = 0; i < nspan; i++) {
            r->spans[2 * span_of[i]] = (size_t)(vat - r->start);
            r->spans[2 * span_of[i] + 1] = (size_t)(r->p - vat);
        }
        if (obj && hit != SIZE_MAX) {
            if (r->prune[hit].action == AG_JSON_BLANK) {
                if (!(v = json_stringn_nocheck("", 0))) {
                    oom(r);
                    goto error;
                }
            } else {
                r->dropped_in[hit] = serial;
                ndropped = 1;
            }
        }
        if (v) {
            key = ks ? ks : r->a + koff; /* the arena may have moved */
            if (json_object_setn_new_nocheck(obj, key, kn, v)) {
                oom(r);
                goto error;
            }
        }
        if (obj)
            r->alen = kstart;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }
        fail(r, r->p, "',' or '}' expected");
        goto error;
    }
done:
    keyset_pop(r, kmark);
    r->alen = amark;
    if (out)
        *out = obj;
    return 0;
error:
    json_decref(obj);
    return -1;
}

static int array(reader *r, int depth, json_t **out)
{
    json_t *arr = NULL;
    if (out && !(arr = json_array()))
        return oom(r);
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        goto done;
    }
    for (;;) {
        json_t *v = NULL;
        /* an array on the way never matches a prune path: no live entries below */
        if (value(r, depth + 1, 0, arr ? &v : NULL))
            goto error;
        if (arr && json_array_append_new(arr, v)) {
            oom(r);
            goto error;
        }
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            break;
        }
        fail(r, r->p, "',' or ']' expected");
        goto error;
    }
done:
    if (out)
        *out = arr;
    return 0;
error:
    json_decref(arr);
    return -1;
}

static int literal(reader *r, const char *word, size_t n, json_t *(*make)(void), json_t **out)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n))
        return fail(r, r->p, "invalid token");
    r->p = skip_nul(r->p + n, r->end);
    if (out && !(*out = make()))
        return oom(r);
    return 0;
}

static json_t *make_true(void) { return json_true(); }
static json_t *make_false(void) { return json_false(); }
static json_t *make_null(void) { return json_null(); }

/* One value at depth (the root is 1); out NULL: only checked, nothing built. */
static int value(reader *r, int depth, size_t nlive, json_t **out)
{
    ws(r);
    if (r->p >= r->end)
        return fail(r, r->p, "premature end of input");
    if (depth > JANSSON_MAX_DEPTH) {
        r->too_deep = 1;
        return fail(r, r->p, "nesting too deep");
    }
    switch (*r->p) {
    case '{':
    case '[':
        if (depth > r->max_depth) {
            r->too_deep = 1;
            return fail(r, r->p, "nesting too deep");
        }
        return *r->p++ == '{' ? object(r, depth, nlive, out) : array(r, depth, out);
    case '"': {
        const char *s;
        size_t n, off = 0, mark = r->alen;
        if (lex_string(r, out != NULL, &s, &n, &off))
            return -1;
        if (!out)
            return 0;
        *out = json_stringn_nocheck(s ? s : r->a + off, n);
        r->alen = mark;
        return *out ? 0 : oom(r);
    }
    case 't':
        return literal(r, "true", 4, make_true, out);
    case 'f':
        return literal(r, "false", 5, make_false, out);
    case 'n':
        return literal(r, "null", 4, make_null, out);
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return lex_number(r, out);
        return fail(r, r->p, "invalid token");
    }
}

static void report(const reader *r, ag_json_read_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    const unsigned char *at = r->errp ? r->errp : r->p;
    err->position = (size_t)(at - r->start);
    err->line = 1;
    const unsigned char *bol = r->start;
    for (const unsigned char *q = r->start; q < at; q++)
        if (*q == '\n') {
            err->line++;
            bol = q + 1;
        }
    err->column = (int)(at - bol) + 1;
    err->too_deep = r->too_deep;
    err->out_of_memory = r->err == oom_text;
    snprintf(err->text, sizeof err->text, "%s", r->err);
}

json_t *ag_json_read(const char *buf, size_t len, int max_depth, const ag_json_prune *prune,
                     size_t nprune, ag_json_read_error *err)
{
    return ag_json_read_spans(buf, len, max_depth, prune, nprune, NULL, err);
}

json_t *ag_json_read_spans(const char *buf, size_t len, int max_depth, const ag_json_prune *prune,
                           size_t nprune, size_t *spans, ag_json_read_error *err)
{
    reader r;
    r.spans = spans;
    r.start = r.p = (const unsigned char *)(buf ? buf : "");
    r.end = r.start + (buf ? len : 0);
    r.max_depth = max_depth;
    r.prune = prune;
    r.nprune = prune ? nprune : 0;
    r.serial = 0;
    /* addresses the loader, the allocator and the thread's stack randomise (ASLR): secret
     * to the client, free to read, and no state shared between threads */
    r.seed = ((uint64_t)(uintptr_t)&r << 21) ^ (uint64_t)(uintptr_t)buf ^
             ((uint64_t)(uintptr_t)&hash_key << 7);
    r.seed = (r.seed ^ (r.seed >> 33)) * 0xFF51AFD7ED558CCDull;
    r.a = r.inl;
    r.alen = 0;
    r.acap = sizeof r.inl;
    r.ke = r.ke_inl;
    r.kn = 0;
    r.kcap = sizeof r.ke_inl / sizeof *r.ke_inl;
    r.heads = r.heads_inl;
    r.nb = sizeof r.heads_inl / sizeof *r.heads_inl;
    memset(r.heads_inl, 0, sizeof r.heads_inl);
    r.err = NULL;
    r.errp = NULL;
    r.too_deep = 0;

    /* per-entry state, on the stack for the few entries a caller has */
    int match_inl[16];
    size_t dropped_inl[16];
    r.match = match_inl;
    r.dropped_in = dropped_inl;
    if (r.nprune > 16) {
        r.match = malloc(r.nprune * sizeof *r.match);
        r.dropped_in = malloc(r.nprune * sizeof *r.dropped_in);
    }
    json_t *root = NULL;
    size_t nlive = 0;
    if (!r.match || !r.dropped_in) {
        oom(&r);
        goto out;
    }
    for (size_t i = 0; i < r.nprune; i++) {
        /* a path without keys names the root, which is never pruned */
        r.match[i] = prune[i].path && prune[i].path[0] ? 0 : -1;
        nlive += r.match[i] == 0;
        r.dropped_in[i] = 0;
        if (spans)
            spans[2 * i] = spans[2 * i + 1] = 0;
    }
    ws(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '[')) {
        fail(&r, r.p, "'[' or '{' expected");
        goto out;
    }
    if (value(&r, 1, nlive, &root))
        goto out;
    ws(&r);
    if (r.p != r.end) {
        fail(&r, r.p, "end of input expected");
        json_decref(root);
        root = NULL;
    }
out:
    if (!root)
        report(&r, err);
    if (r.a != r.inl)
        free(r.a);
    if (r.ke != r.ke_inl)
        free(r.ke);
    if (r.heads != r.heads_inl)
        free(r.heads);
    if (r.match != match_inl)
        free(r.match);
    if (r.dropped_in != dropped_inl)
        free(r.dropped_in);
    return root;
}
