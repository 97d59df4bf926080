/* The known-kinds table and what the policy compiler makes of it: which kinds entries are
 * refused (with which suggestion), which warn, and the warnings and counts of a snapshot. */
#include "agtest.h"
#include "aimguard/kinds.h"
#include "aimguard/podspec.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <string.h>

typedef struct kcase {
    const char *pattern;
    int rc;            /* 0 accepted, -1 refused */
    unsigned sent;     /* when accepted */
    const char *msg;   /* when refused: a part of the message */
} kcase;

#define MV (AG_SENT_MUTATE | AG_SENT_VALIDATE)

static void test_kinds_entries(void)
{
    static const kcase cases[] = {
        {"*", 0, MV, NULL},
        {"Pod", 0, MV, NULL},
        {"core/Pod", 0, MV, NULL},
        {"apps/Deployment", 0, MV, NULL},
        {"apps/*", 0, MV, NULL},
        {"*/Deployment", 0, MV, NULL},
        {"rbac.authorization.k8s.io/RoleBinding", 0, AG_SENT_VALIDATE, NULL},
        {"Service", 0, 0, NULL},
        {"Event", 0, 0, NULL},
        {"aim.eai.amd.com/AIMClusterModelSource", 0, MV, NULL},
        {"serving.kserve.io/LLMInferenceServiceConfig", 0, MV, NULL},
        {"serving.kserve.io/TrainedModel", 0, 0, NULL},
        {"leaderworkerset.x-k8s.io/LeaderWorkerSet", 0, MV, NULL},
        {"example.com/Widget", 0, 0, NULL},
        {"example.com/*", 0, 0, NULL},
        {"apps/Deploymnet", -1, 0, "unknown kind 'apps/Deploymnet' (did you mean 'apps/Deployment'?)"},
        {"Pods", -1, 0, "unknown kind 'Pods' (did you mean 'Pod'?)"},
        {"pod", -1, 0, "(did you mean 'Pod'?)"},
        {"aim.eai.amd.com/AIMSevice", -1, 0, "(did you mean 'aim.eai.amd.com/AIMService'?)"},
        {"batch/Deployment", -1, 0, "(did you mean 'apps/Deployment'?)"},
        {"core/Deployment", -1, 0, "(did you mean 'apps/Deployment'?)"},
        {"app/Deployment", -1, 0, "(did you mean 'apps/Deployment'?)"},
        {"aim.eai.amd.co/AIMService", -1, 0, "(did you mean 'aim.eai.amd.com/AIMService'?)"},
        {"apps/v1/Deployment", -1, 0, "without the version (did you mean 'apps/Deployment'?)"},
        {"v1/Pod", -1, 0, "an API group, not a version"},
        {"Widget", -1, 0, "example.com/Widget"},
        {"foo/Bar", -1, 0, "unknown API group 'foo'"},
        {"example.com/widget", -1, 0, "upper-case"},
        {"/Pod", -1, 0, "expected GROUP/Kind"},
        {"apps/", -1, 0, "expected GROUP/Kind"},
        {"*/Pods", -1, 0, "(did you mean 'Pod'?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[512] = "";
        unsigned sent = 99;
        int rc = ag_kinds_check(cases[i].pattern, &sent, msg, sizeof msg);
        if (rc != cases[i].rc)
            fprintf(stderr, "  pattern %s: rc %d (%s)\n", cases[i].pattern, rc, msg);
        CHECK_INT(rc, cases[i].rc);
        if (cases[i].rc == 0 && rc == 0) {
            if (sent != cases[i].sent)
                fprintf(stderr, "  pattern %s: sent %u\n", cases[i].pattern, sent);
            CHECK_INT(sent, cases[i].sent);
        }
        if (cases[i].msg)
            CHECK_CONTAINS(msg, cases[i].msg);
    }
}

/* Every pod carrier is a known kind that both webhooks send (a carrier the mutating
 * webhook never sees would be judged on fields that were never defaulted). */
static void test_table_rows(void)
{
    size_t n = 0;
    const ag_kind_info *t = ag_kinds_table(&n);
    CHECK(n > 60);
    size_t carriers = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(ag_kinds_find(t[i].group, t[i].kind) == &t[i]); /* no duplicate row */
        if (ag_podspec_is_carrier(t[i].group, t[i].kind)) {
            carriers++;
            CHECK_INT(t[i].sent, MV);
        }
    }
    CHECK(carriers >= 12);
    CHECK(ag_kinds_find("", "Pod") != NULL);
    CHECK(ag_kinds_find("apps", "Pod") == NULL);
    const ag_kind_info *lws = ag_kinds_find("leaderworkerset.x-k8s.io", "LeaderWorkerSet");
    CHECK(lws && !strcmp(lws->resource, "leaderworkersets") && lws->scope == AG_SCOPE_NAMESPACED);
    const ag_kind_info *cm = ag_kinds_find("aim.eai.amd.com", "AIMClusterModel");
    CHECK(cm && cm->scope == AG_SCOPE_CLUSTER);
}

#define HEAD "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: %s}\nspec:\n"

static const char *const warned =
    "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: w}\nspec:\n"
    "  match: {kinds: [Service, Pod, example.com/Widget]}\n"
    "  validate:\n"
    "    podSecurity: {level: baseline}\n"
    "    rules: [{name: r, path: metadata.name, matches: '^a'}]\n"
    "  exceptions:\n"
    "    - {controls: [privileged], namespaces: [a], reason: r, expires: 2027-01-01}\n"
    "    - {controls: [r], namespaces: [b], reason: r}\n"
    "---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    "---\n"
    "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: m}\nspec:\n"
    "  match: {kinds: [rbac.authorization.k8s.io/RoleBinding, Pod]}\n"
    "  mutate: {securityContext: {runAsNonRoot: true}, gpu: {resources: [amd.com/gpu]}}\n";

static void test_warnings_notes_and_counts(void)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    CHECK_INT(ag_policy_load_buffer(warned, strlen(warned), "w.yaml", &o, &set, &d, &err), 0);
    CHECK_INT(d.count, 0);
    if (!set)
        return;
    time_t before = 1780000000; /* 2026-05-28, before the expiry */
    time_t after = 1800000000;  /* 2027-01-15, after it */
    CHECK_INT(ag_policy_warnings(set, before, &d), 4);
    if (d.count == 4) {
        CHECK_CONTAINS(d.items[0], "w.yaml:5:19: warning: spec.match.kinds: Service is not sent by the shipped");
        CHECK_CONTAINS(d.items[1], "w.yaml:5:33: warning: spec.match.kinds: example.com/Widget is not sent");
        CHECK_CONTAINS(d.items[2], "w.yaml:11:7: warning: exception has no expires");
        CHECK_CONTAINS(d.items[3], "w.yaml:21:19: warning: spec.match.kinds: rbac.authorization.k8s.io/RoleBinding "
                                   "is not sent by the shipped webhook configurations to /mutate");
    }
    ag_diags_clear(&d);
    CHECK_INT(ag_policy_warnings(set, after, &d), 5);
    if (d.count == 5)
        CHECK_STR(d.items[2], "w.yaml:10:7: warning: exception expired on 2027-01-01: it waives nothing (remove "
                              "it, or renew it with a new date)");
    ag_diags_clear(&d);
    const ag_diags *notes = ag_policy_set_notes(set);
    CHECK_INT(notes->count, 1);
    if (notes->count == 1)
        CHECK_CONTAINS(notes->items[0], "w.yaml:13:1: note: skipped: apiVersion v1 kind ConfigMap is not a policy");
    ag_policy_stats st;
    ag_policy_set_stats(set, &st);
    CHECK_INT(st.policies, 2);
    CHECK_INT(st.skipped, 1);
    CHECK_INT(st.mutate_blocks, 2);
    CHECK_INT(st.validate_blocks, 1);
    CHECK_INT(st.rules, 1);
    CHECK_INT(st.exceptions, 2);
    ag_policy_set_unref(set);
    CHECK_INT(ag_policy_warnings(NULL, after, &d), 0);
}

/* Errors come sorted by line and column whatever order the compiler found them in. */
static void test_errors_sorted(void)
{
    static const char text[] =
        "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: s}\nspec:\n"
        "  action: deny\n"
        "  match: {kinds: [Pods], operations: [create]}\n"
        "  validate: {podSecurity: {level: restriced}}\n"
        "bogus: 1\n";
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    CHECK(ag_policy_load_buffer(text, strlen(text), "s.yaml", &o, &set, &d, &err) != 0);
    CHECK_INT(d.count, 5);
    if (d.count == 5) {
        CHECK_STR(d.items[0], "s.yaml:5:11: spec.action must be enforce, warn or audit (did you mean 'enforce'?)");
        CHECK_CONTAINS(d.items[1], "s.yaml:6:19: spec.match.kinds: unknown kind 'Pods'");
        CHECK_CONTAINS(d.items[2], "s.yaml:6:39: spec.match.operations: unknown operation 'create'");
        CHECK_CONTAINS(d.items[3], "s.yaml:7:35: podSecurity.level must be");
        CHECK_STR(d.items[4], "s.yaml:8:1: unknown field 'bogus' in the document");
    }
    ag_diags_clear(&d);
}

/* The kinds a background audit judges: named kinds, wildcards limited to what the
 * validating webhook sends, exclusions by kind, policies without validate blocks or
 * without CREATE judging nothing, custom kinds named apart. */
static int has_kind(const ag_kind_info **k, size_t n, const char *group, const char *kind)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k[i]->group, group) && !strcmp(k[i]->kind, kind))
            return 1;
    return 0;
}

static void test_audit_kinds(void)
{
    const ag_kind_info *k[128];
    ag_diags custom = {0};
    struct ag_policy_set *set = agt_policy_text("a.yaml",
        "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: all}\n"
        "spec:\n  match: {kinds: [\"*\"]}\n  exclude: {kinds: [batch/CronJob]}\n"
        "  validate: {secrets: {forbidLiteralEnv: true}}\n"
        "---\napiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: named}\n"
        "spec:\n  match: {kinds: [Service, example.com/Widget]}\n"
        "  validate:\n    rules: [{name: r, path: spec.x, required: true}]\n"
        "---\napiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: deletes}\n"
        "spec:\n  match: {kinds: [ConfigMap], operations: [DELETE]}\n"
        "  validate:\n    rules: [{name: r, path: spec.x, required: true}]\n"
        "---\napiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: mutates}\n"
        "spec:\n  match: {kinds: [Secret]}\n  mutate: {securityContext: {runAsNonRoot: true}}\n");
    CHECK(set != NULL);
    size_t n = ag_policy_audit_kinds(set, k, 128, &custom);
    CHECK(n > 10 && n < 128);
    CHECK(has_kind(k, n, "", "Pod"));
    CHECK(has_kind(k, n, "apps", "Deployment"));
    CHECK(has_kind(k, n, "aim.eai.amd.com", "AIMClusterModel"));
    CHECK(has_kind(k, n, "rbac.authorization.k8s.io", "ClusterRoleBinding")); /* validate webhook only */
    CHECK(has_kind(k, n, "", "Service"));        /* named: audited though no webhook sends it */
    CHECK(!has_kind(k, n, "", "Event"));         /* the wildcard: only what the webhook sends */
    CHECK(!has_kind(k, n, "coordination.k8s.io", "Lease"));
    CHECK(!has_kind(k, n, "batch", "CronJob"));  /* exclude.kinds */
    CHECK(!has_kind(k, n, "", "ConfigMap"));     /* DELETE only: an existing object is a CREATE */
    CHECK(!has_kind(k, n, "", "Secret"));        /* no validate block */
    CHECK_INT(custom.count, 1);
    CHECK_STR(custom.count ? custom.items[0] : "", "example.com/Widget");
    /* cap: the count is the whole answer, only cap rows are stored */
    CHECK_INT(ag_policy_audit_kinds(set, k, 2, NULL), n);
    ag_diags_clear(&custom);
    ag_policy_set_unref(set);
    /* the shipped defaults: pod carriers and AIM kinds (credentials matches every kind) */
    set = agt_policy_path(agt_path("AG_SRC", "policies/default"));
    CHECK(set != NULL);
    n = ag_policy_audit_kinds(set, k, 128, NULL);
    CHECK(has_kind(k, n, "", "Pod") && has_kind(k, n, "aim.eai.amd.com", "AIMService"));
    CHECK(!has_kind(k, n, "", "Namespace"));
    ag_policy_set_unref(set);
}

int main(void)
{
    RUN(test_audit_kinds);
    RUN(test_kinds_entries);
    RUN(test_table_rows);
    RUN(test_warnings_notes_and_counts);
    RUN(test_errors_sorted);
    return agt_finish();
}
