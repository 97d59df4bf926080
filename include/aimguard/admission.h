/* admission.k8s.io/v1 AdmissionReview: decode a request, encode a decision.
 *
 * Ownership: ag_request borrows every string and object from `review`, which it owns;
 * ag_request_clear() releases it. ag_decision owns its message, patch, warnings and
 * annotations; ag_decision_clear() releases them. Thread-safety: reentrant. */
#ifndef AIMGUARD_ADMISSION_H
#define AIMGUARD_ADMISSION_H

#include <stddef.h>
#include <jansson.h>
#include "aimguard/error.h"

/* Bodies deeper than this are refused before any policy sees them. */
#define AG_MAX_JSON_DEPTH 128

typedef struct ag_request {
    json_t *review;          /* the whole decoded body (owned) */
    const char *uid;
    const char *group, *version, *kind;  /* request.kind */
    const char *resource, *subresource;  /* request.resource.resource, subResource or "" */
    const char *name, *namespace_, *operation;
    const char *username;
    json_t *groups;          /* array of strings (borrowed; may be an empty array) */
    json_t *object;          /* NULL on DELETE */
    json_t *old_object;      /* NULL on CREATE */
    int dry_run;
    int consumable;          /* the caller no longer needs object as it came: ag_decide may
                                mutate it in place instead of copying it (the server) */
} ag_request;

typedef struct ag_decision {
    int allowed;
    int code;                /* HTTP-like status code for denials (403) */
    char *message;           /* denial message or NULL */
    json_t *patch;           /* RFC 6902 operations (array) or NULL when nothing changes */
    json_t *warnings;        /* array of strings */
    json_t *audit;           /* object: auditAnnotations */
    json_t *object_after;    /* the object after mutation (for eval --output object) */
} ag_decision;

/* Decodes an AdmissionReview body. On failure err holds a one-line reason fit for a
 * 400 response (never echoing request content beyond field names). */
int ag_request_decode(const char *body, size_t len, ag_request *req, ag_error *err);
/* Builds a request around an object for the offline evaluator (takes a reference
 * to object and old_object; either may be NULL). */
int ag_request_synthesize(ag_request *req, json_t *object, json_t *old_object,
                          const char *operation, const char *namespace_,
                          const char *username, const char *const *groups, size_t ngroups,
                          ag_error *err);
void ag_request_clear(ag_request *req);

void ag_decision_init(ag_decision *d);
void ag_decision_clear(ag_decision *d);
/* Adds a warning (copied). Kubernetes shows at most a few hundred bytes of each. */
void ag_decision_warn(ag_decision *d, const char *text);
void ag_decision_annotate(ag_decision *d, const char *key, const char *value);

/* The AdmissionReview response for req (uid echoed); new reference. */
json_t *ag_review_response(const ag_request *req, const ag_decision *d);

#endif
