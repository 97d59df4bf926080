/* SubjectAccessReview answers for the admission path, with a bounded TTL cache.
 *
 * "May alice `use` the AIMClusterModel llama?" is asked of the API server
 * (authorization.k8s.io/v1 SubjectAccessReview, through ag_kube_access) at most once
 * per TTL for the same (user, groups, verb, group, resource, name); the answer is kept
 * in a fixed-size cache (4-way set associative: a full cache replaces the oldest entry
 * of a set, never grows). This is the one place a request thread may wait on the
 * network, and the wait is bounded: each call has its own timeout (default 2 s, well
 * below the webhook's timeoutSeconds), and when every API handle is busy a request
 * waits at most half that long for one: one check takes at most 1.5 x timeout_ms.
 *
 * Answers: allowed and denied are cached for ttl_ms; "could not ask" (connection
 * refused, timeout, a 5xx or 403 from the API server, malformed JSON) is cached only
 * for unknown_ttl_ms (default 1 s) so that an outage does not make every admission
 * request wait out the timeout, yet a recovery is seen at once.
 *
 * Ownership: ag_authz_new copies the configuration (the token included); the handle
 * owns its ag_kube clients and cache. Strings passed to ag_authz_check are copied.
 * Thread-safety: ag_authz_check and ag_authz_view_access may be called from any number
 * of threads at once (a mutex guards the cache, a pool of ag_kube handles each used by
 * one thread at a time, the network call runs outside the cache lock). ag_authz_new and
 * ag_authz_free must not race with checks. ag_authz_free(NULL) is a no-op.
 * Secrets: the bearer token is never logged or put in a reason or error message. */
#ifndef AIMGUARD_AUTHZ_H
#define AIMGUARD_AUTHZ_H

#include <stddef.h>
#include <jansson.h>

#include "aimguard/error.h"
#include "aimguard/kube.h"

typedef struct ag_authz ag_authz;

typedef struct ag_authz_options {
    long timeout_ms;          /* one SubjectAccessReview; 0: 2000 */
    long ttl_ms;              /* allowed / denied answers; 0: 10000, <0: not cached */
    long unknown_ttl_ms;      /* "could not ask"; 0: 1000, <0: not cached */
    size_t max_entries;       /* cache size (rounded up to a multiple of 4); 0: 4096 */
    size_t handles;           /* concurrent SubjectAccessReviews; 0: 4 */
} ag_authz_options;

/* Counters, for tests and logs. */
typedef struct ag_authz_stats {
    unsigned long long hits, misses, calls, unknown, evictions;
} ag_authz_stats;

/* opts may be NULL (defaults). */
ag_authz *ag_authz_new(const ag_kube_config *cfg, const ag_authz_options *opts, ag_error *err);
void ag_authz_free(ag_authz *a);

/* May `user` (with `groups`, an array of strings or NULL) `verb` the cluster-scoped
 * object `name` of `resource` in API group `group`, for a request in namespace `ns`?
 * `ns` ("" or NULL: none) goes into the SubjectAccessReview's resourceAttributes, so a
 * RoleBinding in that namespace counts as well as a ClusterRoleBinding (without it the
 * API server consults ClusterRoleBindings only); it is part of the cache key. Returns 0 with *allowed 1 or 0 and
 * the API server's reason in reason (may be ""); returns <0 when the API server could
 * not answer (err says why; *allowed is 0). */
int ag_authz_check(ag_authz *a, const char *user, const json_t *groups, const char *verb,
                   const char *group, const char *resource, const char *ns, const char *name, int *allowed,
                   char *reason, size_t reason_cap, ag_error *err);

/* ag_view.access for an ag_authz passed as ctx: AG_ACCESS_ALLOWED, AG_ACCESS_DENIED or
 * AG_ACCESS_UNKNOWN (reason then says why the API server could not answer). */
int ag_authz_view_access(void *ctx, const char *user, const json_t *groups, const char *verb,
                         const char *group, const char *resource, const char *ns, const char *name,
                         char *reason, size_t reason_cap);

void ag_authz_stats_get(ag_authz *a, ag_authz_stats *out);

#endif
