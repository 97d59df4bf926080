/* RFC 6902 JSON Patch recorded while mutating a working copy.
 * Each operation is written as text when it is recorded (the value as it is then), and,
 * unless text_only, also kept as a JSON value for the callers that read it (eval, tests).
 *
 * Mutators change the working copy in place through these calls, so later mutators
 * see earlier changes, and every change is recorded as an "add" operation (on an
 * existing object member "add" replaces, per RFC 6902 4.1). Paths are JSON pointers
 * with "~" and "/" escaped. Ownership: the patch owns its ops array.
 * Thread-safety: one patch per request. */
#ifndef AIMGUARD_PATCH_H
#define AIMGUARD_PATCH_H

#include <stddef.h>
#include <jansson.h>

#include "aimguard/buf.h"

typedef struct ag_patch {
    json_t *ops;   /* array of operations, created lazily; never with text_only */
    ag_buf text;   /* the same operations as compact JSON, "[op,op" so far (the wire's
                      patch: one buffer, no document built); ag_patch_finish closes it */
    size_t n;      /* operations recorded */
    int text_only; /* set by the caller: record the text, build no ops array (the server) */
    int oom;       /* an allocation failed: the patch must not be used */
} ag_patch;

/* Closes the text ("]") and hands it over (caller frees): the JSON of the operations,
 * byte for byte json_dumps(ops, JSON_COMPACT); NULL when none were recorded or memory
 * ran out (then oom is set). */
char *ag_patch_finish(ag_patch *p, size_t *len);

/* parent[key] = value (value stolen); parent lives at JSON pointer parent_ptr. */
void ag_patch_set(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                  json_t *value);
/* The same only when parent has no member key (value stolen either way): mutators set
 * defaults, never overwrite. */
void ag_patch_default(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                      json_t *value);
/* arr.append(value) (value stolen); arr lives at arr_ptr. */
void ag_patch_append(ag_patch *p, json_t *arr, const char *arr_ptr, json_t *value);
/* Returns parent[key] when it is an object; otherwise sets it to {} (recorded) and
 * returns the new object. child_ptr receives its pointer. NULL on OOM/overflow. */
json_t *ag_patch_object(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                        char *child_ptr, size_t cap);
/* Same for an array member. */
json_t *ag_patch_array(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                       char *child_ptr, size_t cap);
/* Appends "/" + escaped(key) to ptr; returns 0, or -1 when it does not fit. */
int ag_ptr_join(char *out, size_t cap, const char *ptr, const char *key);
int ag_ptr_join_index(char *out, size_t cap, const char *ptr, size_t index);

#endif
