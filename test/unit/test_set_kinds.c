/* ag_policy_set_kinds: the kinds `aimguard audit` lists from a cluster. Each entry of
 * match.kinds expands to the known kinds it matches; custom kinds stay as written;
 * policies that cannot judge an existing object (no validate block, a user selector,
 * only UPDATE) add nothing. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>

/* "group/Kind,group/Kind,..." of the set's kinds (core kinds bare), for one comparison */
static char *kinds_of(const char *yaml)
{
    ag_policy_set *set = agt_policy_text("k.yaml", yaml);
    CHECK(set != NULL);
    ag_kind_ref *v = NULL;
    size_t n = 99;
    ag_error err = {0};
    CHECK_INT(ag_policy_set_kinds(set, &v, &n, &err), 0);
    static char buf[16384];
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%s%s%s%s", i ? "," : "", v[i].group, *v[i].group ? "/" : "",
                 v[i].kind, v[i].known ? "" : "(custom)");
    }
    ag_kind_refs_free(v, n);
    ag_policy_set_unref(set);
    return buf;
}

#define HEAD "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\n"

static void test_named_kinds_sorted_without_duplicates(void)
{
    CHECK_STR(kinds_of(HEAD "metadata: {name: a}\nspec:\n  match: {kinds: [apps/Deployment, Pod, core/Pod, "
                            "aim.eai.amd.com/AIMService]}\n  validate: {podSecurity: {level: baseline}}\n"
                       "---\n" HEAD "metadata: {name: b}\nspec:\n  match: {kinds: [batch/Job, Pod]}\n"
                            "  validate: {images: {requireDigest: true}}\n"),
              "Pod,aim.eai.amd.com/AIMService,apps/Deployment,batch/Job");
}

static void test_wildcards_expand_to_known_kinds(void)
{
    CHECK_STR(kinds_of(HEAD "metadata: {name: a}\nspec:\n  match: {kinds: [batch/*, \"*/ReplicaSet\"]}\n"
                            "  validate: {podSecurity: {level: baseline}}\n"),
              "apps/ReplicaSet,batch/CronJob,batch/Job");
    /* "*": the known kinds the validating webhook receives (what admission judges), not
     * Namespaces, Secrets or Events; the custom ones cannot be known without the cluster */
    char *all = kinds_of(HEAD "metadata: {name: a}\nspec:\n  match: {kinds: [\"*\"]}\n"
                              "  validate: {podSecurity: {level: baseline}}\n");
    CHECK(!strstr(all, "Namespace") && !strstr(all, "Secret") && !strstr(all, "Event"));
    CHECK_CONTAINS(all, "Pod,");
    CHECK_CONTAINS(all, "apps/StatefulSet");
    CHECK_CONTAINS(all, "leaderworkerset.x-k8s.io/LeaderWorkerSet");
    CHECK(!strstr(all, "(custom)"));
}

/* exclude.kinds given alone removes kinds, from wildcards too */
static void test_excluded_kinds(void)
{
    CHECK_STR(kinds_of(HEAD "metadata: {name: a}\nspec:\n  match: {kinds: [batch/*, apps/Deployment]}\n"
                            "  exclude: {kinds: [batch/CronJob]}\n  validate: {podSecurity: {level: baseline}}\n"),
              "apps/Deployment,batch/Job");
}

static void test_custom_kinds_as_written(void)
{
    CHECK_STR(kinds_of(HEAD "metadata: {name: a}\nspec:\n  match: {kinds: [example.com/Widget, example.org/*]}\n"
                            "  validate:\n    rules:\n    - {name: r, path: spec.x, required: true}\n"),
              "example.com/Widget(custom),example.org/*(custom)");
}

static void test_policies_that_cannot_judge_existing_objects_add_nothing(void)
{
    /* mutate only; a user selector (an existing object has no requester); UPDATE only */
    CHECK_STR(kinds_of(HEAD "metadata: {name: a}\nspec:\n  match: {kinds: [Pod]}\n"
                            "  mutate: {securityContext: {runAsNonRoot: true}}\n"
                       "---\n" HEAD "metadata: {name: b}\nspec:\n  match: {kinds: [batch/Job], users: [alice]}\n"
                            "  validate: {podSecurity: {level: baseline}}\n"
                       "---\n" HEAD "metadata: {name: c}\nspec:\n  match: {kinds: [apps/Deployment], "
                            "operations: [UPDATE]}\n  validate: {podSecurity: {level: baseline}}\n"
                       "---\n" HEAD "metadata: {name: d}\nspec:\n  match: {kinds: [apps/DaemonSet], "
                            "operations: [\"*\"]}\n  validate: {podSecurity: {level: baseline}}\n"),
              "apps/DaemonSet");
}

static void test_shipped_default_policies(void)
{
    ag_policy_set *set = agt_policy_path(agt_path("AG_SRC", "policies/default"));
    CHECK(set != NULL);
    ag_kind_ref *v = NULL;
    size_t n = 0;
    ag_error err = {0};
    CHECK_INT(ag_policy_set_kinds(set, &v, &n, &err), 0);
    int pod = 0, deploy = 0;
    for (size_t i = 0; i < n; i++) {
        pod |= !strcmp(v[i].group, "") && !strcmp(v[i].kind, "Pod");
        deploy |= !strcmp(v[i].group, "apps") && !strcmp(v[i].kind, "Deployment");
        CHECK(v[i].known);
    }
    CHECK(pod && deploy);
    ag_kind_refs_free(v, n);
    ag_policy_set_unref(set);
    ag_kind_refs_free(NULL, 0);
}

int main(void)
{
    RUN(test_named_kinds_sorted_without_duplicates);
    RUN(test_wildcards_expand_to_known_kinds);
    RUN(test_excluded_kinds);
    RUN(test_custom_kinds_as_written);
    RUN(test_policies_that_cannot_judge_existing_objects_add_nothing);
    RUN(test_shipped_default_policies);
    return agt_finish();
}
