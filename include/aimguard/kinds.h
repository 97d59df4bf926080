/* The kinds aimguard knows: built-in Kubernetes kinds, the AIM kinds, the KServe kinds and
 * the other pod carriers (LeaderWorkerSet), one row each, in ONE table (server/policy/kinds.c).
 *
 * The table says, per kind, its plural resource, its scope and which of the shipped
 * webhook configurations (deploy/base/webhooks.yaml) send it to aimguard. Policies use
 * it to refuse a misspelled kind (`apps/Deploymnet`) and to warn about a kind the
 * webhooks never send (a policy that can never fire); `aimguard check --kinds` prints
 * it and test/deploy/test_webhook_kinds.py holds deploy/ to it.
 *
 * Thread-safety: everything is read-only static data; reentrant. */
#ifndef AIMGUARD_KINDS_H
#define AIMGUARD_KINDS_H

#include <stddef.h>

typedef enum { AG_SCOPE_NAMESPACED = 0, AG_SCOPE_CLUSTER = 1 } ag_kind_scope;

/* Which shipped webhook configuration sends a kind (bits). */
enum { AG_SENT_MUTATE = 1, AG_SENT_VALIDATE = 2 };

typedef struct ag_kind_info {
    const char *group;    /* "" for the core group */
    const char *kind;
    const char *resource; /* plural resource name, e.g. "deployments" */
    ag_kind_scope scope;
    unsigned sent;        /* AG_SENT_* bits: the webhook rules of deploy/base/webhooks.yaml */
} ag_kind_info;

/* The whole table (static); *n receives its length. */
const ag_kind_info *ag_kinds_table(size_t *n);
/* The row of group/kind, or NULL. */
const ag_kind_info *ag_kinds_find(const char *group, const char *kind);

/* Judges one entry of a policy's `kinds` list: "*", "Kind", "group/Kind", "core/Kind", a
 * star for the kind (every kind of a group) or for the group (a kind in any group). Returns 0 when it names something that can exist, with *sent
 * the webhooks that send at least one kind it matches (0 for a custom kind: no shipped
 * webhook sends it); or -1 with a message (and a "did you mean" when one is close) in
 * msg. A custom resource is written group-qualified with a group that has a dot
 * (example.com/Widget): Kubernetes requires a dot in a CRD's group. */
int ag_kinds_check(const char *pattern, unsigned *sent, char *msg, size_t cap);

#endif
