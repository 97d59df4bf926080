/* The reconciler's pure builders: see desired.h. docs/reconciler.md describes the shapes
 * and what differs from the AIM operator. */
#include "reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AIM_API "aim.eai.amd.com/v1alpha1"

/* AMD GPU models -> PCI device ids (the amd.com/gpu.device-id node label) */
static const struct { const char *model, *ids; } gpu_ids[] = {
    {"MI100", "738c"},  {"MI210", "740f"},  {"MI250", "740c"},  {"MI250X", "740c"},
    {"MI300A", "74a0"}, {"MI300X", "74a1"}, {"MI308X", "74a2"}, {"MI325X", "74a5"},
    {"MI350X", "75a0"}, {"MI355X", "75a3"},
};

/* A label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
void rc_label_value(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; in && *in && n + 1 < cap && n < 63; in++) {
        char ch = *in;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        out[n++] = ok ? ch : '-';
    }
    while (n && !((out[n - 1] >= 'a' && out[n - 1] <= 'z') || (out[n - 1] >= 'A' && out[n - 1] <= 'Z') ||
                  (out[n - 1] >= '0' && out[n - 1] <= '9')))
        n--;
    out[n] = '\0';
    size_t skip = strspn(out, "-._");
    memmove(out, out + skip, strlen(out + skip) + 1);
}

/* env entries with a later one of the same name replacing an earlier one in place */
void rc_env_merge(json_t *list, json_t *more)
{
    size_t i;
    json_t *e;
    json_array_foreach(more, i, e) {
        const char *name = rc_str(e, "name");
        if (!name)
            continue;
        size_t j;
        json_t *have;
        int done = 0;
        json_array_foreach(list, j, have)
            if (!strcmp(rc_str(have, "name"), name)) {
                json_array_set(list, j, e);
                done = 1;
                break;
            }
        if (!done)
            json_array_append(list, e);
    }
}

static void env_add(json_t *list, const char *name, const char *value)
{
    if (!value)
        return;
    json_t *one = json_pack("[{s:s, s:s}]", "name", name, "value", value);
    rc_env_merge(list, one);
    json_decref(one);
}

/* b merged over a, recursively for objects (b wins); new reference */
json_t *rc_merge_over(json_t *a, json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b))
        return json_deep_copy(b ? b : a);
    json_t *out = json_deep_copy(a);
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v) {
        json_t *m = rc_merge_over(json_object_get(out, k), v);
        json_object_set_new(out, k, m);
    }
    return out;
}

static json_t *quantity(long long n, const char *unit)
{
    char b[48];
    snprintf(b, sizeof b, "%lld%s", n, unit);
    return json_string(b);
}

static int node_affinity(const rc_resolved *r, json_t *pod, char *why, size_t cap)
{
    json_t *na = r->tmpl ? rc_at(r->tmpl, "status.resolvedNodeAffinity") : NULL;
    if (json_is_object(na)) {
        json_object_set_new(pod, "affinity", json_pack("{s:O}", "nodeAffinity", na));
        return 0;
    }
    const char *model = json_string_value(rc_at(r->hardware, "gpu.model"));
    if (!model)
        return 0;
    for (size_t i = 0; i < sizeof gpu_ids / sizeof gpu_ids[0]; i++)
        if (!strcasecmp(gpu_ids[i].model, model)) {
            json_object_set_new(pod, "affinity", json_pack(
                "{s:{s:{s:[{s:[{s:s, s:s, s:[s]}]}]}}}", "nodeAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", "matchExpressions",
                "key", "amd.com/gpu.device-id", "operator", "In", "values", gpu_ids[i].ids));
            return 0;
        }
    snprintf(why, cap, "GPU model %s is not one aimguard knows a device id for", model);
    return -1;
}

static json_t *resources(const rc_resolved *r, json_t *svc)
{
    json_t *req = json_object(), *lim = json_object();
    json_t *gpu = json_object_get(r->hardware, "gpu");
    long long n = json_integer_value(json_object_get(gpu, "requests"));
    const char *rn = rc_str(gpu, "resourceName") ? rc_str(gpu, "resourceName") : "amd.com/gpu";
    if (n > 0) {
        json_object_set_new(req, "cpu", quantity(4 * n, ""));
        json_object_set_new(req, "memory", quantity(32 * n, "Gi"));
        json_object_set_new(lim, "memory", quantity(48 * n, "Gi"));
        json_object_set_new(req, rn, quantity(n, ""));
        json_object_set_new(lim, rn, quantity(n, ""));
    }
    json_t *cpu = json_object_get(r->hardware, "cpu");
    if (json_object_get(cpu, "requests"))
        json_object_set(req, "cpu", json_object_get(cpu, "requests"));
    if (json_object_get(cpu, "limits"))
        json_object_set(lim, "cpu", json_object_get(cpu, "limits"));
    json_t *layers[2] = {r->tmpl ? rc_at(r->tmpl, "spec.resources") : NULL, rc_at(svc, "spec.resources")};
    for (int i = 0; i < 2; i++) {
        json_object_update(req, json_object_get(layers[i], "requests"));
        json_object_update(lim, json_object_get(layers[i], "limits"));
    }
    json_t *out = json_object();
    if (json_object_size(req))
        json_object_set(out, "requests", req);
    if (json_object_size(lim))
        json_object_set(out, "limits", lim);
    json_decref(req);
    json_decref(lim);
    return out;
}

/* labels every child gets: AIM's managed-by / parent name, the parent's aim.eai.amd.com
 * labels, and the ones the runtime config's labelPropagation matches */
json_t *rc_child_labels(json_t *parent, json_t *rcfg, const char *controller)
{
    json_t *l = json_object();
    json_t *pl = rc_at(parent, "metadata.labels");
    json_t *prop = json_object_get(rcfg, "labelPropagation");
    int propagate = json_is_true(json_object_get(prop, "enabled"));
    const char *k;
    json_t *v;
    json_object_foreach(pl, k, v) {
        int take = !strncmp(k, "aim.eai.amd.com/", 16);
        size_t i;
        json_t *g;
        if (propagate)
            json_array_foreach(json_object_get(prop, "match"), i, g)
                if (json_string_value(g) && ag_glob(json_string_value(g), k))
                    take = 1;
        if (take)
            json_object_set(l, k, v);
    }
    char key[128], val[64];
    snprintf(key, sizeof key, "aim-%s-controller", controller);
    json_object_set_new(l, "app.kubernetes.io/managed-by", json_string(key));
    snprintf(key, sizeof key, "aim.eai.amd.com/%s.name", controller);
    rc_label_value(json_string_value(rc_at(parent, "metadata.name")), val, sizeof val);
    json_object_set_new(l, key, json_string(val));
    return l;
}

static void label(json_t *l, const char *key, const char *value)
{
    char v[64];
    if (!value)
        return;
    rc_label_value(value, v, sizeof v);
    if (*v)
        json_object_set_new(l, key, json_string(v));
}

json_t *rc_desired_inference_service(json_t *svc, const rc_resolved *r, char *why, size_t cap)
{
    const char *ns = rc_or(json_string_value(rc_at(svc, "metadata.namespace")));
    const char *name = rc_or(json_string_value(rc_at(svc, "metadata.name")));
    json_t *spec = json_object_get(svc, "spec");
    json_t *env = json_array();
    env_add(env, "AIM_CACHE_PATH", "/workspace/cache");
    env_add(env, "VLLM_ENABLE_METRICS", "true");
    rc_env_merge(env, json_object_get(r->rcfg, "env"));
    env_add(env, "AIM_PROFILE_ID", r->profile);
    env_add(env, "AIM_METRIC", r->metric);
    env_add(env, "AIM_PRECISION", r->precision);
    if (r->tmpl)
        rc_env_merge(env, rc_at(r->tmpl, "spec.env"));
    rc_env_merge(env, json_object_get(spec, "env"));
    json_t *container = json_pack("{s:s, s:s, s:[{s:s, s:i, s:s}], s:o, s:o, s:[{s:s, s:s}]}",
                                  "name", "kserve-container", "image", r->image, "ports", "name", "http",
                                  "containerPort", 8000, "protocol", "TCP", "env", env, "resources",
                                  resources(r, svc), "volumeMounts", "name", "dshm", "mountPath", "/dev/shm");
    json_t *pod_labels = json_object();
    json_object_set_new(pod_labels, "app.kubernetes.io/component", json_string("inference"));
    json_object_set_new(pod_labels, "app.kubernetes.io/managed-by", json_string("aim-engine"));
    label(pod_labels, "aim.eai.amd.com/service", name);
    label(pod_labels, "aim.eai.amd.com/service.name", name);
    label(pod_labels, "aim.eai.amd.com/template", r->tmpl ? json_string_value(rc_at(r->tmpl, "metadata.name")) : NULL);
    label(pod_labels, "aim.eai.amd.com/model", r->model ? json_string_value(rc_at(r->model, "metadata.name")) : NULL);
    label(pod_labels, "aim.eai.amd.com/metric", r->metric);
    label(pod_labels, "aim.eai.amd.com/precision", r->precision);
    long long replicas = json_is_integer(json_object_get(spec, "replicas")) ?
                             json_integer_value(json_object_get(spec, "replicas")) : 1;
    json_t *minr = json_object_get(spec, "minReplicas"), *maxr = json_object_get(spec, "maxReplicas");
    int autoscale = minr || maxr || json_object_get(spec, "autoScaling");
    json_t *pred = json_pack("{s:I, s:I, s:O, s:[{s:s, s:{s:s, s:s}}], s:[o]}",
                             "minReplicas", (json_int_t)(minr ? json_integer_value(minr) : replicas),
                             "maxReplicas", (json_int_t)(maxr ? json_integer_value(maxr) : replicas),
                             "labels", pod_labels, "volumes", "name", "dshm", "emptyDir", "medium", "Memory",
                             "sizeLimit", "8Gi", "containers", container);
    if (rc_str(spec, "serviceAccountName") && *rc_str(spec, "serviceAccountName"))
        json_object_set(pred, "serviceAccountName", json_object_get(spec, "serviceAccountName"));
    if (json_array_size(json_object_get(spec, "imagePullSecrets")))
        json_object_set(pred, "imagePullSecrets", json_object_get(spec, "imagePullSecrets"));
    json_t *labels = rc_child_labels(svc, r->rcfg, "service");
    json_object_update(labels, pod_labels);
    json_object_set_new(labels, "app.kubernetes.io/managed-by", json_string("aim-service-controller"));
    json_decref(pod_labels);
    json_t *isvc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:{s:s, s:s}, s:[o]}, s:{s:o}}",
                             "apiVersion", "serving.kserve.io/v1beta1", "kind", "InferenceService", "metadata",
                             "name", name, "namespace", ns, "labels", labels, "annotations",
                             "serving.kserve.io/deploymentMode", "RawDeployment",
                             "serving.kserve.io/autoscalerClass", autoscale ? "keda" : "none",
                             "ownerReferences", rc_owner(svc, AIM_API, "AIMService"), "spec", "predictor", pred);
    if (node_affinity(r, pred, why, cap)) {
        json_decref(isvc);
        return NULL;
    }
    return isvc;
}

/* pathTemplate with {.metadata.name}, {.metadata.namespace}, {.metadata.labels.KEY} */
static int render_path(const char *tpl, json_t *svc, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tpl; *p; p++) {
        const char *val = NULL;
        char one[2] = {*p, 0};
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (!end)
                return -1;
            char expr[200];
            snprintf(expr, sizeof expr, "%.*s", (int)(end - p - 1), p + 1);
            if (!strcmp(expr, ".metadata.name"))
                val = json_string_value(rc_at(svc, "metadata.name"));
            else if (!strcmp(expr, ".metadata.namespace"))
                val = json_string_value(rc_at(svc, "metadata.namespace"));
            else if (!strncmp(expr, ".metadata.labels.", 17))
                val = rc_label_of(svc, expr + 17);
            if (!val)
                return -1;
            p = end;
        } else {
            val = one;
        }
        size_t l = strlen(val);
        if (n + l + 1 > cap)
            return -1;
        memcpy(out + n, val, l);
        n += l;
    }
    out[n] = '\0';
    return 0;
}

json_t *rc_desired_http_route(json_t *svc, json_t *routing, json_t *rcfg, char *reason, char *why,
                              size_t cap, char *path_out, size_t path_cap)
{
    const char *ns = rc_or(json_string_value(rc_at(svc, "metadata.namespace")));
    const char *name = rc_or(json_string_value(rc_at(svc, "metadata.name")));
    json_t *gw = json_object_get(routing, "gatewayRef");
    if (!rc_str(gw, "name")) {
        snprintf(reason, 64, "NoGateway");
        snprintf(why, cap, "routing is enabled but neither the service nor its runtime config names a gatewayRef");
        return NULL;
    }
    const char *tpl = rc_str(routing, "pathTemplate") ? rc_str(routing, "pathTemplate") : "/{.metadata.namespace}/{.metadata.name}";
    if (render_path(tpl, svc, path_out, path_cap) || path_out[0] != '/' ||
        strspn(path_out, "/") == strlen(path_out)) {
        snprintf(reason, 64, "InvalidPath");
        snprintf(why, cap, "pathTemplate %s renders no usable path prefix (it must render a path other than /)", tpl);
        return NULL;
    }
    json_t *parent = json_object();
    static const char *const keys[] = {"group", "kind", "name", "namespace", "sectionName", "port"};
    for (size_t i = 0; i < 6; i++)
        if (json_object_get(gw, keys[i]))
            json_object_set(parent, keys[i], json_object_get(gw, keys[i]));
    char backend[300];
    snprintf(backend, sizeof backend, "%s-predictor", name);
    json_t *rule = json_pack("{s:[{s:{s:s, s:s}}], s:[{s:s, s:{s:{s:s, s:s}}}], s:[{s:s, s:i}]}",
                             "matches", "path", "type", "PathPrefix", "value", path_out, "filters", "type",
                             "URLRewrite", "urlRewrite", "path", "type", "ReplacePrefixMatch",
                             "replacePrefixMatch", "/", "backendRefs", "name", backend, "port", 80);
    if (rc_str(routing, "requestTimeout"))
        json_object_set_new(rule, "timeouts", json_pack("{s:O}", "request", json_object_get(routing, "requestTimeout")));
    json_t *labels = rc_child_labels(svc, rcfg, "service");
    json_object_set_new(labels, "app.kubernetes.io/component", json_string("routing"));
    label(labels, "aim.eai.amd.com/service", name);
    json_t *route = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:{s:[o], s:[o]}}", "apiVersion",
                              "gateway.networking.k8s.io/v1", "kind", "HTTPRoute", "metadata", "name", name,
                              "namespace", ns, "labels", labels, "ownerReferences",
                              rc_owner(svc, AIM_API, "AIMService"), "spec", "parentRefs", parent, "rules", rule);
    json_t *ann = json_object_get(rcfg, "routing") ? rc_at(rcfg, "routing.annotations") : NULL;
    if (json_is_object(ann) && json_object_size(ann))
        json_object_set(json_object_get(route, "metadata"), "annotations", ann);
    return route;
}

/* "2.2Gi", "500M", "1073741824" -> bytes; <0 when not a quantity */
double rc_quantity_bytes(const char *q)
{
    char *end;
    double v = strtod(q, &end);
    if (end == q || v < 0)
        return -1;
    static const struct { const char *s; double m; } units[] = {
        {"", 1}, {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
        {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].s))
            return v * units[i].m;
    return -1;
}

static json_t *artifact_labels(json_t *art, json_t *rcfg, const char *name, int pod)
{
    json_t *l = rc_child_labels(art, rcfg, "artifact");
    char v[64];
    rc_label_value(name, v, sizeof v);
    json_object_set_new(l, "aim.eai.amd.com/cache.name", json_string(v));
    json_object_set_new(l, "aim.eai.amd.com/artifact.name", json_string(v));
    if (pod) {
        json_object_del(l, "app.kubernetes.io/managed-by");
        json_object_set_new(l, "aim.eai.amd.com/cache.type", json_string("artifact"));
        json_object_set_new(l, "aim.eai.amd.com/component", json_string("download"));
    }
    return l;
}


json_t *rc_desired_pvc(json_t *art, json_t *rcfg, const char *default_size)
{
    const char *ns = rc_or(json_string_value(rc_at(art, "metadata.namespace")));
    const char *name = rc_or(json_string_value(rc_at(art, "metadata.name")));
    json_t *spec = json_object_get(art, "spec");
    const char *size = rc_str(spec, "size") ? rc_str(spec, "size") : default_size;
    double bytes = size ? rc_quantity_bytes(size) : -1;
    if (bytes <= 0)
        return NULL;
    json_t *headroom = rc_at(rcfg, "storage.pvcHeadroomPercent");
    if (!headroom)
        headroom = json_object_get(rcfg, "pvcHeadroomPercent");
    long long pct = json_is_integer(headroom) ? json_integer_value(headroom) : 10;
    char storage[64], pvc_name[300];
    double mib = bytes * (100.0 + (double)pct) / 100.0 / 1048576.0;
    long long whole = (long long)mib;
    snprintf(storage, sizeof storage, "%lldMi", whole + (mib > (double)whole)); /* rounded up */
    snprintf(pvc_name, sizeof pvc_name, "%s-cache", name);
    const char *sc = rc_str(spec, "storageClassName");
    if (!sc)
        sc = json_string_value(rc_at(rcfg, "storage.defaultStorageClassName"));
    if (!sc)
        sc = rc_str(rcfg, "defaultStorageClassName");
    json_t *pvc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:{s:[s], s:{s:{s:s}}}}", "apiVersion", "v1",
                            "kind", "PersistentVolumeClaim", "metadata", "name", pvc_name, "namespace", ns,
                            "labels", artifact_labels(art, rcfg, name, 0), "ownerReferences",
                            rc_owner(art, AIM_API, "AIMArtifact"), "spec", "accessModes", "ReadWriteMany",
                            "resources", "requests", "storage", storage);
    if (pvc && sc)
        json_object_set_new(json_object_get(pvc, "spec"), "storageClassName", json_string(sc));
    return pvc;
}

json_t *rc_desired_download_job(json_t *art, json_t *rcfg, const char *download_sa, const char *default_image)
{
    const char *ns = rc_or(json_string_value(rc_at(art, "metadata.namespace")));
    const char *name = rc_or(json_string_value(rc_at(art, "metadata.name")));
    json_t *spec = json_object_get(art, "spec");
    char pvc_name[300], job_name[300];
    snprintf(pvc_name, sizeof pvc_name, "%s-cache", name);
    snprintf(job_name, sizeof job_name, "%s-download", name);
    json_t *env = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]",
                            "name", "AIM_ARTIFACT_NAME", "value", name, "name", "AIM_ARTIFACT_NAMESPACE",
                            "value", ns, "name", "AIM_SOURCE_URI", "value",
                            rc_str(spec, "sourceUri") ? rc_str(spec, "sourceUri") : "", "name",
                            "AIM_MODEL_ID", "value", rc_str(spec, "modelId") ? rc_str(spec, "modelId") : "",
                            "name", "AIM_CACHE_PATH", "value", "/cache");
    rc_env_merge(env, json_object_get(rcfg, "env"));
    rc_env_merge(env, json_object_get(spec, "env"));
    const char *image = rc_str(spec, "modelDownloadImage") ? rc_str(spec, "modelDownloadImage") : default_image;
    json_t *container = json_pack(
        "{s:s, s:s, s:o, s:{s:b, s:b, s:b, s:{s:[s]}}, s:[{s:s, s:s}]}", "name", "model-download", "image",
        image, "env", env, "securityContext", "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1,
        "runAsNonRoot", 1, "capabilities", "drop", "ALL", "volumeMounts", "name", "cache", "mountPath", "/cache");
    json_t *pod = json_pack(
        "{s:s, s:s, s:{s:b, s:i, s:i, s:i, s:{s:s}}, s:[o], s:[{s:s, s:{s:s}}]}", "serviceAccountName",
        download_sa, "restartPolicy", "Never", "securityContext", "runAsNonRoot", 1, "runAsUser", 1000,
        "runAsGroup", 1000, "fsGroup", 1000, "seccompProfile", "type", "RuntimeDefault", "containers", container,
        "volumes", "name", "cache", "persistentVolumeClaim", "claimName", pvc_name);
    if (pod && json_array_size(json_object_get(spec, "imagePullSecrets")))
        json_object_set(pod, "imagePullSecrets", json_object_get(spec, "imagePullSecrets"));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:{s:i, s:i, s:{s:{s:o}, s:o}}}", "apiVersion",
                     "batch/v1", "kind", "Job", "metadata", "name", job_name, "namespace", ns, "labels",
                     artifact_labels(art, rcfg, name, 0), "ownerReferences", rc_owner(art, AIM_API, "AIMArtifact"),
                     "spec", "backoffLimit", 2, "ttlSecondsAfterFinished", 600, "template", "metadata",
                     "labels", artifact_labels(art, rcfg, name, 1), "spec", pod);
}
