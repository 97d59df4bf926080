/* The reconciler's pure builders (server/reconcile/desired.c), without an API server:
 * AIM samples from ../shared/reference/aim-samples in, the exact children out
 * (the JSON files in test/fixtures/desired/, which docs/reconciler.md describes field by field).
 * AG_UPDATE_GOLDEN=1 rewrites those files from the builders: review the diff. */
#include "agtest.h"
#include "../../server/reconcile/desired.h"
#include "aimguard/yaml.h"

#include <stdlib.h>
#include <string.h>

static json_t *sample(const char *file, const char *ns, const char *uid)
{
    char rel[300];
    snprintf(rel, sizeof rel, "reference/aim-samples/%s", file);
    json_t *o = NULL;
    ag_error err = {0};
    if (ag_load_object_file(agt_path("AG_SHARED", rel), &o, &err)) {
        fprintf(stderr, "%s: %s\n", file, err.msg);
        return NULL;
    }
    json_t *m = json_object_get(o, "metadata");
    if (ns)
        json_object_set_new(m, "namespace", json_string(ns));
    if (uid)
        json_object_set_new(m, "uid", json_string(uid));
    return o;
}

/* obj equals the golden file `name` (AG_UPDATE_GOLDEN=1: writes it) */
static int golden(const char *name, json_t *obj)
{
    char rel[300];
    snprintf(rel, sizeof rel, "test/fixtures/desired/%s", name);
    const char *path = agt_path("AG_SRC", rel);
    const char *up = getenv("AG_UPDATE_GOLDEN");
    if (up && !strcmp(up, "1")) {
        json_dump_file(obj, path, JSON_INDENT(2) | JSON_SORT_KEYS);
        return 1;
    }
    json_t *want = json_load_file(path, 0, NULL);
    int same = want && json_equal(want, obj);
    if (!same) {
        char *got = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
        fprintf(stderr, "%s differs; got:\n%s\n", path, got ? got : "(null)");
        free(got);
    }
    json_decref(want);
    return same;
}

static const char *str_at(json_t *o, const char *dotted)
{
    char part[128];
    while (o && *dotted) {
        size_t n = strcspn(dotted, ".");
        snprintf(part, sizeof part, "%.*s", (int)n, dotted);
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(part)) : json_object_get(o, part);
        dotted += n + (dotted[n] == '.');
    }
    return json_string_value(o);
}

/* The resolution service.c makes for aimservice-basic with the cluster model and the
 * cluster template of the samples (names aside: the builder takes what it is given). */
typedef struct world {
    json_t *svc, *model, *tmpl, *rcfg_obj;
    rc_resolved r;
} world;

static int world_load(world *w)
{
    memset(w, 0, sizeof *w);
    w->svc = sample("aimservice-basic.yaml", "team-a", "uid-svc");
    w->model = sample("aimclustermodel.yaml", NULL, "uid-model");
    w->tmpl = sample("aimclusterservicetemplate.yaml", NULL, "uid-tmpl");
    w->rcfg_obj = sample("aimruntimeconfig-routing.yaml", "team-a", NULL);
    if (!w->svc || !w->model || !w->tmpl || !w->rcfg_obj)
        return -1;
    w->r.model = w->model;
    w->r.tmpl = w->tmpl;
    w->r.image = str_at(w->model, "spec.image");
    w->r.hardware = json_object_get(json_object_get(w->tmpl, "spec"), "hardware");
    w->r.rcfg = json_object_get(w->rcfg_obj, "spec");
    return 0;
}

static void world_clear(world *w)
{
    json_decref(w->svc);
    json_decref(w->model);
    json_decref(w->tmpl);
    json_decref(w->rcfg_obj);
}

static void test_inference_service(void)
{
    world w;
    CHECK(world_load(&w) == 0);
    if (!w.svc) {
        world_clear(&w);
        return;
    }
    json_t *before = json_deep_copy(w.svc);
    char why[512] = "";
    json_t *isvc = rc_desired_inference_service(w.svc, &w.r, why, sizeof why);
    CHECK(isvc != NULL);
    CHECK(golden("aimservice-basic.inferenceservice.json", isvc));
    /* what docs/reconciler.md promises, spelled out */
    CHECK_STR(str_at(isvc, "metadata.name"), "test-service");
    CHECK_STR(str_at(isvc, "metadata.namespace"), "team-a");
    CHECK_STR(str_at(isvc, "metadata.ownerReferences.0.uid"), "uid-svc");
    json_t *ann = json_object_get(json_object_get(isvc, "metadata"), "annotations");
    CHECK_STR(json_string_value(json_object_get(ann, "serving.kserve.io/deploymentMode")), "RawDeployment");
    CHECK_STR(json_string_value(json_object_get(ann, "serving.kserve.io/autoscalerClass")), "none");
    CHECK_STR(str_at(isvc, "spec.predictor.containers.0.image"), "ghcr.io/silogen/aim-dummy:0.1.10");
    json_t *c0 = json_array_get(json_object_get(json_object_get(json_object_get(isvc, "spec"), "predictor"),
                                                "containers"), 0);
    json_t *req = json_object_get(json_object_get(c0, "resources"), "requests");
    json_t *lim = json_object_get(json_object_get(c0, "resources"), "limits");
    CHECK_STR(json_string_value(json_object_get(req, "cpu")), "4");
    CHECK_STR(json_string_value(json_object_get(req, "memory")), "32Gi");
    CHECK_STR(json_string_value(json_object_get(lim, "memory")), "48Gi");
    CHECK_STR(json_string_value(json_object_get(lim, "amd.com/gpu")), "1");
    CHECK_STR(str_at(isvc, "spec.predictor.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                           "nodeSelectorTerms.0.matchExpressions.0.values.0"), "74a1"); /* MI300X */
    CHECK_STR(str_at(c0, "env.0.name"), "AIM_CACHE_PATH");
    CHECK_STR(str_at(c0, "env.1.name"), "VLLM_ENABLE_METRICS");
    /* pure: the same inputs give the same object, and the inputs are left as they were */
    json_t *again = rc_desired_inference_service(w.svc, &w.r, why, sizeof why);
    CHECK(again && json_equal(isvc, again));
    CHECK(json_equal(before, w.svc));
    json_decref(again);
    json_decref(isvc);
    json_decref(before);
    /* an unknown GPU model: no object, and why */
    json_t *hw = json_pack("{s:{s:i, s:s}}", "gpu", "requests", 1, "model", "MI999");
    w.r.hardware = hw;
    isvc = rc_desired_inference_service(w.svc, &w.r, why, sizeof why);
    CHECK(isvc == NULL);
    CHECK_CONTAINS(why, "GPU model MI999 is not one aimguard knows");
    json_decref(isvc);
    json_decref(hw);
    world_clear(&w);
}

static void test_http_route(void)
{
    world w;
    CHECK(world_load(&w) == 0);
    if (!w.svc) {
        world_clear(&w);
        return;
    }
    char reason[64] = "", why[512] = "", path[512] = "";
    json_t *routing = json_object_get(w.r.rcfg, "routing");
    json_t *route = rc_desired_http_route(w.svc, routing, w.r.rcfg, reason, why, sizeof why, path, sizeof path);
    CHECK(route != NULL);
    CHECK(golden("aimservice-basic.httproute.json", route));
    CHECK_STR(path, "/integration/gpu-custom-model-env/test-service");
    CHECK_STR(str_at(route, "spec.parentRefs.0.name"), "kserve-ingress-gateway");
    CHECK_STR(str_at(route, "spec.rules.0.backendRefs.0.name"), "test-service-predictor");
    CHECK_STR(str_at(route, "spec.rules.0.timeouts.request"), "180s");
    json_decref(route);
    /* a template rendering the root of a shared gateway is refused */
    json_t *root = json_pack("{s:{s:s}, s:s}", "gatewayRef", "name", "gw", "pathTemplate", "/");
    route = rc_desired_http_route(w.svc, root, w.r.rcfg, reason, why, sizeof why, path, sizeof path);
    CHECK(route == NULL);
    CHECK_STR(reason, "InvalidPath");
    json_decref(root);
    json_t *nogw = json_pack("{s:b}", "enabled", 1);
    route = rc_desired_http_route(w.svc, nogw, w.r.rcfg, reason, why, sizeof why, path, sizeof path);
    CHECK(route == NULL);
    CHECK_STR(reason, "NoGateway");
    json_decref(nogw);
    world_clear(&w);
}

static void test_artifact(void)
{
    json_t *art = sample("aimartifact-s3-env.yaml", "team-a", "uid-art");
    CHECK(art != NULL);
    if (!art)
        return;
    json_t *rcfg = json_object();
    json_t *pvc = rc_desired_pvc(art, rcfg, "50Gi");
    CHECK(pvc != NULL);
    CHECK(golden("aimartifact-s3-env.pvc.json", pvc));
    CHECK_STR(str_at(pvc, "metadata.name"), "basic-lifecycle-s3-cache");
    CHECK_STR(str_at(pvc, "spec.resources.requests.storage"), "2479Mi"); /* 2.2Gi + 10 %, rounded up */
    CHECK_STR(str_at(pvc, "metadata.ownerReferences.0.kind"), "AIMArtifact");
    json_decref(pvc);
    json_t *job = rc_desired_download_job(art, rcfg, "aim-artifact-downloader",
                                          "ghcr.io/silogen/aim-artifact-downloader:0.2.0");
    CHECK(job != NULL);
    CHECK(golden("aimartifact-s3-env.job.json", job));
    CHECK_STR(str_at(job, "metadata.name"), "basic-lifecycle-s3-download");
    CHECK_STR(str_at(job, "spec.template.spec.serviceAccountName"), "aim-artifact-downloader");
    CHECK_STR(str_at(job, "spec.template.spec.securityContext.seccompProfile.type"), "RuntimeDefault");
    CHECK_STR(str_at(job, "spec.template.spec.containers.0.securityContext.capabilities.drop.0"), "ALL");
    CHECK_STR(str_at(job, "spec.template.spec.containers.0.env.2.value"), "s3://models/SmolLM-135M");
    CHECK_STR(str_at(job, "spec.template.spec.containers.0.env.5.name"), "AWS_ACCESS_KEY_ID"); /* after AIM_* */
    json_decref(job);
    /* headroom from the runtime config; no size at all takes the default */
    json_object_del(json_object_get(art, "spec"), "size");
    json_object_set_new(rcfg, "storage", json_pack("{s:i}", "pvcHeadroomPercent", 0));
    pvc = rc_desired_pvc(art, rcfg, "1Gi");
    CHECK_STR(str_at(pvc, "spec.resources.requests.storage"), "1024Mi");
    json_decref(pvc);
    json_object_set_new(json_object_get(art, "spec"), "size", json_string("lots"));
    CHECK(rc_desired_pvc(art, rcfg, "1Gi") == NULL);
    json_decref(rcfg);
    json_decref(art);
}

int main(void)
{
    RUN(test_inference_service);
    RUN(test_http_route);
    RUN(test_artifact);
    return agt_finish();
}
