/* validate.images through ag_decide: pod carriers and AIM image fields, normalisation,
 * look-alike registries, tag rules, per-namespace lists, exceptions, compile errors. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

#define D64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char *pod(const char *image)
{
    char *s = NULL;
    if (asprintf(&s, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"template\":"
                 "{\"spec\":{\"initContainers\":[{\"name\":\"init\",\"image\":\"ghcr.io/silogen/tools:1.0\"}],"
                 "\"containers\":[{\"name\":\"app\",\"image\":\"%s\"}]}}}}", image) < 0)
        abort();
    return s;
}

static void test_example_allowlist(void)
{
    ag_policy_set *set = agt_policy_path(agt_path("AG_SRC", "policies/examples/image-allowlist.yaml"));
    CHECK(set != NULL);
    if (!set) return;
    static const struct { const char *image; int allowed; const char *needle; } cases[] = {
        {"docker.io/amdenterpriseai/aim-llama:0.8.5", 1, NULL},
        {"amdenterpriseai/aim-llama:0.8.5", 1, NULL},
        {"index.docker.io/amdenterpriseai/aim-llama@sha256:" D64, 1, NULL},
        {"docker.io.evil.io/amdenterpriseai/aim-llama:1", 0, "docker.io.evil.io/amdenterpriseai/aim-llama:1, which is not under"},
        {"docker.io/amdenterpriseaix/aim-llama:1", 0, "docker.io/amdenterpriseaix/aim-llama:1, which is not under"},
        {"nginx:1.25", 0, "docker.io/library/nginx:1.25, which is not under"},
        {"docker.io/amdenterpriseai/aim-llama", 0, "neither a tag nor a digest"},
        {"docker.io/amdenterpriseai/aim-llama:latest", 0, "mutable tag :latest"},
        {"docker.io/amdenterpriseai/../x:1", 0, "invalid image reference"},
        {"ghcr.io/silogen/aim-x:2", 1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *obj = pod(cases[i].image);
        int allowed = -1;
        char *m = agt_validate(set, obj, "CREATE", "team-a", "alice", &allowed);
        if (allowed != cases[i].allowed) fprintf(stderr, "image %s: %s\n", cases[i].image, m);
        CHECK_INT(allowed, cases[i].allowed);
        if (cases[i].needle) {
            CHECK_CONTAINS(m, cases[i].needle);
            CHECK_CONTAINS(m, "container \"app\"");
            CHECK_CONTAINS(m, "(field spec.template.spec.containers[0].image)");
        }
        free(m);
        free(obj);
    }
    /* AIM image fields */
    int allowed;
    char *m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":{\"name\":\"s\"},"
                         "\"spec\":{\"model\":{\"image\":\"evil.example/llama:1\"}}}", "CREATE", "team-a", "alice", &allowed);
    CHECK(!allowed);
    CHECK_CONTAINS(m, "AIMService spec.model.image uses evil.example/llama:1");
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMArtifact\",\"metadata\":{\"name\":\"a\"},"
                   "\"spec\":{\"modelDownloadImage\":\"ghcr.io/silogen/aim-artifact-downloader:0.2.1\"}}", "CREATE", "team-a", "alice", &allowed);
    CHECK(allowed);
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMClusterModel\",\"metadata\":{\"name\":\"m\"},"
                   "\"spec\":{\"image\":\"docker.io/amdenterpriseai/aim-base\"}}", "CREATE", "", "alice", &allowed);
    CHECK(!allowed);
    CHECK_CONTAINS(m, "neither a tag nor a digest");
    free(m);
    ag_policy_set_unref(set);
}

static void test_namespaces_patterns_digest_and_exceptions(void)
{
    ag_policy_set *set = agt_policy_text("i.yaml",
        "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: img}\nspec:\n"
        "  match: {kinds: ['*']}\n  validate:\n    images:\n      allow: [registry.example.com/aim]\n"
        "      requireDigest: true\n      namespaces:\n        - namespaces: ['team-*']\n"
        "          allowPatterns: ['^registry\\.example\\.com/team-[a-z]+/']\n"
        "  exceptions:\n    - {controls: [images], namespaces: [sandbox], reason: 'demo cluster'}\n");
    CHECK(set != NULL);
    if (!set) return;
    int allowed;
    char *obj = pod("registry.example.com/aim/x@sha256:" D64);
    char *m = agt_validate(set, obj, "CREATE", "prod", "alice", &allowed);
    CHECK(!allowed); /* the init container ghcr.io/silogen/tools is not allowed in prod */
    CHECK_CONTAINS(m, "container \"init\" uses ghcr.io/silogen/tools:1.0");
    CHECK_CONTAINS(m, "not pinned by digest");
    free(m);
    free(obj);
    obj = pod("registry.example.com/team-ml/x@sha256:" D64);
    m = agt_validate(set, obj, "CREATE", "team-ml", "alice", &allowed);
    CHECK(!allowed); /* the team list replaces the global one; init still fails */
    CHECK(!strstr(m, "registry.example.com/team-ml/x@sha256"));
    free(m);
    m = agt_validate(set, obj, "CREATE", "sandbox", "alice", &allowed);
    CHECK(allowed);
    free(m);
    free(obj);
    ag_policy_set_unref(set);
}

static void test_compile_errors(void)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    const char *text = "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: img}\nspec:\n"
                       "  match: {kinds: ['*']}\n  validate:\n    images:\n      allow: ['docker.io/Bad Path']\n"
                       "      allowPatterns: ['registry\\.example\\.com/']\n";
    CHECK(ag_policy_load_buffer(text, strlen(text), "i.yaml", &o, &set, &d, &err) != 0);
    CHECK_INT(d.count, 2);
    if (d.count == 2) {
        CHECK_CONTAINS(d.items[0], "i.yaml:8:15: images.allow: 'docker.io/Bad Path' is not a registry");
        CHECK_CONTAINS(d.items[1], "i.yaml:9:23: images.allowPatterns: 'registry\\.example\\.com/' must be anchored");
    }
    ag_diags_clear(&d);
}

int main(void)
{
    RUN(test_example_allowlist);
    RUN(test_namespaces_patterns_digest_and_exceptions);
    RUN(test_compile_errors);
    return agt_finish();
}
