/* validate.rbac.clusterReferences compile errors, and the SubjectAccessReview cache
 * (ag_authz) against an API server that cannot be reached. What the block decides through
 * a fake cluster view (what is asked, what the answers decide, what namespaced objects
 * shadow) is tested as data: test/cases/cluster-refs/. */
#include "agtest.h"
#include "aimguard/authz.h"
#include "aimguard/admission.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

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
    RUN(test_compile_errors);
    RUN(test_authz_cache_unreachable);
    return agt_finish();
}
