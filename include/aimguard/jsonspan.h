/* Where a value sits in a JSON text, without building anything: the webhook's cheap
 * proofs on the bytes of a review (an UPDATE whose pod specs are byte for byte those of
 * the old object needs no old object built; docs/performance.md).
 *
 * The text must be one ag_json_read accepted (the scanner trusts its syntax and does not
 * check it again). Thread-safety: reentrant; nothing is allocated. */
#ifndef AIMGUARD_JSONSPAN_H
#define AIMGUARD_JSONSPAN_H

#include <stddef.h>

typedef enum {
    AG_SPAN_FOUND = 0,   /* *off, *len: the value's bytes (from its first byte to its last) */
    AG_SPAN_ABSENT = 1,  /* no such member or element (or a step is not an object/array) */
    AG_SPAN_UNSURE = 2,  /* an object on the way has a key written with escapes: the bytes
                            cannot say whether it is the one asked for (read the value) */
} ag_span_result;

/* The value at the JSON pointer ptr (RFC 6901: "" is the whole text, "/a/0/b~1c" is
 * member a, element 0, member "b/c"; a segment on an array must be a decimal index). */
ag_span_result ag_json_span(const char *text, size_t len, const char *ptr, size_t *off, size_t *vlen);

#endif
