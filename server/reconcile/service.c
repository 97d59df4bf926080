/* AIMService -> KServe InferenceService (+ HTTPRoute), resolved the way AIM resolves it
 * (namespace wins over cluster scope), hardened by the loaded policies before it is
 * written. docs/reconciler.md describes the shapes and what differs from upstream. */
#include "reconcile_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/log.h"

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

/* runtimeConfigName (empty = default): the cluster config with the namespaced one over
 * it. 0 when resolved (an absent "default" is fine: AIM treats it as optional). */
int rc_runtime_config(rctx *c, const char *ns, const char *name, json_t **spec, json_t **ref,
                      char *why, size_t cap)
{
    const char *n = name && *name ? name : "default";
    json_t *nsrc = rc_get(c, W_RUNTIME_CONFIGS, ns, n);
    json_t *crc = rc_get(c, W_CLUSTER_RUNTIME_CONFIGS, "", n);
    int rc = 0;
    if (!nsrc && !crc && strcmp(n, "default")) {
        snprintf(why, cap, "no AIMRuntimeConfig %s/%s and no AIMClusterRuntimeConfig %s", ns, n, n);
        rc = -1;
    }
    json_t *empty = json_object();
    *spec = rc_merge_over(crc ? json_object_get(crc, "spec") : empty, nsrc ? json_object_get(nsrc, "spec") : empty);
    json_decref(empty);
    const char *scope = nsrc && crc ? "Merged" : nsrc ? "Namespace" : crc ? "Cluster" : "Unknown";
    *ref = json_pack("{s:s, s:s, s:s}", "name", n, "namespace", nsrc ? ns : "", "scope", scope);
    json_decref(nsrc);
    json_decref(crc);
    return rc;
}

static json_t *resolved_ref(json_t *obj, const char *kind, const char *scope)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", json_string_value(rc_at(obj, "metadata.name")),
                     "namespace", json_string_value(rc_at(obj, "metadata.namespace")) ?
                         json_string_value(rc_at(obj, "metadata.namespace")) : "",
                     "scope", scope, "kind", kind, "uid",
                     json_string_value(rc_at(obj, "metadata.uid")) ? json_string_value(rc_at(obj, "metadata.uid")) : "");
}

typedef struct resolved {
    const char *image;
    json_t *model, *tmpl;       /* owned references, may be NULL */
    json_t *hardware;           /* borrowed from model/template/service */
    const char *metric, *precision, *profile;
    json_t *rcfg, *rcfg_ref;    /* owned */
    json_t *model_ref, *tmpl_ref;
    char reason[64], why[512];
} resolved;

static void resolved_clear(resolved *r)
{
    json_decref(r->model);
    json_decref(r->tmpl);
    json_decref(r->rcfg);
    json_decref(r->rcfg_ref);
    json_decref(r->model_ref);
    json_decref(r->tmpl_ref);
}

static int fail(resolved *r, const char *reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(resolved *r, const char *reason, const char *fmt, ...)
{
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return -1;
}

static int resolve(rctx *c, json_t *svc, const char *ns, resolved *r)
{
    json_t *spec = json_object_get(svc, "spec");
    json_t *model = json_object_get(spec, "model");
    const char *mname = rc_str(model, "name");
    if (strlen(ns) > 42)
        return fail(r, "NamespaceTooLong", "namespace %s is longer than 42 characters (KServe host names)", ns);
    if (mname) {
        if ((r->model = rc_get(c, W_MODELS, ns, mname)))
            r->model_ref = resolved_ref(r->model, "AIMModel", "Namespace");
        else if ((r->model = rc_get(c, W_CLUSTER_MODELS, "", mname)))
            r->model_ref = resolved_ref(r->model, "AIMClusterModel", "Cluster");
        else
            return fail(r, "ModelNotFound", "no AIMModel %s in this namespace and no AIMClusterModel %s",
                    mname, mname);
        r->image = json_string_value(rc_at(r->model, "spec.image"));
        if (!r->image)
            return fail(r, "ModelInvalid", "model %s has no spec.image", mname);
        r->hardware = rc_at(r->model, "spec.custom.hardware");
    } else if (rc_str(model, "image")) {
        r->image = rc_str(model, "image");
    } else if (json_object_get(model, "custom")) {
        r->image = json_string_value(rc_at(model, "custom.baseImage"));
        r->hardware = rc_at(model, "custom.hardware");
        if (!r->image)
            return fail(r, "ModelInvalid", "spec.model.custom has no baseImage");
    } else {
        return fail(r, "ModelNotSpecified", "spec.model names no model, image or custom model");
    }
    const char *tname = json_string_value(rc_at(spec, "template.name"));
    if (!tname && r->model)
        tname = json_string_value(rc_at(r->model, "spec.defaultServiceTemplate"));
    if (tname) {
        if ((r->tmpl = rc_get(c, W_TEMPLATES, ns, tname)))
            r->tmpl_ref = resolved_ref(r->tmpl, "AIMServiceTemplate", "Namespace");
        else if ((r->tmpl = rc_get(c, W_CLUSTER_TEMPLATES, "", tname)))
            r->tmpl_ref = resolved_ref(r->tmpl, "AIMClusterServiceTemplate", "Cluster");
        else
            return fail(r, "TemplateNotFound", "no AIMServiceTemplate %s in this namespace and no "
                        "AIMClusterServiceTemplate %s", tname, tname);
        json_t *ts = json_object_get(r->tmpl, "spec");
        if (json_object_get(ts, "hardware"))
            r->hardware = json_object_get(ts, "hardware");
        r->metric = rc_str(ts, "metric");
        r->precision = rc_str(ts, "precision");
        r->profile = rc_str(ts, "profileId");
    }
    json_t *ov = json_object_get(spec, "overrides");
    if (json_object_get(ov, "hardware"))
        r->hardware = json_object_get(ov, "hardware");
    if (rc_str(ov, "metric"))
        r->metric = rc_str(ov, "metric");
    if (rc_str(ov, "precision"))
        r->precision = rc_str(ov, "precision");
    if (!r->hardware)
        return fail(r, "TemplateNotResolved", "no template names the hardware: set spec.template.name "
                    "(aimguard does not run AIM's template discovery)");
    if (rc_runtime_config(c, ns, rc_str(spec, "runtimeConfigName"), &r->rcfg, &r->rcfg_ref, r->why, sizeof r->why)) {
        snprintf(r->reason, sizeof r->reason, "RuntimeConfigNotFound");
        return -1;
    }
    return 0;
}

static json_t *quantity(long long n, const char *unit)
{
    char b[48];
    snprintf(b, sizeof b, "%lld%s", n, unit);
    return json_string(b);
}

static int node_affinity(resolved *r, json_t *pod, char *why, size_t cap)
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

static json_t *resources(resolved *r, json_t *svc)
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

static json_t *inference_service(rctx *c, json_t *svc, const char *ns, const char *name, resolved *r,
                                 char *why, size_t cap)
{
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
    ag_error err = {0};
    if (rc_harden(c, &isvc, ns, &err)) {
        snprintf(why, cap, "the policies would deny the InferenceService: %s", err.msg);
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

static json_t *http_route(json_t *svc, const char *ns, const char *name, json_t *routing, resolved *r,
                          char *reason, char *why, size_t cap, char *path_out, size_t path_cap)
{
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
    json_t *labels = rc_child_labels(svc, r->rcfg, "service");
    json_object_set_new(labels, "app.kubernetes.io/component", json_string("routing"));
    label(labels, "aim.eai.amd.com/service", name);
    json_t *route = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:{s:[o], s:[o]}}", "apiVersion",
                              "gateway.networking.k8s.io/v1", "kind", "HTTPRoute", "metadata", "name", name,
                              "namespace", ns, "labels", labels, "ownerReferences",
                              rc_owner(svc, AIM_API, "AIMService"), "spec", "parentRefs", parent, "rules", rule);
    json_t *ann = json_object_get(r->rcfg, "routing") ? rc_at(r->rcfg, "routing.annotations") : NULL;
    if (json_is_object(ann) && json_object_size(ann))
        json_object_set(json_object_get(route, "metadata"), "annotations", ann);
    return route;
}

static int owned_by(json_t *child, json_t *owner)
{
    size_t i;
    json_t *ref;
    const char *uid = json_string_value(rc_at(owner, "metadata.uid"));
    json_array_foreach(rc_at(child, "metadata.ownerReferences"), i, ref)
        if (uid && rc_str(ref, "uid") && !strcmp(uid, rc_str(ref, "uid")))
            return 1;
    return 0;
}

static int ready_of(json_t *obj, const char **msg)
{
    size_t i;
    json_t *cd;
    json_array_foreach(rc_at(obj, "status.conditions"), i, cd)
        if (rc_str(cd, "type") && !strcmp(rc_str(cd, "type"), "Ready")) {
            *msg = rc_str(cd, "message");
            return rc_str(cd, "status") && !strcmp(rc_str(cd, "status"), "True");
        }
    *msg = NULL;
    return 0;
}

/* gone (children follow by owner references), being deleted, or paused by its owner */
int rc_skip(json_t *obj)
{
    const char *paused = json_string_value(
        json_object_get(rc_at(obj, "metadata.annotations"), "aim.eai.amd.com/reconciliation-paused"));
    return !obj || rc_at(obj, "metadata.deletionTimestamp") || (paused && !strcmp(paused, "true"));
}

int rc_reconcile_service(rctx *c, const char *ns, const char *name)
{
    json_t *svc = rc_get(c, W_SERVICES, ns, name);
    if (rc_skip(svc)) {
        json_decref(svc);
        return 0;
    }
    char scope[400];
    if (c->r->cfg.unmanaged_only) {
        double in = 0;
        int m = rc_managed_elsewhere(c, svc, &in);
        if (m) {
            if (m < 0) {
                snprintf(scope, sizeof scope, "svc/%s/%s", ns, name);
                rq_add_after(c->r->queue, scope, in);
            }
            json_decref(svc);
            return 0; /* the AIM operator's: not a byte written, status included */
        }
    }
    if (rc_exempt(c, ns, scope, sizeof scope)) {
        ag_error serr = {0};
        int src = rc_status_not_provisioned(c, W_SERVICES, svc, "NamespaceExempt", scope, &serr);
        json_decref(svc);
        return src;
    }
    resolved r = {0};
    json_t *conds = json_array(), *extra = json_object();
    ag_error err = {0};
    int rc = 0;
    char why[1200] = "", reason[64] = "PolicyDenied", path[512] = "";
    if (resolve(c, svc, ns, &r)) {
        json_array_append_new(conds, rc_cond("Resolved", 0, r.reason, "%s", r.why));
        json_array_append_new(conds, rc_cond("Provisioned", 0, "Unresolved", "waiting for the references to resolve"));
        json_array_append_new(conds, rc_cond("Ready", 0, "Unresolved", "waiting for the references to resolve"));
        json_object_set_new(extra, "status", json_string("Pending"));
        goto status;
    }
    json_array_append_new(conds, rc_cond("Resolved", 1, "Resolved", "model image %s", r.image));
    if (r.model_ref)
        json_object_set(extra, "resolvedModel", r.model_ref);
    if (r.tmpl_ref)
        json_object_set(extra, "resolvedTemplate", r.tmpl_ref);
    json_object_set(extra, "resolvedRuntimeConfig", r.rcfg_ref);
    json_t *isvc = inference_service(c, svc, ns, name, &r, why, sizeof why);
    if (!isvc) {
        if (!strncmp(why, "GPU model", 9))
            snprintf(reason, sizeof reason, "UnknownGPUModel");
        json_array_append_new(conds, rc_cond("Provisioned", 0, reason, "%s", why));
        json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "the InferenceService was not written"));
        json_object_set_new(extra, "status", json_string("Failed"));
        goto status;
    }
    rc = rc_apply(c, W_ISVCS, isvc, 0, &err);
    json_decref(isvc);
    if (rc == RC_ENOTOURS) {
        /* someone else's InferenceService of this name: said, never touched; looked at
         * again when it changes or goes (its events queue this service) */
        json_array_append_new(conds, rc_cond("Provisioned", 0, "ChildConflict", "%s", err.msg));
        json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "the InferenceService was not written"));
        json_object_set_new(extra, "status", json_string("Failed"));
        ag_error_clear(&err);
        goto status;
    }
    if (rc == RC_EREFUSED)
        goto refused;
    if (rc)
        goto out; /* retried with backoff; status is written once the API answers */
    json_t *eff = rc_merge_over(json_object_get(r.rcfg, "routing"), rc_at(svc, "spec.routing"));
    int enabled = json_is_true(json_object_get(eff, "enabled"));
    json_t *old = rc_get(c, W_ROUTES, ns, name);
    int provisioned = 1;
    if (enabled) {
        json_t *route = http_route(svc, ns, name, eff, &r, reason, why, sizeof why, path, sizeof path);
        if (!route) {
            provisioned = 0;
            json_array_append_new(conds, rc_cond("Provisioned", 0, reason, "%s", why));
        } else {
            rc = rc_apply(c, W_ROUTES, route, 0, &err);
            json_decref(route);
            if (rc == RC_ENOTOURS) {
                provisioned = 0;
                json_array_append_new(conds, rc_cond("Provisioned", 0, "ChildConflict", "%s", err.msg));
                ag_error_clear(&err);
                rc = 0;
            } else {
                json_object_set_new(extra, "routing", json_pack("{s:s}", "path", path));
            }
        }
    } else if (old && owned_by(old, svc)) {
        /* routing was switched off: the route we made goes */
        char p[700];
        rc_path(p, sizeof p, W_ROUTES, ns, name, NULL);
        ag_kube_status st = {0};
        if (rc_may_write(c, &err))
            rc = -1;
        else if (atomic_fetch_add(&c->r->writes, 1),
                 ag_kube_delete(c->kube, p, "Background", &st, &err) && st.code != 404)
            rc = -1;
        else
            rc_wrote(c, W_ROUTES, ns, name, NULL);
    }
    json_decref(old);
    json_decref(eff);
    if (rc == RC_EREFUSED)
        goto refused;
    if (rc)
        goto out;
    if (provisioned)
        json_array_append_new(conds, rc_cond("Provisioned", 1, "Provisioned", "InferenceService %s%s",
                                             name, enabled ? " and HTTPRoute written" : " written"));
    json_t *live = rc_get(c, W_ISVCS, ns, name);
    const char *msg = NULL;
    int ready = provisioned && live && ready_of(live, &msg);
    json_array_append_new(conds, rc_cond("Ready", ready, ready ? "Ready" : "InferenceServiceNotReady", "%s",
                                         ready ? "the InferenceService is ready" :
                                         msg ? msg : "waiting for the InferenceService to become ready"));
    json_object_set_new(extra, "status", json_string(!provisioned ? "Failed" : ready ? "Running" : "Starting"));
    json_decref(live);
    goto status;
refused:
    /* e.g. OwnerReferencesPermissionEnforcement without update on aimservices/finalizers:
     * the owner's status says what the API server answered; retried with backoff */
    json_array_clear(conds);
    json_array_append_new(conds, rc_cond("Resolved", 1, "Resolved", "model image %s", r.image));
    json_array_append_new(conds, rc_cond("Provisioned", 0, "WriteRefused", "%s", err.msg));
    json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "a write was refused"));
    json_object_set_new(extra, "status", json_string("Failed"));
    if (rc_status(c, W_SERVICES, svc, conds, extra, &err) == 0)
        rc = RC_EREFUSED;
    goto out;
status:
    rc = rc_status(c, W_SERVICES, svc, conds, extra, &err);
out:
    if (rc)
        ag_log(AG_LOG_WARN, "reconciler: AIMService not reconciled", "namespace", ns, "name", name,
               "reason", err.msg, NULL);
    json_decref(conds);
    json_decref(extra);
    resolved_clear(&r);
    json_decref(svc);
    return rc;
}
