/* admission.k8s.io/v1 AdmissionReview: decode a request, encode a decision.
 *
 * The types (ag_request, ag_decision) belong to the policy module (aimguard/decision.h);
 * this module only turns wire JSON into them and back. Ownership: a decoded or
 * synthesized request is released with ag_request_clear(). Thread-safety: reentrant. */
#ifndef AIMGUARD_ADMISSION_H
#define AIMGUARD_ADMISSION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "aimguard/decision.h"
#include "aimguard/error.h"

/* Bodies deeper than this are refused before any policy sees them. */
#define AG_MAX_JSON_DEPTH 128

/* Decodes an AdmissionReview body. On failure err holds a one-line reason fit for a
 * 400 response (never echoing request content beyond field names). flags:
 * AG_DECODE_PRUNE_BOOKKEEPING leaves out the objects' metadata.managedFields and status,
 * and blanks their last-applied-configuration annotation (checked, not built): only for
 * a policy set that cannot read them (ag_policy_set_reads_bookkeeping). */
#define AG_DECODE_PRUNE_BOOKKEEPING 1u
/* AG_DECODE_ARENA reads the body's values into an arena the request owns
 * (aimguard/jsonarena.h): no malloc per value, one free for all in ag_request_clear. The
 * request must then be cleared on the thread that decoded it, after every reference into
 * it is released (a decision's object_after first: ag_admission_result_clear's order). */
#define AG_DECODE_ARENA 2u
int ag_request_decode(const char *body, size_t len, unsigned flags, ag_request *req, ag_error *err);
/* Builds a request around an object for the offline evaluator (takes a reference
 * to object and old_object; either may be NULL). */
int ag_request_synthesize(ag_request *req, json_t *object, json_t *old_object,
                          const char *operation, const char *namespace_,
                          const char *username, const char *const *groups, size_t ngroups,
                          ag_error *err);

/* The AdmissionReview response for req (uid echoed); new reference. */
json_t *ag_review_response(const ag_request *req, const ag_decision *d);
/* The same response appended to out as compact JSON, byte for byte what
 * json_dumps(ag_review_response(req, d), JSON_COMPACT) gives, without building it (the
 * webhook's answer). 0, or -1 when memory ran out (out->oom). */
struct ag_buf;
int ag_review_response_write(const ag_request *req, const ag_decision *d, struct ag_buf *out);

/* The admission flow, assembled once for every caller (the webhook route, `aimguard
 * eval`, the OOM test, the fuzzer), in three phases:
 *   decode  body bytes -> ag_request; a bad body is a 400 with a one-line reason that
 *           never quotes the body
 *   decide  ag_decide() on the caller's snapshot (none: 503); an evaluation failure is
 *           a denial with code 500 that says so, never a lost decision
 *   encode  the AdmissionReview response -> body (500 when it cannot be built)
 * The caller finishes the answer (the HTTP layer logs, counts and sends it).
 * Ownership: the result owns body, req and decision; ag_admission_result_clear()
 * releases them. The snapshot and view are borrowed. Thread-safety: reentrant. */
typedef struct ag_policy_set ag_policy_set; /* aimguard/policy.h */
struct ag_view;                             /* aimguard/view.h */

typedef enum {
    AG_OUTCOME_ALLOWED = 0, AG_OUTCOME_PATCHED, AG_OUTCOME_WARNED, AG_OUTCOME_DENIED,
    AG_OUTCOME_ERROR
} ag_outcome;
/* "allowed", "patched", "warned", "denied", "error": the decision label of logs and metrics */
const char *ag_outcome_name(ag_outcome o);

typedef struct ag_admission_options {
    int mode;           /* AG_MODE_MUTATE, AG_MODE_VALIDATE or AG_MODE_BOTH (aimguard/policy.h) */
    time_t now;         /* the clock exceptions expire by */
    int consumable;     /* ag_decide may change the decoded object in place (the server) */
    int no_body;        /* stop after decide: no response body (eval's own outputs) */
    size_t json_flags;  /* jansson json_dumps() flags of a 200 body (JSON_COMPACT for the wire) */
    int prune;          /* decode with AG_DECODE_PRUNE_BOOKKEEPING when the snapshot allows it
                           (the server: the decision is the same, the object_after is not) */
    int arena;          /* decode with AG_DECODE_ARENA (the server): the result must be
                           cleared on the calling thread */
} ag_admission_options;

typedef struct ag_admission_result {
    int status;               /* HTTP status: 200 (an AdmissionReview response), 400, 500, 503 */
    const char *content_type; /* of body: "application/json" or "text/plain; charset=utf-8" */
    char *body;               /* the answer (owned); NULL only when memory ran out or no_body */
    size_t len;
    ag_outcome outcome;
    ag_error err;             /* why, when a phase failed (outcome error) */
    int decoded;              /* req holds the request (its uid, kind, ... are valid) */
    int decided;              /* a snapshot judged it: decision is ag_decide's answer, or
                                 the denial that replaced its failure */
    ag_request req;
    ag_decision decision;     /* ag_decide's answer, or the denial that replaced a failure */
    uint64_t generation;      /* of the snapshot that decided; 0 when none did */
} ag_admission_result;

/* decode -> decide -> encode of one AdmissionReview body. Always fills res (a status
 * and, memory permitting, a body to send); returns 0 when the request was decided, or a
 * negative AG_E* with res->err when a phase failed (res->status says what to answer). */
int ag_admission_handle(const ag_policy_set *set, const struct ag_view *view,
                        const ag_admission_options *opt, const char *body, size_t len,
                        ag_admission_result *res);
/* decide -> encode of a request built by the caller (ag_request_synthesize): takes
 * ownership of *req (it is moved into res->req and *req zeroed). Same return. */
int ag_admission_run(const ag_policy_set *set, const struct ag_view *view,
                     const ag_admission_options *opt, ag_request *req, ag_admission_result *res);
void ag_admission_result_clear(ag_admission_result *res); /* NULL is a no-op */

#endif
