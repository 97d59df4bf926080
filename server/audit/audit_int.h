/* The background audit's internals, shared by auditor.c (thread, events, passes) and
 * report.c (PolicyReport contents and their writes). Not public. */
#ifndef AIMGUARD_AUDIT_INT_H
#define AIMGUARD_AUDIT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>

#include "aimguard/audit.h"
#include "aimguard/kinds.h"

#define AUDIT_MAX_KINDS 96
#define AUDIT_PAGE 500
#define AUDIT_MESSAGE_MAX 1024 /* characters of a result's message kept in a report */

struct ag_auditor;
typedef struct audit_kind {
    struct ag_auditor *a;
    const ag_kind_info *k;
    const char *version;
    ag_informer *inf;
    int listed;       /* no cache: listed per namespace in pages when judged; its own
                       * cacheless informer only marks scopes changed */
} audit_kind;

struct ag_auditor {
    ag_audit_config cfg;
    ag_kube_config kc;
    ag_view view;                 /* namespace labels (namespaceSelector) from the caches; no access */
    ag_informers *informers;      /* borrowed: the namespaces cache names the scopes of listed kinds */
    audit_kind kinds[AUDIT_MAX_KINDS];
    size_t nkinds;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;           /* guards the fields below up to `resync` */
    pthread_cond_t cv;
    int leading, stopping;
    json_t *dirty;                /* scope ("" cluster, else the namespace) -> true */
    double dirty_since;
    int resync;                   /* a cache relisted: a full pass */
    _Atomic double lease_until;
    atomic_ullong passes, scope_passes, objects, writes, deletes, errors;
    /* the audit thread's own */
    ag_kube *kube;
    json_t *state;                /* scope -> {"reports": {name: {"rv", "hash"}}, "ts": {key: seconds}} */
    int adopted;                  /* the existing reports were read since this replica leads */
    int crd_missing_logged;
};

/* report.c */
/* Lists the reports aimguard owns into a->state (hashes and result timestamps). 0, or
 * AG_ENOTFOUND when the PolicyReport CRDs are not installed, or another error. */
int audit_adopt(ag_auditor *a, ag_error *err);
/* Judges the objects of one scope (borrowed array; may be empty) and writes its reports:
 * what changed is written, what is no longer needed deleted. 0 or an error. */
int audit_scope(ag_auditor *a, const ag_policy_set *set, const char *scope, json_t *objects, time_t now,
                ag_error *err);
/* 1 while this replica leads and its lease is certain */
int audit_may_write(ag_auditor *a);

#endif
