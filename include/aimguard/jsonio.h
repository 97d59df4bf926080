/* A JSON reader and a compact JSON writer for the admission hot path.
 *
 * Both give exactly what jansson gives — ag_json_read what json_loadb(...,
 * JSON_REJECT_DUPLICATES) accepts and builds, ag_json_write the bytes of json_dumps(v,
 * JSON_COMPACT | JSON_ENCODE_ANY) — and test/fuzz/fuzz_json.c holds them to that,
 * differentially. They are faster: the reader lexes the buffer in place instead of
 * through jansson's character stream, and it can leave out members no policy reads
 * (`prune`), which are still checked (syntax, UTF-8, duplicate keys, depth) but never
 * built; the writer appends to one buffer without jansson's per-container loop check.
 * The values are ordinary jansson values: everything else reads them as before. */
#ifndef AIMGUARD_JSONIO_H
#define AIMGUARD_JSONIO_H

#include <jansson.h>
#include <stddef.h>

#include "aimguard/buf.h"

typedef enum {
    AG_JSON_DROP = 1,  /* the member is left out of its object */
    AG_JSON_BLANK = 2, /* the member is kept, its value replaced by "" */
    AG_JSON_SPAN = 3,  /* the member is built as usual; only its bytes are reported
                          (ag_json_read_spans) */
} ag_json_prune_action;

/* One member to prune: the object keys from the root to it (NULL-terminated; every key
 * must match exactly; an array on the way never matches). */
typedef struct ag_json_prune {
    const char *const *path;
    ag_json_prune_action action;
} ag_json_prune;

typedef struct ag_json_read_error {
    int line, column;   /* 1-based, where the reader stopped; the column counts bytes */
    size_t position;    /* byte offset of the same place */
    int too_deep;       /* 1 when the error is nesting deeper than max_depth */
    int out_of_memory;  /* 1 when the error is memory that ran out (text "out of memory") */
    char text[128];     /* what is wrong; never quotes the input (it may be a token) */
} ag_json_read_error;

/* Reads the JSON text buf[0..len) (an object or an array at the top level, like jansson
 * without JSON_DECODE_ANY; whitespace may follow it, nothing else). Rejects what
 * json_loadb(buf, len, JSON_REJECT_DUPLICATES, ...) rejects (invalid UTF-8, control
 * characters and \u0000 in strings, lone surrogates, integers beyond long long, reals
 * that overflow, duplicate keys — in pruned members too) and nesting of objects and
 * arrays deeper than max_depth (1 = only the top-level container). prune: nprune members
 * to leave out (NULL, 0: none). Returns a new reference, or NULL with err filled (err
 * may be NULL). Out of memory is an error too ("out of memory"). */
json_t *ag_json_read(const char *buf, size_t len, int max_depth, const ag_json_prune *prune,
                     size_t nprune, ag_json_read_error *err);

/* The same, and where each prune entry's member is in buf: spans[2 * i] its value's
 * first byte, spans[2 * i + 1] its length (0: not met; for members of built objects
 * only: a member inside a pruned one is not looked for). spans holds 2 * nprune. */
json_t *ag_json_read_spans(const char *buf, size_t len, int max_depth, const ag_json_prune *prune,
                           size_t nprune, size_t *spans, ag_json_read_error *err);

/* Appends v as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it (object members in
 * their insertion order, strings with jansson's escaping, reals as jansson prints them).
 * 0, or -1 when memory ran out or v is NULL (then b->oom is set). */
int ag_json_write(ag_buf *b, const json_t *v);

/* The same with JSON_REAL_PRECISION(real_precision) (1 to 31; anything else: 17), as
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(real_precision)). */
int ag_json_write_prec(ag_buf *b, const json_t *v, int real_precision);

/* Appends the JSON string literal of s[0..len) (quotes included) with jansson's escaping;
 * s must be valid UTF-8 (jansson strings are). 0, or -1 when memory ran out. */
int ag_json_write_string(ag_buf *b, const char *s, size_t len);

/* Appends the finite double d as json_dumps writes a real with
 * JSON_REAL_PRECISION(precision) (1 to 31). */
void ag_json_write_real(ag_buf *b, double d, int precision);

/* Appends the NUL-terminated text s (NULL: "") as a JSON string literal, each byte that
 * does not start a valid UTF-8 sequence written as U+FFFD: the bytes of
 * ag_json_write(ag_decision_text(s)) without the value (messages and log fields quote
 * object values cut to fixed buffers, which can split a character). 0, or -1 when memory
 * ran out. */
int ag_json_write_text(ag_buf *b, const char *s);

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 when p does not start one
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); reads no further
 * than the first byte that ends the sequence, so a NUL stops it. */
size_t ag_utf8_seq(const unsigned char *p);

#endif
