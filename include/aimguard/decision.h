/* The admission decision's input and output: what ag_decide() judges and what it answers.
 * Owned by the policy module; admission/ decodes an AdmissionReview into an ag_request
 * and encodes an ag_decision as its response (aimguard/admission.h).
 *
 * Ownership: ag_request borrows every string and object from `review`, which it owns;
 * ag_request_clear() releases it. ag_decision owns its message, patch, warnings and
 * annotations; ag_decision_clear() releases them. Thread-safety: reentrant. */
#ifndef AIMGUARD_DECISION_H
#define AIMGUARD_DECISION_H

#include <stddef.h>
#include <jansson.h>

struct ag_error;

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
    /* The server's reading (AG_DECODE_PRUNE_BOOKKEEPING) defers the old object: old_object
     * stays NULL, and old_deferred says it is raw[old_off, old_off + old_len), a JSON
     * object the reader checked; ag_request_old_object() builds it when a decision needs
     * it (an UPDATE whose pod specs are byte for byte the old ones needs none). raw is the
     * request body, borrowed: valid as long as the caller's body. */
    const char *raw;
    size_t raw_len, old_off, old_len;
    size_t obj_off, obj_len; /* and the object's bytes (0, 0: unknown) */
    int old_deferred;
    struct ag_json_arena *arena; /* AG_DECODE_ARENA: holds the values read from the body (and
                                    the deferred old object's); released last by
                                    ag_request_clear, on the decoding thread */
} ag_request;

/* One violation of a decision, without its message: what the webhook logs and counts.
 * The strings live in the decision's findings allocation; never a value of the object. */
typedef struct ag_finding {
    const char *policy; /* the policy's name */
    const char *rule;   /* the rule a result names: a block's key or a generic rule's name */
    const char *check;  /* the violation's own rule, e.g. podSecurity/restricted/privileged */
    const char *field;  /* its path, or NULL */
    int action;         /* ag_action (aimguard/policy.h): 0 enforce, 1 warn, 2 audit */
    const char *severity; /* "low", "medium", "high", "critical" (static), or NULL: none given */
    const char *category; /* or NULL: none given */
} ag_finding;

typedef struct ag_decision {
    int allowed;
    int code;                /* HTTP-like status code for denials (403) */
    char *message;           /* denial message or NULL */
    json_t *patch;           /* RFC 6902 operations (array) or NULL when nothing changes, or
                                when AG_MODE_PATCH_TEXT left them as text only */
    char *patch_text;        /* the same operations as compact JSON (json_dumps' bytes), what
                                the webhook base64-encodes; NULL when nothing changes */
    size_t patch_len;        /* strlen(patch_text) */
    size_t patch_ops;        /* the number of operations (0: nothing changes) */
    json_t *warnings;        /* array of strings */
    json_t *audit;           /* object: auditAnnotations */
    json_t *object_after;    /* the object after mutation (for eval --output object) */
    /* AG_MODE_RESULTS only (else NULL): an array, one object per (matched policy, validate
     * rule): {"policy", "rule", "result": pass|fail|warn|skip, "action", "message",
     * "violations": [{"rule", "message", "path"}], "severity"?, "category"?, "source"} —
     * docs/policy-reference.md "Results". Policies that do not select the object give none. */
    json_t *results;
    /* Every violation of the decision, whatever the mode (only a request with violations
     * pays, one allocation: the webhook's log line and aimguard_policy_results_total read
     * it, where AG_MODE_RESULTS would cost every request). Owned; NULL and 0 when none. */
    struct ag_finding *findings;
    size_t nfindings;
} ag_decision;

void ag_request_clear(ag_request *req); /* NULL is a no-op */
/* The bookkeeping the server's reading leaves out of an object (AG_DECODE_PRUNE_BOOKKEEPING),
 * as object keys from the object: dropped, dropped, blanked. One list for the two tables
 * that prune it, the review's (admission/review.c, rooted at request.object) and the
 * deferred old object's (policy/decision.c). */
#define AG_BOOKKEEPING_MANAGED_FIELDS "metadata", "managedFields"
#define AG_BOOKKEEPING_STATUS "status"
#define AG_BOOKKEEPING_LAST_APPLIED "metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"
/* The old object: req->old_object, or the deferred one built now (a new reference the
 * caller releases; its managedFields and status left out and its last-applied value
 * blanked, as the server reads the object). NULL when there is none, or with err set
 * when memory ran out. */
json_t *ag_request_old_object(const ag_request *req, struct ag_error *err);

void ag_decision_init(ag_decision *d);
void ag_decision_clear(ag_decision *d); /* NULL is a no-op */
/* Adds a warning (copied). Kubernetes shows at most a few hundred bytes of each. */
void ag_decision_warn(ag_decision *d, const char *text);
void ag_decision_annotate(ag_decision *d, const char *key, const char *value);
/* A JSON string of text (NULL: ""), each byte that is not valid UTF-8 replaced by U+FFFD;
 * new reference, NULL when out of memory. */
json_t *ag_decision_text(const char *text);

#endif
