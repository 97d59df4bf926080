/* The known kinds (see aimguard/kinds.h) and the check of a policy's kinds entries. */
#include "aimguard/kinds.h"

#include "schema.h"

#include "aimguard/buf.h"
#include "aimguard/podspec.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NS AG_SCOPE_NAMESPACED
#define CL AG_SCOPE_CLUSTER
#define MV (AG_SENT_MUTATE | AG_SENT_VALIDATE)
#define V AG_SENT_VALIDATE

/* `sent` mirrors the rules of deploy/base/webhooks.yaml; test/deploy/test_webhook_kinds.py
 * fails when they disagree, so neither can drift alone. Built-in kinds: the API groups a
 * current kube-apiserver serves for objects users write (virtual review kinds such as
 * TokenReview and subresource kinds such as Eviction left out: a policy cannot judge them). */
static const ag_kind_info table[] = {
    /* core */
    {"", "Pod", "pods", NS, MV},
    {"", "PodTemplate", "podtemplates", NS, MV},
    {"", "ReplicationController", "replicationcontrollers", NS, MV},
    {"", "Service", "services", NS, 0},
    {"", "ConfigMap", "configmaps", NS, 0},
    {"", "Secret", "secrets", NS, 0},
    {"", "ServiceAccount", "serviceaccounts", NS, 0},
    {"", "PersistentVolumeClaim", "persistentvolumeclaims", NS, 0},
    {"", "PersistentVolume", "persistentvolumes", CL, 0},
    {"", "Namespace", "namespaces", CL, 0},
    {"", "Node", "nodes", CL, 0},
    {"", "Endpoints", "endpoints", NS, 0},
    {"", "Event", "events", NS, 0},
    {"", "LimitRange", "limitranges", NS, 0},
    {"", "ResourceQuota", "resourcequotas", NS, 0},
    /* apps, batch */
    {"apps", "Deployment", "deployments", NS, MV},
    {"apps", "ReplicaSet", "replicasets", NS, MV},
    {"apps", "StatefulSet", "statefulsets", NS, MV},
    {"apps", "DaemonSet", "daemonsets", NS, MV},
    {"apps", "ControllerRevision", "controllerrevisions", NS, 0},
    {"batch", "Job", "jobs", NS, MV},
    {"batch", "CronJob", "cronjobs", NS, MV},
    /* the other built-in groups */
    {"autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", NS, 0},
    {"policy", "PodDisruptionBudget", "poddisruptionbudgets", NS, 0},
    {"networking.k8s.io", "Ingress", "ingresses", NS, 0},
    {"networking.k8s.io", "IngressClass", "ingressclasses", CL, 0},
    {"networking.k8s.io", "NetworkPolicy", "networkpolicies", NS, 0},
    {"rbac.authorization.k8s.io", "Role", "roles", NS, 0},
    {"rbac.authorization.k8s.io", "RoleBinding", "rolebindings", NS, V},
    {"rbac.authorization.k8s.io", "ClusterRole", "clusterroles", CL, 0},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", CL, V},
    {"storage.k8s.io", "StorageClass", "storageclasses", CL, 0},
    {"storage.k8s.io", "VolumeAttachment", "volumeattachments", CL, 0},
    {"storage.k8s.io", "CSIDriver", "csidrivers", CL, 0},
    {"storage.k8s.io", "CSINode", "csinodes", CL, 0},
    {"storage.k8s.io", "CSIStorageCapacity", "csistoragecapacities", NS, 0},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", CL, 0},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", CL, 0},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", CL, 0},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", CL, 0},
    {"apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", CL, 0},
    {"apiregistration.k8s.io", "APIService", "apiservices", CL, 0},
    {"coordination.k8s.io", "Lease", "leases", NS, 0},
    {"discovery.k8s.io", "EndpointSlice", "endpointslices", NS, 0},
    {"events.k8s.io", "Event", "events", NS, 0},
    {"scheduling.k8s.io", "PriorityClass", "priorityclasses", CL, 0},
    {"node.k8s.io", "RuntimeClass", "runtimeclasses", CL, 0},
    {"certificates.k8s.io", "CertificateSigningRequest", "certificatesigningrequests", CL, 0},
    {"flowcontrol.apiserver.k8s.io", "FlowSchema", "flowschemas", CL, 0},
    {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", "prioritylevelconfigurations", CL, 0},
    {"resource.k8s.io", "ResourceClaim", "resourceclaims", NS, 0},
    {"resource.k8s.io", "ResourceClaimTemplate", "resourceclaimtemplates", NS, 0},
    {"resource.k8s.io", "DeviceClass", "deviceclasses", CL, 0},
    {"resource.k8s.io", "ResourceSlice", "resourceslices", CL, 0},
    /* AIM (../shared/reference/aim-resources.md, aim-crds/) */
    {"aim.eai.amd.com", "AIMService", "aimservices", NS, MV},
    {"aim.eai.amd.com", "AIMModel", "aimmodels", NS, MV},
    {"aim.eai.amd.com", "AIMClusterModel", "aimclustermodels", CL, MV},
    {"aim.eai.amd.com", "AIMServiceTemplate", "aimservicetemplates", NS, MV},
    {"aim.eai.amd.com", "AIMClusterServiceTemplate", "aimclusterservicetemplates", CL, MV},
    {"aim.eai.amd.com", "AIMTemplateCache", "aimtemplatecaches", NS, MV},
    {"aim.eai.amd.com", "AIMArtifact", "aimartifacts", NS, MV},
    {"aim.eai.amd.com", "AIMRuntimeConfig", "aimruntimeconfigs", NS, MV},
    {"aim.eai.amd.com", "AIMClusterRuntimeConfig", "aimclusterruntimeconfigs", CL, MV},
    {"aim.eai.amd.com", "AIMClusterModelSource", "aimclustermodelsources", CL, MV},
    /* KServe (../shared/reference/kserve-pod-specs.md) */
    {"serving.kserve.io", "InferenceService", "inferenceservices", NS, MV},
    {"serving.kserve.io", "ServingRuntime", "servingruntimes", NS, MV},
    {"serving.kserve.io", "ClusterServingRuntime", "clusterservingruntimes", CL, MV},
    {"serving.kserve.io", "LLMInferenceService", "llminferenceservices", NS, MV},
    {"serving.kserve.io", "LLMInferenceServiceConfig", "llminferenceserviceconfigs", NS, MV},
    {"serving.kserve.io", "InferenceGraph", "inferencegraphs", NS, 0},
    {"serving.kserve.io", "TrainedModel", "trainedmodels", NS, 0},
    {"serving.kserve.io", "LocalModelCache", "localmodelcaches", CL, 0},
    /* other pod carriers */
    {"leaderworkerset.x-k8s.io", "LeaderWorkerSet", "leaderworkersets", NS, MV},
};

#define NKINDS (sizeof table / sizeof table[0])

const ag_kind_info *ag_kinds_table(size_t *n)
{
    *n = NKINDS;
    return table;
}

const ag_kind_info *ag_kinds_find(const char *group, const char *kind)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(table[i].kind, kind) && !strcmp(table[i].group, group ? group : ""))
            return &table[i];
    return NULL;
}

static int group_known(const char *g)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(table[i].group, g))
            return 1;
    return 0;
}

/* "group/Kind" as a policy writes it (the core group without a prefix). */
static void qualified(char *out, size_t cap, const ag_kind_info *k)
{
    if (*k->group)
        snprintf(out, cap, "%s/%s", k->group, k->kind);
    else
        snprintf(out, cap, "%s", k->kind);
}

/* The known kind closest to `kind`, preferring `group` (NULL: any group). An exact kind
 * name in another group is the best answer ("batch/Deployment" -> apps/Deployment). */
static const ag_kind_info *closest_kind(const char *group, const char *kind)
{
    const ag_kind_info *best = NULL;
    size_t bestd = 99;
    for (size_t i = 0; i < NKINDS; i++) {
        size_t d = pol_distance(table[i].kind, kind) * 2 + (group && strcmp(table[i].group, group) ? 1 : 0);
        if (strcmp(table[i].kind, kind) == 0)
            d = 0;
        if (d < bestd)
            bestd = d, best = &table[i];
    }
    size_t len = strlen(kind);
    size_t limit = len < 6 ? 2 : 3; /* edits, before the group penalty */
    return best && bestd <= limit * 2 + 1 ? best : NULL;
}

static const char *closest_group(const char *g)
{
    const char *best = NULL;
    size_t bestd = 99;
    for (size_t i = 0; i < NKINDS; i++) {
        size_t d = pol_distance(table[i].group, g);
        if (*table[i].group && d < bestd)
            bestd = d, best = table[i].group;
    }
    return best && bestd <= 2 ? best : NULL;
}

/* The webhooks sending any kind matched by group ("*": any) and kind ("*": any). */
static unsigned sent_of(const char *group, const char *kind)
{
    unsigned s = 0;
    for (size_t i = 0; i < NKINDS; i++)
        if ((!strcmp(group, "*") || !strcmp(table[i].group, group)) &&
            (!strcmp(kind, "*") || !strcmp(table[i].kind, kind)))
            s |= table[i].sent;
    return s;
}

static int kind_exists(const char *kind)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (!strcmp(table[i].kind, kind))
            return 1;
    return 0;
}

static int looks_like_version(const char *s, size_t n)
{
    return n >= 2 && s[0] == 'v' && isdigit((unsigned char)s[1]);
}

/* A bare pattern ("Pods") gets a bare suggestion: it matches the kind in every group. */
static int suggest(char *msg, size_t cap, const char *pattern, const char *why,
                   const ag_kind_info *k)
{
    char q[160];
    if (k) {
        if (strchr(pattern, '/'))
            qualified(q, sizeof q, k);
        else
            snprintf(q, sizeof q, "%s", k->kind);
        snprintf(msg, cap, "unknown kind '%s'%s (did you mean '%s'?)", pattern, why, q);
    } else {
        snprintf(msg, cap, "unknown kind '%s'%s", pattern, why);
    }
    return -1;
}

int ag_kinds_check(const char *pattern, unsigned *sent, char *msg, size_t cap)
{
    char group[256];
    *sent = 0;
    if (!strcmp(pattern, "*")) {
        *sent = AG_SENT_MUTATE | AG_SENT_VALIDATE;
        return 0;
    }
    const char *slash = strchr(pattern, '/');
    if (!slash) {
        if (kind_exists(pattern)) {
            *sent = sent_of("*", pattern);
            return 0;
        }
        const ag_kind_info *k = closest_kind(NULL, pattern);
        if (k)
            return suggest(msg, cap, pattern, "", k);
        snprintf(msg, cap, "unknown kind '%s': not a built-in Kubernetes, AIM or KServe kind (a custom "
                 "resource is written with its group: example.com/%s)", pattern, pattern);
        return -1;
    }
    size_t glen = (size_t)(slash - pattern);
    const char *kind = slash + 1;
    if (glen >= sizeof group) {
        snprintf(msg, cap, "kind '%s': the group is too long", pattern);
        return -1;
    }
    memcpy(group, pattern, glen);
    group[glen] = '\0';
    if (strchr(kind, '/')) {
        /* "apps/v1/Deployment": pol_kind_matches would take "apps/v1" for the group */
        const char *last = strrchr(pattern, '/') + 1;
        char want[300] = "";
        const ag_kind_info *k = ag_kinds_find(!strcmp(group, "core") ? "" : group, last);
        if (k)
            qualified(want, sizeof want, k);
        snprintf(msg, cap, "kind '%s': write GROUP/Kind without the version%s%s%s", pattern,
                 *want ? " (did you mean '" : "", want, *want ? "'?)" : "");
        return -1;
    }
    if (!*kind || !*group) {
        snprintf(msg, cap, "kind '%s': expected GROUP/Kind, e.g. apps/Deployment", pattern);
        return -1;
    }
    if (looks_like_version(group, glen) && !strchr(group, '.')) {
        const ag_kind_info *k = closest_kind(NULL, kind);
        return suggest(msg, cap, pattern, ": the part before '/' is an API group, not a version", k);
    }
    if (!strcmp(group, "*")) {
        if (!strcmp(kind, "*") || kind_exists(kind)) {
            *sent = sent_of("*", kind);
            return 0;
        }
        return suggest(msg, cap, pattern, "", closest_kind(NULL, kind));
    }
    const char *g = !strcmp(group, "core") ? "" : group;
    if (*g == '\0' || group_known(g)) {
        if (!strcmp(kind, "*") || ag_kinds_find(g, kind)) {
            *sent = sent_of(g, kind);
            return 0;
        }
        return suggest(msg, cap, pattern, "", closest_kind(g, kind));
    }
    /* an unknown group: a custom resource when it can be a CRD group (it has a dot) and is
     * not a typo of a known group naming one of that group's kinds */
    const char *near = closest_group(g);
    if (near) {
        const ag_kind_info *k = closest_kind(near, kind);
        if (k && !strcmp(k->group, near))
            return suggest(msg, cap, pattern, "", k);
    }
    if (!strchr(g, '.')) {
        const ag_kind_info *k = closest_kind(NULL, kind);
        if (k && near)
            return suggest(msg, cap, pattern, "", k);
        snprintf(msg, cap, "unknown API group '%s' in '%s': built-in groups are apps, batch, core, "
                 "...; a custom resource's group has a dot (example.com/%s)", group, pattern, kind);
        return -1;
    }
    if (strcmp(kind, "*") && !isupper((unsigned char)kind[0])) {
        snprintf(msg, cap, "kind '%s': a kind starts with an upper-case letter (%c%s)", pattern,
                 toupper((unsigned char)kind[0]), kind + 1);
        return -1;
    }
    return 0;
}

char *ag_policy_kinds_text(void)
{
    ag_buf b = {0};
    ag_buf_printf(&b, "%-30s %-33s %-35s %-11s %-16s %s\n", "GROUP", "KIND", "RESOURCE", "SCOPE",
                  "WEBHOOKS", "POD-SPEC");
    for (size_t i = 0; i < NKINDS; i++) {
        const ag_kind_info *k = &table[i];
        unsigned s = k->sent;
        const char *sent = s == (AG_SENT_MUTATE | AG_SENT_VALIDATE) ? "mutate,validate"
                           : s == AG_SENT_MUTATE ? "mutate" : s == AG_SENT_VALIDATE ? "validate" : "-";
        ag_buf_printf(&b, "%-30s %-33s %-35s %-11s %-16s %s\n", *k->group ? k->group : "core", k->kind,
                      k->resource, k->scope == AG_SCOPE_CLUSTER ? "Cluster" : "Namespaced", sent,
                      ag_podspec_is_carrier(k->group, k->kind) ? "yes" : "no");
    }
    return ag_buf_take(&b);
}
