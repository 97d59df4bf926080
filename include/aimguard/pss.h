/* Pod Security Standards checks (the same set, semantics and exemptions as
 * Kubernetes Pod Security Admission at policy version v1.37, "latest").
 *
 * A pure function over one pod's metadata and spec: no I/O, no globals.
 * Thread-safety: reentrant. Ownership: the result owns its strings; release it with
 * ag_pss_result_clear(). */
#ifndef AIMGUARD_PSS_H
#define AIMGUARD_PSS_H

#include <stddef.h>
#include <jansson.h>
#include "aimguard/error.h"
#include "aimguard/podspec.h"

typedef enum { AG_PSS_PRIVILEGED = 0, AG_PSS_BASELINE = 1, AG_PSS_RESTRICTED = 2 } ag_pss_level;

typedef struct ag_pss_violation {
    const char *check; /* PSA check ID, e.g. "allowPrivilegeEscalation" (static string) */
    char *message;     /* PSA-style reason, e.g.
                          'allowPrivilegeEscalation != false (container "app" must set
                          securityContext.allowPrivilegeEscalation=false)' */
    char *path;        /* first offending field path, relative to the object:
                          "<spec_path>.containers[0].securityContext.allowPrivilegeEscalation" */
} ag_pss_violation;

typedef struct ag_pss_result {
    ag_pss_violation *items;
    size_t count;
} ag_pss_result;

/* Parses "baseline" / "restricted" / "privileged". Returns -1 when unknown. */
int ag_pss_level_parse(const char *s);
const char *ag_pss_level_name(ag_pss_level level);

/* Runs every check of `level` (restricted includes baseline) on one pod.
 * pod_meta: the pod's (or pod template's) metadata object, may be NULL (annotations).
 * pod_spec: the PodSpec object. spec_path: how the spec is reached in the object
 * being reviewed, used to build field paths ("spec", "spec.template.spec", ...).
 * Appends one violation per failed check (a check that fails on several containers
 * gives one violation naming them all, as PSA does). Returns 0, or <0 on OOM. */
int ag_pss_check(ag_pss_level level, const json_t *pod_meta, const json_t *pod_spec,
                 const char *spec_path, ag_pss_result *out, ag_error *err);

/* The same on a pod spec found by ag_podspec_find: its single-container specs (KServe's
 * spec.predictor.model, ...) are judged as containers of the pod. */
int ag_pss_check_pod(ag_pss_level level, const ag_podspec_ref *ref, ag_pss_result *out, ag_error *err);

/* Asked per container and check ID: 1 when the check skips that container. */
typedef int (*ag_pss_exempt_fn)(void *ctx, const char *check, const json_t *container);
/* ag_pss_check_pod, skipping the containers `exempt` names for a check (exempt may be
 * NULL). A pod-level field's part of a check (hostNetwork, volumes, sysctls, the pod's
 * securityContext) is skipped only when every container of the pod is exempt from that
 * check: no container can open the pod for the others. */
int ag_pss_check_pod_exempt(ag_pss_level level, const ag_podspec_ref *ref, ag_pss_exempt_fn exempt,
                            void *exempt_ctx, ag_pss_result *out, ag_error *err);

void ag_pss_result_clear(ag_pss_result *res);

/* Every check ID ag_pss_check() can report (static, NULL-terminated): the control names
 * a policy exception may waive (with their prefixes before '_', e.g. "seccompProfile"). */
const char *const *ag_pss_check_ids(void);

#endif
