/* The reconciler: watches AIM resources through the Kubernetes API and provisions
 * their workloads and the per-namespace guardrails (level-triggered, idempotent):
 *   AIMService  -> KServe InferenceService (raw deployment, inline predictor pod spec)
 *                  + Gateway API HTTPRoute when routing is enabled
 *   AIMArtifact -> PersistentVolumeClaim + download Job (hardened to `restricted`)
 *   namespace holding AIM workloads -> NetworkPolicies, Pod Security labels, the
 *                  download ServiceAccount and the artifact-status-updater RoleBinding
 * Generated pod specs go through ag_decide() with the loaded policies (mutate, then
 * validate) before they are written: the same code the webhook runs.
 *
 * Threads: one watch-cache thread per watched resource (each owns its ag_kube) and one
 * worker thread (owns its ag_kube) that takes keys from a de-duplicating, rate-limited
 * work queue. Workers reconcile only while set_leader(1); caches stay warm on every
 * replica. Every function here is safe from any thread.
 * Ownership: the reconciler copies the config's strings; the policy holder and the
 * metrics are borrowed and must outlive it. */
#ifndef AIMGUARD_RECONCILE_H
#define AIMGUARD_RECONCILE_H

#include <stdint.h>
#include <jansson.h>
#include "aimguard/error.h"
#include "aimguard/kube.h"
#include "aimguard/metrics.h"
#include "aimguard/policy.h"

typedef struct ag_reconcile_config {
    const char *username;          /* the identity admission sees for our writes */
    const char *field_manager;     /* e.g. "aimguard" */
    int network_policies;          /* guardrail NetworkPolicies on/off */
    const char *gateway_namespaces;/* comma list: namespaces whose gateways reach inference pods */
    const char *download_egress;   /* comma list of CIDR[:PORT]; "" for none */
    const char *pss_labels;        /* "enforce=restricted,warn=restricted,..." or "" for off */
    const char *download_sa;       /* ServiceAccount the download Jobs run as */
    const char *status_role;       /* ClusterRole bound to download_sa per namespace */
    const char *default_download_image;
    const char *default_artifact_size; /* when an AIMArtifact gives no size */
    double resync_seconds;         /* every key is reconciled again at this period */
    int unmanaged_only;            /* --reconcile unmanaged: stand aside for AIM objects another
                                    * controller (the AIM operator) manages */
    const char *exempt_namespaces; /* comma list never given guardrails or children */
    const char *exempt_label;      /* KEY=VALUE: namespaces labelled so are exempt too; "" none */
    const char *system_namespace;  /* aimguard's own namespace: always exempt */
    ag_policy_holder *policies;    /* borrowed */
    ag_metrics *metrics;           /* borrowed; may be NULL */
} ag_reconcile_config;

void ag_reconcile_config_defaults(ag_reconcile_config *c);
/* Checks the lists (egress CIDRs and ports, Pod Security modes and levels, names):
 * 0, or AG_EINVAL with the first problem. */
int ag_reconcile_config_check(const ag_reconcile_config *c, ag_error *err);

typedef struct ag_reconciler ag_reconciler;

ag_reconciler *ag_reconciler_start(const ag_kube_config *kc, const ag_reconcile_config *cfg,
                                   ag_error *err);
/* Leadership: on 1 every key is queued and workers run; on 0 they stop taking keys at
 * once (the key in hand finishes its current API call). */
void ag_reconciler_set_leader(ag_reconciler *r, int leading);
/* The leader's lease is certain until `until` (ag_leader_monotonic() seconds); past it
 * the reconciler writes nothing until told again (0: no deadline, e.g. no election). */
void ag_reconciler_lease_until(ag_reconciler *r, double until);
/* An object from the watch caches by plural resource name ("aimmodels", ...; ns "" for
 * cluster scope): a new reference, or NULL when unknown. Never waits on the network. */
json_t *ag_reconciler_get(ag_reconciler *r, const char *resource, const char *ns, const char *name);
/* Queues every key again: the policies changed, so the generated pod specs may too. */
void ag_reconciler_resync(ag_reconciler *r);
void ag_reconciler_stop(ag_reconciler *r); /* NULL is a no-op */

typedef struct ag_reconcile_stats {
    uint64_t reconciles, errors, writes, watch_restarts;
    size_t depth;
    int synced; /* every watch cache has listed once */
} ag_reconcile_stats;
void ag_reconciler_stats(ag_reconciler *r, ag_reconcile_stats *out);

#endif
