#include "aimguard/podspec.h"
#include "aimguard/error.h"
#include "aimguard/jsonspan.h"

#include <stdio.h>
#include <string.h>

const char *const ag_container_lists[3] = {"containers", "initContainers", "ephemeralContainers"};

/* KServe turns the predictor's framework/model spec (and the explainer's art spec) into
 * the first container of the pod, merged with containers[0]: each is judged as a
 * container of that pod (../shared/reference/kserve-pod-specs.md). */
static const char *const predictor_singles[] = {"huggingface", "lightgbm", "model", "onnx", "paddle",
                                                "pmml", "pytorch", "sklearn", "tensorflow", "triton",
                                                "xgboost", NULL};
static const char *const explainer_singles[] = {"art", NULL};

enum { META_OWN, META_TEMPLATE };

typedef struct spec_at {
    const char *path;            /* dotted, "[*]" after a key visits every element */
    const char *const *singles;
    int meta;                    /* META_OWN: the object's; META_TEMPLATE: the spec's sibling */
} spec_at;

#define MAX_SPECS 10

typedef struct carrier {
    ag_carrier_info info;
    spec_at spec[MAX_SPECS];
} carrier;

#define TEMPLATE_SPEC {"spec.template.spec", NULL, META_TEMPLATE}
#define POD(p) {p, NULL, META_OWN}
/* LLMInferenceService and its config carry the same six pod specs */
#define LLM_SPECS {POD("spec.template"), POD("spec.worker"), POD("spec.prefill.template"), \
                   POD("spec.prefill.worker"), POD("spec.router.scheduler.template"), \
                   POD("spec.router.scheduler.tokenizer.template")}

static const carrier carriers[] = {
    {{"", "Pod", "pods"}, {POD("spec")}},
    {{"", "PodTemplate", "podtemplates"}, {{"template.spec", NULL, META_TEMPLATE}}},
    {{"", "ReplicationController", "replicationcontrollers"}, {TEMPLATE_SPEC}},
    {{"apps", "Deployment", "deployments"}, {TEMPLATE_SPEC}},
    {{"apps", "ReplicaSet", "replicasets"}, {TEMPLATE_SPEC}},
    {{"apps", "StatefulSet", "statefulsets"}, {TEMPLATE_SPEC}},
    {{"apps", "DaemonSet", "daemonsets"}, {TEMPLATE_SPEC}},
    {{"batch", "Job", "jobs"}, {TEMPLATE_SPEC}},
    {{"batch", "CronJob", "cronjobs"},
     {{"spec.jobTemplate.spec.template.spec", NULL, META_TEMPLATE}}},
    {{"serving.kserve.io", "InferenceService", "inferenceservices"},
     {{"spec.predictor", predictor_singles, META_OWN}, POD("spec.predictor.workerSpec"),
      POD("spec.transformer"), {"spec.explainer", explainer_singles, META_OWN},
      {"spec.canary[*].predictor", predictor_singles, META_OWN}, POD("spec.canary[*].predictor.workerSpec")}},
    {{"serving.kserve.io", "ServingRuntime", "servingruntimes"},
     {POD("spec"), POD("spec.workerSpec")}},
    {{"serving.kserve.io", "ClusterServingRuntime", "clusterservingruntimes"},
     {POD("spec"), POD("spec.workerSpec")}},
    {{"serving.kserve.io", "LLMInferenceService", "llminferenceservices"}, LLM_SPECS},
    {{"serving.kserve.io", "LLMInferenceServiceConfig", "llminferenceserviceconfigs"}, LLM_SPECS},
    {{"leaderworkerset.x-k8s.io", "LeaderWorkerSet", "leaderworkersets"},
     {{"spec.leaderWorkerTemplate.leaderTemplate.spec", NULL, META_TEMPLATE},
      {"spec.leaderWorkerTemplate.workerTemplate.spec", NULL, META_TEMPLATE}}},
};

#define NCARRIERS (sizeof carriers / sizeof carriers[0])

static const carrier *lookup(const char *group, const char *kind)
{
    for (size_t i = 0; i < NCARRIERS; i++)
        if (!strcmp(carriers[i].info.kind, kind) && !strcmp(carriers[i].info.group, group ? group : ""))
            return &carriers[i];
    return NULL;
}

int ag_podspec_is_carrier(const char *group, const char *kind)
{
    return kind && lookup(group, kind) != NULL;
}

const ag_carrier_info *ag_podspec_carrier(size_t i)
{
    return i < NCARRIERS ? &carriers[i].info : NULL;
}

size_t ag_podspec_carrier_paths(size_t i, ag_carrier_path *out, size_t max)
{
    size_t n = 0;
    for (size_t k = 0; i < NCARRIERS && k < MAX_SPECS && carriers[i].spec[k].path; k++) {
        const spec_at *at = &carriers[i].spec[k];
        if (n < max)
            out[n] = (ag_carrier_path){at->path, NULL};
        n++;
        for (size_t j = 0; at->singles && at->singles[j]; j++) {
            if (n < max)
                out[n] = (ag_carrier_path){at->path, at->singles[j]};
            n++;
        }
    }
    return n;
}

typedef struct finder {
    json_t *object;
    const spec_at *at;
    ag_podspec_ref *out;
    size_t max, n;
} finder;

static void found(finder *f, json_t *spec, json_t *parent, const char *path, const char *ptr)
{
    if (f->n++ >= f->max)
        return; /* counted: the caller refuses an object with more than max */
    ag_podspec_ref *r = &f->out[f->n - 1];
    r->spec = spec;
    r->singles = f->at->singles;
    ag_strfmt(r->path, sizeof r->path, "%s", path);
    ag_strfmt(r->ptr, sizeof r->ptr, "%s", ptr);
    r->meta_parent = f->at->meta == META_OWN ? f->object : parent;
    json_t *meta = json_object_get(r->meta_parent, "metadata");
    r->meta = json_is_object(meta) ? meta : NULL;
    if (f->at->meta == META_OWN) {
        ag_strfmt(r->meta_ptr, sizeof r->meta_ptr, "/metadata");
    } else {
        /* the template's metadata is the spec's sibling: ".../template/spec" -> ".../template/metadata" */
        const char *slash = strrchr(ptr, '/');
        ag_strfmt(r->meta_ptr, sizeof r->meta_ptr, "%.*s/metadata", (int)(slash ? slash - ptr : 0), ptr);
    }
}

/* Follows the rest of a dotted path ("canary[*].predictor") from node; path and ptr hold
 * the way so far. Paths are fixed strings of the table and indices are short, so the
 * buffers (AG_PODSPEC_PATH) always hold them. */
static void follow(finder *f, const char *rest, json_t *node, json_t *parent, const char *path, const char *ptr)
{
    if (!*rest) {
        if (json_is_object(node))
            found(f, node, parent, path, ptr);
        return;
    }
    if (!json_is_object(node))
        return;
    const char *dot = strchr(rest, '.');
    size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
    const char *next = dot ? dot + 1 : rest + len;
    int each = len > 3 && !memcmp(rest + len - 3, "[*]", 3);
    size_t klen = each ? len - 3 : len;
    char key[64];
    if (klen >= sizeof key)
        return;
    memcpy(key, rest, klen);
    key[klen] = '\0';
    json_t *child = json_object_get(node, key);
    char p[AG_PODSPEC_PATH], q[AG_PODSPEC_PATH];
    if (!each) {
        ag_strfmt(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
        ag_strfmt(q, sizeof q, "%s/%s", ptr, key);
        follow(f, next, child, node, p, q);
        return;
    }
    size_t i;
    json_t *el;
    json_array_foreach(child, i, el) {
        ag_strfmt(p, sizeof p, "%s%s%s[%zu]", path, *path ? "." : "", key, i);
        ag_strfmt(q, sizeof q, "%s/%s/%zu", ptr, key, i);
        follow(f, next, el, child, p, q);
    }
}

size_t ag_podspec_find(const char *group, const char *kind, json_t *object, ag_podspec_ref *out, size_t max)
{
    const carrier *c = kind ? lookup(group, kind) : NULL;
    if (!c || !json_is_object(object))
        return 0;
    finder f = {object, NULL, out, max, 0};
    for (size_t i = 0; i < MAX_SPECS && c->spec[i].path; i++) {
        f.at = &c->spec[i];
        follow(&f, c->spec[i].path, object, NULL, "", "");
    }
    return f.n;
}

void ag_container_iter_init(ag_container_iter *it, const ag_podspec_ref *ref)
{
    it->ref = ref;
    it->list = 0;
    it->i = 0;
    it->s = 0;
}

int ag_container_next(ag_container_iter *it, ag_container_ref *out)
{
    const ag_podspec_ref *ref = it->ref;
    for (; it->list < 3; it->list++, it->i = 0) {
        json_t *arr = json_object_get(ref->spec, ag_container_lists[it->list]);
        while (it->i < json_array_size(arr)) {
            size_t i = it->i++;
            json_t *c = json_array_get(arr, i);
            if (!json_is_object(c))
                continue;
            out->c = c;
            out->list = it->list;
            out->index = i;
            out->single = NULL;
            out->ref = ref;
            out->path[0] = '\0';
            return 1;
        }
    }
    while (ref->singles && ref->singles[it->s]) {
        const char *key = ref->singles[it->s++];
        json_t *c = json_object_get(ref->spec, key);
        if (!json_is_object(c))
            continue;
        out->c = c;
        out->list = 0;
        out->index = 0;
        out->single = key;
        out->ref = ref;
        out->path[0] = '\0';
        return 1;
    }
    return 0;
}

const char *ag_container_name(const ag_container_ref *c)
{
    const char *n = json_string_value(json_object_get(c->c, "name"));
    return n ? n : c->single ? c->single : "";
}

const char *ag_container_path(ag_container_ref *c)
{
    if (!c->path[0]) {
        if (c->single)
            ag_strfmt(c->path, sizeof c->path, "%s.%s", c->ref->path, c->single);
        else
            ag_strfmt(c->path, sizeof c->path, "%s.%s[%zu]", c->ref->path, ag_container_lists[c->list], c->index);
    }
    return c->path;
}

void ag_container_ptr(const ag_podspec_ref *ref, const ag_container_ref *c, char *buf, size_t cap)
{
    if (c->single)
        ag_strfmt(buf, cap, "%s/%s", ref->ptr, c->single);
    else
        ag_strfmt(buf, cap, "%s/%s/%zu", ref->ptr, ag_container_lists[c->list], c->index);
}

/* One carrier path's subtree as a JSON pointer from the object: the path up to its
 * first "[*]" (a list: the whole list is compared), dots turned into slashes. */
static int subtree_ptr(char *out, size_t cap, const char *path)
{
    size_t n = strcspn(path, "[");
    if (n + 2 > cap)
        return -1;
    out[0] = '/';
    for (size_t i = 0; i < n; i++)
        out[1 + i] = path[i] == '.' ? '/' : path[i];
    out[1 + n] = '\0';
    return 0;
}

int ag_podspec_raw_unchanged(const char *group, const char *kind, const char *now, size_t now_len,
                             const char *old, size_t old_len)
{
    const carrier *c = kind ? lookup(group, kind) : NULL;
    if (!c || !now || !old)
        return 0;
    for (size_t i = 0; i < MAX_SPECS && c->spec[i].path; i++) {
        char ptr[256];
        size_t aoff, alen, boff, blen;
        if (subtree_ptr(ptr, sizeof ptr, c->spec[i].path))
            return 0;
        ag_span_result ra = ag_json_span(now, now_len, ptr, &aoff, &alen),
                       rb = ag_json_span(old, old_len, ptr, &boff, &blen);
        if (ra == AG_SPAN_ABSENT && rb == AG_SPAN_ABSENT)
            continue;
        /* the same bytes read as the same value; different bytes may still be equal
         * values (another order, other spacing): then the caller compares values */
        if (ra != AG_SPAN_FOUND || rb != AG_SPAN_FOUND || alen != blen || memcmp(now + aoff, old + boff, alen))
            return 0;
    }
    return 1;
}
