/* admission.k8s.io/v1 AdmissionReview: decode a request, encode a decision.
 *
 * The types (ag_request, ag_decision) belong to the policy module (aimguard/decision.h);
 * this module only turns wire JSON into them and back. Ownership: a decoded or
 * synthesized request is released with ag_request_clear(). Thread-safety: reentrant. */
#ifndef AIMGUARD_ADMISSION_H
#define AIMGUARD_ADMISSION_H

#include <stddef.h>
#include <jansson.h>
#include "aimguard/decision.h"
#include "aimguard/error.h"

/* Bodies deeper than this are refused before any policy sees them. */
#define AG_MAX_JSON_DEPTH 128

/* Decodes an AdmissionReview body. On failure err holds a one-line reason fit for a
 * 400 response (never echoing request content beyond field names). */
int ag_request_decode(const char *body, size_t len, ag_request *req, ag_error *err);
/* Builds a request around an object for the offline evaluator (takes a reference
 * to object and old_object; either may be NULL). */
int ag_request_synthesize(ag_request *req, json_t *object, json_t *old_object,
                          const char *operation, const char *namespace_,
                          const char *username, const char *const *groups, size_t ngroups,
                          ag_error *err);

/* The AdmissionReview response for req (uid echoed); new reference. */
json_t *ag_review_response(const ag_request *req, const ag_decision *d);

#endif
