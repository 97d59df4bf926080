#include "aimguard/podspec.h"

#include <string.h>

const char *const ag_container_lists[3] = {"containers", "initContainers", "ephemeralContainers"};

typedef struct spec_at {
    const char *dotted, *ptr;
    const char *const keys[6]; /* the walk from the object root; NULL-terminated */
} spec_at;

typedef struct carrier {
    const char *group, *kind;
    spec_at spec[2];
    int own_meta; /* the pod metadata is the object's own (no template metadata) */
} carrier;

#define TEMPLATE_SPEC {"spec.template.spec", "/spec/template/spec", {"spec", "template", "spec", NULL}}

/* KServe's predictor (and transformer) inline the PodSpec fields; the AIM operator
 * generates exactly that shape. ServingRuntime's spec inlines them too. */
static const carrier carriers[] = {
    {"", "Pod", {{"spec", "/spec", {"spec", NULL}}}, 1},
    {"", "PodTemplate", {{"template.spec", "/template/spec", {"template", "spec", NULL}}}, 0},
    {"", "ReplicationController", {TEMPLATE_SPEC}, 0},
    {"apps", "Deployment", {TEMPLATE_SPEC}, 0},
    {"apps", "ReplicaSet", {TEMPLATE_SPEC}, 0},
    {"apps", "StatefulSet", {TEMPLATE_SPEC}, 0},
    {"apps", "DaemonSet", {TEMPLATE_SPEC}, 0},
    {"batch", "Job", {TEMPLATE_SPEC}, 0},
    {"batch", "CronJob", {{"spec.jobTemplate.spec.template.spec", "/spec/jobTemplate/spec/template/spec",
                           {"spec", "jobTemplate", "spec", "template", "spec", NULL}}}, 0},
    {"serving.kserve.io", "InferenceService",
     {{"spec.predictor", "/spec/predictor", {"spec", "predictor", NULL}},
      {"spec.transformer", "/spec/transformer", {"spec", "transformer", NULL}}}, 1},
    {"serving.kserve.io", "ServingRuntime", {{"spec", "/spec", {"spec", NULL}}}, 1},
    {"serving.kserve.io", "ClusterServingRuntime", {{"spec", "/spec", {"spec", NULL}}}, 1},
};

static const carrier *lookup(const char *group, const char *kind)
{
    for (size_t i = 0; i < sizeof carriers / sizeof carriers[0]; i++)
        if (!strcmp(carriers[i].kind, kind) && !strcmp(carriers[i].group, group ? group : ""))
            return &carriers[i];
    return NULL;
}

int ag_podspec_is_carrier(const char *group, const char *kind)
{
    return lookup(group, kind) != NULL;
}

size_t ag_podspec_find(const char *group, const char *kind, json_t *object, ag_podspec_ref *out)
{
    const carrier *c = lookup(group, kind);
    size_t n = 0;
    if (!c || !json_is_object(object))
        return 0;
    for (int i = 0; i < 2 && c->spec[i].dotted; i++) {
        json_t *cur = object, *parent = NULL;
        for (const char *const *k = c->spec[i].keys; *k && cur; k++) {
            parent = cur;
            cur = json_object_get(cur, *k);
        }
        if (!json_is_object(cur))
            continue;
        ag_podspec_ref *r = &out[n++];
        r->spec = cur;
        r->ptr = c->spec[i].ptr;
        r->path = c->spec[i].dotted;
        /* the pod's own metadata, or the template's (the sibling of the spec) */
        json_t *meta = json_object_get(c->own_meta ? object : parent, "metadata");
        r->meta = json_is_object(meta) ? meta : NULL;
    }
    return n;
}

const char *const *ag_podspec_table(void)
{
    static const char *const lines[] = {
        "Pod                                   spec",
        "PodTemplate                           template.spec",
        "ReplicationController                 spec.template.spec",
        "apps/Deployment                       spec.template.spec",
        "apps/ReplicaSet                       spec.template.spec",
        "apps/StatefulSet                      spec.template.spec",
        "apps/DaemonSet                        spec.template.spec",
        "batch/Job                             spec.template.spec",
        "batch/CronJob                         spec.jobTemplate.spec.template.spec",
        "serving.kserve.io/InferenceService    spec.predictor, spec.transformer",
        "serving.kserve.io/ServingRuntime      spec",
        "serving.kserve.io/ClusterServingRuntime spec",
        NULL};
    return lines;
}
