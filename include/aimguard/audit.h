/* The background audit: the leader judges every existing object of the kinds the loaded
 * policies' validate blocks match (ag_policy_audit_kinds) with ag_decide_existing() and
 * writes the results as PolicyReports (wgpolicyk8s.io/v1alpha2): one or more
 * PolicyReports per namespace holding judged objects (aimguard-polr-<n>), ClusterPolicyReports
 * (aimguard-cpolr-<n>) for cluster-scoped objects. It reads the objects from the process's
 * watch caches (aimguard/informers.h), except Pods, which are listed per namespace in
 * pages when judged (a cacheless watch tells which namespaces changed); an object's
 * change re-judges its namespace 2 s later; a full pass runs when this replica
 * becomes the leader, when the policy generation changes, after a cache relisted, and
 * every interval_s.
 *
 * Reports are labelled app.kubernetes.io/managed-by=aimguard and written only when their
 * content (results and summary, timestamps aside) changes; an unchanged result keeps its
 * timestamp; a scope with more than report_max_results results is split into several
 * reports; a report aimguard owns that is no longer needed is deleted.
 *
 * Memory: the caches hold the audited kinds' objects but Pods (shared with the cluster view
 * and the reconciler); the audit itself keeps per report its name, resourceVersion and a
 * 64-bit content hash, and per result one timestamp (about 100 bytes), and holds one
 * scope's (namespace's) pods and results at a time; existing reports and pods are read
 * in pages of 500.
 *
 * Threads: one thread (owning its ag_kube) that works only while set_leader(1) and, when
 * told a lease deadline, writes nothing past it. Every function is safe from any thread.
 * Ownership: the holder and the informers are borrowed; the config is copied. Order:
 * ag_informers_stop() (no handler runs after it), then ag_audit_stop(), then
 * ag_informers_free() (the audit reads the caches until it has stopped). */
#ifndef AIMGUARD_AUDIT_H
#define AIMGUARD_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "aimguard/error.h"
#include "aimguard/informers.h"
#include "aimguard/kube.h"
#include "aimguard/policy.h"

typedef struct ag_audit_config {
    double interval_s;          /* a full pass at least this often (> 0) */
    size_t report_max_results;  /* results per report before it splits (>= 1) */
    ag_policy_holder *policies; /* borrowed; its snapshot at ag_audit_start names the kinds watched */
} ag_audit_config;

typedef struct ag_auditor ag_auditor;

/* Asks `informers` for the caches of the kinds the current policies judge and adds its
 * handlers; the caller starts the caches after. NULL with err on failure (the caches
 * must then not be started: the process gives up). */
ag_auditor *ag_audit_start(const ag_kube_config *kc, const ag_audit_config *cfg, ag_informers *informers,
                           ag_error *err);
/* Leadership: 1 starts a full pass (existing reports are read first); 0 stops writing at once. */
void ag_audit_set_leader(ag_auditor *a, int leading);
/* The lease is certain until `until` (ag_leader_monotonic() seconds); past it nothing is written. */
void ag_audit_lease_until(ag_auditor *a, double until);
void ag_audit_stop(ag_auditor *a); /* NULL is a no-op */

typedef struct ag_audit_stats {
    uint64_t passes;         /* full passes done */
    uint64_t scope_passes;   /* passes over the namespaces changed objects are in */
    uint64_t objects;        /* objects judged, over all passes */
    uint64_t writes;         /* report creates and updates */
    uint64_t deletes;        /* reports deleted */
    uint64_t errors;         /* failed API calls */
    size_t kinds;            /* kinds watched for the audit */
} ag_audit_stats;
void ag_audit_stats_get(ag_auditor *a, ag_audit_stats *out);

#endif
