/* validate.rbac.clusterReferences through a fake cluster view: what is asked, what the
 * answers decide, what the view's namespaced objects shadow, and the compile errors;
 * and the SubjectAccessReview cache (ag_authz) against an API server that cannot be
 * reached. */
#include "agtest.h"
#include "aimguard/authz.h"
#include "aimguard/admission.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

/* ---- the fake view ---- */

typedef struct fake {
    const char *namespaced[4];   /* "resource/ns/name" objects the view knows */
    int answer;                  /* what access() answers */
    const char *deny_name;       /* when set: only this name is denied, the rest allowed */
    int calls;
    char asked[8][256];          /* "user|groups|verb|group|resource|ns/name" */
} fake;

static json_t *fake_get(void *ctx, const char *resource, const char *ns, const char *name)
{
    fake *f = ctx;
    char k[256];
    snprintf(k, sizeof k, "%s/%s/%s", resource, ns, name);
    for (int i = 0; i < 4 && f->namespaced[i]; i++)
        if (!strcmp(f->namespaced[i], k))
            return json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", ns);
    return NULL;
}

static int fake_access(void *ctx, const char *user, const json_t *groups, const char *verb, const char *group,
                       const char *resource, const char *ns, const char *name, char *reason, size_t cap)
{
    fake *f = ctx;
    char gs[128] = "";
    for (size_t i = 0; i < json_array_size(groups); i++)
        snprintf(gs + strlen(gs), sizeof gs - strlen(gs), "%s%s", i ? "," : "",
                 json_string_value(json_array_get(groups, i)));
    if (f->calls < 8)
        snprintf(f->asked[f->calls], sizeof f->asked[0], "%s|%s|%s|%s|%s|%s/%s", user, gs, verb, group, resource,
                 ns, name);
    f->calls++;
    if (f->deny_name) {
        snprintf(reason, cap, "%s", strcmp(name, f->deny_name) ? "" : "no RBAC rule grants it");
        return strcmp(name, f->deny_name) ? AG_ACCESS_ALLOWED : AG_ACCESS_DENIED;
    }
    snprintf(reason, cap, "%s", f->answer == AG_ACCESS_UNKNOWN ? "POST /apis/authorization.k8s.io/v1/"
             "subjectaccessreviews: Connection refused" : f->answer == AG_ACCESS_DENIED ? "no RBAC rule grants it" : "");
    return f->answer;
}

static ag_policy_set *load(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: cluster-refs}\n"
             "spec:\n  match:\n    kinds: [\"aim.eai.amd.com/*\"]\n  validate:\n    rbac:\n"
             "      clusterReferences: {%s}\n%s", extra, strstr(extra, "failClosed: false") ? "" :
             "  exceptions:\n    - {controls: [rbac_clusterReferences], namespaces: [trusted], reason: the platform team}\n");
    return agt_policy_text("c.yaml", text);
}

typedef struct result {
    int allowed;
    char msg[2048], warnings[2048];
} result;

static result run(ag_policy_set *set, fake *f, int with_view, const char *obj_json, const char *old_json,
                  const char *op, const char *ns)
{
    result r = {0};
    json_t *obj = json_loads(obj_json, 0, NULL), *old = old_json ? json_loads(old_json, 0, NULL) : NULL;
    CHECK(obj != NULL);
    static const char *const groups[] = {"ml-team", "system:authenticated"};
    ag_request req;
    ag_error err = {0};
    CHECK_INT(ag_request_synthesize(&req, obj, old, op, ns, "alice", groups, 2, &err), 0);
    ag_view v = {f, fake_get, f, fake_access};
    ag_decision d;
    CHECK_INT(ag_decide(set, &req, with_view ? &v : NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err), 0);
    r.allowed = d.allowed;
    snprintf(r.msg, sizeof r.msg, "%s", d.message ? d.message : "");
    for (size_t i = 0; i < json_array_size(d.warnings); i++)
        snprintf(r.warnings + strlen(r.warnings), sizeof r.warnings - strlen(r.warnings), "%s\n",
                 json_string_value(json_array_get(d.warnings, i)));
    ag_decision_clear(&d);
    ag_request_clear(&req);
    json_decref(obj);
    json_decref(old);
    return r;
}

#define SVC(ns, spec) "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":" \
    "{\"name\":\"s\",\"namespace\":\"" ns "\"},\"spec\":" spec "}"
#define LLAMA SVC("team-a", "{\"model\":{\"name\":\"llama\"},\"template\":{\"name\":\"tpl\"}}")

static void test_allowed_asks_each_reference(void)
{
    ag_policy_set *set = load("");
    fake f = {.answer = AG_ACCESS_ALLOWED};
    result r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(r.allowed);
    CHECK_INT(f.calls, 3);
    CHECK_STR(f.asked[0], "alice|ml-team,system:authenticated|use|aim.eai.amd.com|aimclustermodels|team-a/llama");
    CHECK_STR(f.asked[1], "alice|ml-team,system:authenticated|use|aim.eai.amd.com|aimclusterservicetemplates|team-a/tpl");
    /* an empty runtimeConfigName is "default" */
    CHECK_STR(f.asked[2], "alice|ml-team,system:authenticated|use|aim.eai.amd.com|aimclusterruntimeconfigs|team-a/default");
    CHECK_STR(r.warnings, "");
    ag_policy_set_unref(set);
}

static void test_denied(void)
{
    ag_policy_set *set = load("verb: deploy");
    fake f = {.deny_name = "llama"};
    result r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(!r.allowed);
    CHECK_INT(f.calls, 3);
    CHECK_CONTAINS(f.asked[0], "|deploy|aim.eai.amd.com|aimclustermodels|");
    CHECK_CONTAINS(f.asked[0], "/llama");
    CHECK_STR(r.msg, "aimguard denied AIMService team-a/s: [policy cluster-refs, rule rbac/clusterReference] "
              "AIMService references the AIMClusterModel \"llama\" (no AIMModel of that name is known in team-a), "
              "and alice may not deploy it (SubjectAccessReview: verb deploy on aimclustermodels.aim.eai.amd.com "
              "\"llama\": denied: no RBAC rule grants it) (field spec.model.name)");
    ag_policy_set_unref(set);
}

static void test_unreachable_fail_closed(void)
{
    ag_policy_set *set = load("failClosed: true");
    fake f = {.answer = AG_ACCESS_UNKNOWN};
    result r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(!r.allowed);
    CHECK_INT(f.calls, 1); /* once unreachable, the request asks no more */
    CHECK_CONTAINS(r.msg, "[policy cluster-refs, rule rbac/clusterReference] AIMService references the "
                   "AIMClusterModel \"llama\" (no AIMModel of that name is known in team-a); whether alice may use "
                   "it is unknown: the Kubernetes API could not be reached (POST /apis/authorization.k8s.io/v1/"
                   "subjectaccessreviews: Connection refused); failClosed: true denies (field spec.model.name)");
    CHECK_CONTAINS(r.msg, "AIMClusterServiceTemplate \"tpl\"");
    CHECK_CONTAINS(r.msg, "could not be reached for an earlier reference of this request");
    CHECK_CONTAINS(r.msg, "(field spec.runtimeConfigName)");
    ag_policy_set_unref(set);
}

static void test_unreachable_fail_open(void)
{
    ag_policy_set *set = load("failClosed: false");
    fake f = {.answer = AG_ACCESS_UNKNOWN};
    result r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(r.allowed);
    CHECK_STR(r.msg, "");
    CHECK_CONTAINS(r.warnings, "[policy cluster-refs, rule rbac/clusterReference] AIMService references the "
                   "AIMClusterModel \"llama\" (no AIMModel of that name is known in team-a); admitted without "
                   "knowing whether alice may use it: the Kubernetes API could not be reached (POST /apis/"
                   "authorization.k8s.io/v1/subjectaccessreviews: Connection refused); failClosed: false admits "
                   "(field spec.model.name)");
    ag_policy_set_unref(set);
}

static void test_no_cluster(void)
{
    ag_policy_set *set = load("");
    fake f = {.answer = AG_ACCESS_ALLOWED};
    result r = run(set, &f, 0, LLAMA, NULL, "CREATE", "team-a");
    CHECK(!r.allowed);
    CHECK_CONTAINS(r.msg, "whether alice may use it is unknown: no cluster is configured (aimguard eval, or "
                   "serve without a cluster), so no SubjectAccessReview can be asked; failClosed: true denies");
    ag_policy_set_unref(set);
    set = load("failClosed: false");
    r = run(set, &f, 0, LLAMA, NULL, "CREATE", "team-a");
    CHECK(r.allowed);
    CHECK_CONTAINS(r.warnings, "no cluster is configured");
    CHECK_CONTAINS(r.warnings, "failClosed: false admits");
    CHECK_INT(f.calls, 0);
    ag_policy_set_unref(set);
}

static void test_namespaced_object_shadows(void)
{
    ag_policy_set *set = load("");
    /* a namespaced AIMModel and AIMServiceTemplate of those names: they are what the
     * references resolve to, nothing cluster-scoped is asked about; a namespaced runtime
     * config is merged over the cluster one, which is still asked about */
    fake f = {.namespaced = {"aimmodels/team-a/llama", "aimservicetemplates/team-a/tpl",
                             "aimruntimeconfigs/team-a/default"},
              .answer = AG_ACCESS_DENIED};
    result r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(!r.allowed);
    CHECK_INT(f.calls, 1);
    CHECK_CONTAINS(f.asked[0], "|aimclusterruntimeconfigs|");
    CHECK_CONTAINS(f.asked[0], "/default");
    CHECK_CONTAINS(r.msg, "AIMService uses the AIMClusterRuntimeConfig \"default\" (runtimeConfigName is empty: "
                   "default) (merged under any namespaced AIMRuntimeConfig of that name), and alice may not use it");
    CHECK(!strstr(r.msg, "llama"));
    /* another namespace's AIMModel does not shadow */
    fake g = {.namespaced = {"aimmodels/team-b/llama"}, .answer = AG_ACCESS_ALLOWED};
    run(set, &g, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK_INT(g.calls, 3);
    ag_policy_set_unref(set);
}

static void test_references_and_kinds(void)
{
    ag_policy_set *set = load("references: [models]");
    fake f = {.answer = AG_ACCESS_ALLOWED};
    run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK_INT(f.calls, 1);
    ag_policy_set_unref(set);
    set = load("");
    /* AIMServiceTemplate: spec.modelName and an explicit runtime config */
    fake t = {.deny_name = "rc"};
    result r = run(set, &t, 1, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMServiceTemplate\","
                   "\"metadata\":{\"name\":\"t\"},\"spec\":{\"modelName\":\"m\",\"runtimeConfigName\":\"rc\"}}",
                   NULL, "CREATE", "team-a");
    CHECK_INT(t.calls, 2);
    CHECK_CONTAINS(t.asked[0], "|aimclustermodels|");
    CHECK_CONTAINS(t.asked[0], "/m");
    CHECK(!r.allowed);
    CHECK_CONTAINS(r.msg, "(field spec.runtimeConfigName)");
    CHECK(!strstr(r.msg, "runtimeConfigName is empty"));
    /* AIMTemplateCache: templateScope Namespace asks nothing about the template;
     * Cluster asks even when a namespaced template of that name exists */
    fake c = {.namespaced = {"aimservicetemplates/team-a/tpl"}, .answer = AG_ACCESS_ALLOWED};
    run(set, &c, 1, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMTemplateCache\",\"metadata\":"
        "{\"name\":\"c\"},\"spec\":{\"templateName\":\"tpl\",\"templateScope\":\"Namespace\"}}", NULL, "CREATE", "team-a");
    CHECK_INT(c.calls, 1); /* the default runtime config only */
    run(set, &c, 1, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMTemplateCache\",\"metadata\":"
        "{\"name\":\"c\"},\"spec\":{\"templateName\":\"tpl\",\"templateScope\":\"Cluster\"}}", NULL, "CREATE", "team-a");
    CHECK_INT(c.calls, 3);
    CHECK_CONTAINS(c.asked[1], "|aimclusterservicetemplates|");
    CHECK_CONTAINS(c.asked[1], "/tpl");
    /* cluster-scoped objects and other operations are not judged */
    fake n = {.answer = AG_ACCESS_DENIED};
    r = run(set, &n, 1, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMClusterServiceTemplate\","
            "\"metadata\":{\"name\":\"t\"},\"spec\":{\"modelName\":\"m\"}}", NULL, "CREATE", "");
    CHECK(r.allowed);
    CHECK_INT(n.calls, 0);
    ag_policy_set_unref(set);
}

static void test_update_keeps_references(void)
{
    ag_policy_set *set = load("");
    fake f = {.answer = AG_ACCESS_DENIED};
    const char *before = SVC("team-a", "{\"model\":{\"name\":\"llama\"},\"template\":{\"name\":\"tpl\"}}");
    const char *labelled = "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":"
        "{\"name\":\"s\",\"namespace\":\"team-a\",\"labels\":{\"x\":\"y\"}},\"spec\":{\"model\":{\"name\":\"llama\"},"
        "\"template\":{\"name\":\"tpl\"},\"runtimeConfigName\":\"default\"}}";
    result r = run(set, &f, 1, labelled, before, "UPDATE", "team-a");
    CHECK(r.allowed); /* "" and "default" are the same runtime config */
    CHECK_INT(f.calls, 0);
    r = run(set, &f, 1, SVC("team-a", "{\"model\":{\"name\":\"mistral\"},\"template\":{\"name\":\"tpl\"}}"), before,
            "UPDATE", "team-a");
    CHECK(!r.allowed);
    CHECK_INT(f.calls, 1);
    CHECK_CONTAINS(f.asked[0], "|aimclustermodels|");
    CHECK_CONTAINS(f.asked[0], "/mistral");
    ag_policy_set_unref(set);
}

static void test_exception_and_disabled(void)
{
    ag_policy_set *set = load("");
    fake f = {.answer = AG_ACCESS_DENIED};
    result r = run(set, &f, 1, SVC("trusted", "{\"model\":{\"name\":\"llama\"}}"), NULL, "CREATE", "trusted");
    CHECK(r.allowed);
    CHECK_INT(f.calls, 0);
    ag_policy_set_unref(set);
    set = load("enabled: false");
    r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(r.allowed);
    CHECK_INT(f.calls, 0);
    ag_policy_set_unref(set);
}

static void test_compile_errors(void)
{
    const char *text =
        "apiVersion: policy.aimguard.io/v1alpha1\n"
        "kind: AdmissionPolicy\n"
        "metadata: {name: bad}\n"
        "spec:\n"
        "  match: {kinds: [AIMService]}\n"
        "  validate:\n"
        "    rbac:\n"
        "      clusterReferences:\n"
        "        failclosed: true\n"
        "        verb: \"*\"\n"
        "        enabled: yes\n"
        "        references: [models, secrets]\n";
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    CHECK(ag_policy_load_buffer(text, strlen(text), "c.yaml", &o, &set, &d, &err) != 0);
    CHECK(set == NULL);
    CHECK_INT(d.count, 4);
    if (d.count == 4) {
        CHECK_STR(d.items[0], "c.yaml:9:9: unknown field 'failclosed' in rbac.clusterReferences (did you mean "
                  "'failClosed'?)");
        /* sorted by line, not in the order the compiler visits the fields */
        CHECK_STR(d.items[1], "c.yaml:10:15: rbac.clusterReferences.verb: '*' is not a verb (letters only, e.g. "
                  "use or get; '*' would ask nothing)");
        CHECK_STR(d.items[2], "c.yaml:11:18: rbac.clusterReferences.enabled must be true or false");
        CHECK_STR(d.items[3], "c.yaml:12:30: rbac.clusterReferences.references: unknown reference 'secrets' "
                  "(models, templates or runtimeConfigs)");
    }
    for (size_t i = 0; i < d.count; i++) fprintf(stderr, "  diag: %s\n", d.items[i]);
    ag_diags_clear(&d);
    const char *empty = "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: e}\n"
                        "spec:\n  match: {kinds: [AIMService]}\n  validate:\n    rbac:\n      clusterReferences: {references: []}\n";
    CHECK(ag_policy_load_buffer(empty, strlen(empty), "e.yaml", &o, &set, &d, &err) != 0);
    CHECK(d.count >= 1);
    if (d.count >= 1)
        CHECK_STR(d.items[0], "e.yaml:8:39: rbac.clusterReferences.references must be a non-empty list of models, "
                  "templates, runtimeConfigs");
    ag_diags_clear(&d);
}

static void test_example_policy(void)
{
    ag_policy_set *set = agt_policy_path(agt_path("AG_SRC", "policies/examples/aim-cluster-references.yaml"));
    CHECK(set != NULL);
    if (!set)
        return;
    fake f = {.deny_name = "llama"};
    result r = run(set, &f, 1, LLAMA, NULL, "CREATE", "team-a");
    CHECK(!r.allowed);
    CHECK_CONTAINS(r.msg, "[policy aim-cluster-references, rule rbac/clusterReference]");
    ag_policy_set_unref(set);
}

/* The cache, against an address where nothing listens: every call fails fast. */
static void test_authz_cache_unreachable(void)
{
    ag_kube_config cfg = {0};
    cfg.server = "https://127.0.0.1:1";
    cfg.token = "never-shown-token";
    ag_authz_options o = {500, 10000, 10000, 8, 2};
    ag_error err = {0};
    ag_authz *a = ag_authz_new(&cfg, &o, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    json_t *groups = json_pack("[s]", "g");
    int allowed = 1;
    char reason[512];
    CHECK(ag_authz_check(a, "alice", groups, "use", "aim.eai.amd.com", "aimclustermodels", "", "llama", &allowed,
                         reason, sizeof reason, &err) < 0);
    CHECK(!allowed);
    CHECK_CONTAINS(err.msg, "subjectaccessreviews");
    CHECK(!strstr(err.msg, "never-shown-token"));
    /* the same question within the unknown TTL: the remembered answer, no call */
    CHECK_INT(ag_authz_view_access(a, "alice", groups, "use", "aim.eai.amd.com", "aimclustermodels", "",
                                   "llama", reason, sizeof reason), AG_ACCESS_UNKNOWN);
    CHECK_CONTAINS(reason, "not asked again yet");
    ag_authz_stats st;
    ag_authz_stats_get(a, &st);
    CHECK_INT(st.calls, 1);
    CHECK_INT(st.hits, 1);
    /* other groups are another question */
    json_t *other = json_pack("[s]", "h");
    ag_authz_check(a, "alice", other, "use", "aim.eai.amd.com", "aimclustermodels", "", "llama", &allowed, NULL, 0, &err);
    ag_authz_stats_get(a, &st);
    CHECK_INT(st.calls, 2);
    /* bounded: 8 entries, 20 questions */
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        ag_authz_check(a, "alice", groups, "use", "aim.eai.amd.com", "aimclustermodels", "", name, &allowed, NULL, 0, &err);
    }
    ag_authz_stats_get(a, &st);
    CHECK_INT(st.calls, 22);
    CHECK(st.evictions >= 12);
    json_decref(other);
    json_decref(groups);
    ag_authz_free(a);
    /* unknown answers not kept at all */
    ag_authz_options o2 = {500, 10000, -1, 0, 0};
    a = ag_authz_new(&cfg, &o2, &err);
    CHECK(a != NULL);
    for (int i = 0; a && i < 2; i++)
        ag_authz_check(a, "bob", NULL, "use", "aim.eai.amd.com", "aimclustermodels", "", "x", &allowed, NULL, 0, &err);
    if (a) {
        ag_authz_stats_get(a, &st);
        CHECK_INT(st.calls, 2);
        CHECK_INT(st.hits, 0);
    }
    ag_authz_free(a);
    ag_authz_free(NULL);
}

int main(void)
{
    RUN(test_allowed_asks_each_reference);
    RUN(test_denied);
    RUN(test_unreachable_fail_closed);
    RUN(test_unreachable_fail_open);
    RUN(test_no_cluster);
    RUN(test_namespaced_object_shadows);
    RUN(test_references_and_kinds);
    RUN(test_update_keeps_references);
    RUN(test_exception_and_disabled);
    RUN(test_compile_errors);
    RUN(test_example_policy);
    RUN(test_authz_cache_unreachable);
    return agt_finish();
}
