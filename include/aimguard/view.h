/* The read-only cluster view the admission path consults (namespaces and their labels,
 * AIM models, templates, runtime configs), and the one question it may put to the API
 * server on a request's behalf (access). Filled when a cluster is configured; absent
 * (a NULL view, or NULL callbacks) otherwise.
 *
 * Contract for get(): it never blocks on the network or on a lock held by a slow
 * writer; it returns a new reference (caller decrefs) or NULL when the object is
 * unknown (absent, or a resource the view does not watch: NULL never proves absence).
 *
 * Contract for access(): the only callback that may wait on the network (a
 * SubjectAccessReview), bounded by a short timeout well below the webhook's
 * timeoutSeconds and answered from a TTL cache when it can (see aimguard/authz.h).
 * It returns AG_ACCESS_ALLOWED, AG_ACCESS_DENIED, or AG_ACCESS_UNKNOWN when the API
 * server could not answer; reason (always NUL-terminated when cap > 0) carries the
 * API server's reason or why it could not answer.
 *
 * Thread-safety: both are called from request threads concurrently. */
#ifndef AIMGUARD_VIEW_H
#define AIMGUARD_VIEW_H

#include <stddef.h>
#include <jansson.h>

enum { AG_ACCESS_DENIED = 0, AG_ACCESS_ALLOWED = 1, AG_ACCESS_UNKNOWN = 2 };

typedef struct ag_view {
    void *ctx;
    /* resource: "namespaces", "aimmodels", ...; ns "" for cluster-scoped objects */
    json_t *(*get)(void *ctx, const char *resource, const char *ns, const char *name);
    void *access_ctx;
    /* may `user` (with `groups`, an array of strings) `verb` the cluster-scoped object
     * `name` of `resource` in API group `group`, asked for a request in namespace `ns`
     * (so that a RoleBinding there counts, not only ClusterRoleBindings)? */
    int (*access)(void *access_ctx, const char *user, const json_t *groups, const char *verb,
                  const char *group, const char *resource, const char *ns, const char *name,
                  char *reason, size_t reason_cap);
} ag_view;

#endif
