/* ag_decide(): selectors, actions, exceptions, generic rules and the mutators on every
 * pod carrier, through the same function the server and `aimguard eval` call. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define HEAD "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata:\n  name: p\n"
#define NOW ((time_t)1800000000) /* 2027-01-15 */

static ag_policy_set *load(const char *text)
{
    char dir[] = "/tmp/ag-decide-XXXXXX";
    if (!mkdtemp(dir)) abort();
    char path[256];
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    if (ag_policy_load(dir, &o, &set, &d, &err)) {
        for (size_t i = 0; i < d.count; i++) fprintf(stderr, "%s\n", d.items[i]);
    }
    ag_diags_clear(&d);
    unlink(path);
    rmdir(dir);
    return set;
}

typedef struct result {
    ag_decision d;
    char *patch;     /* compact JSON of the patch or "" */
    char *after;     /* compact JSON of the object after mutation */
    const char *msg;
} result;

static result decide_full(ag_policy_set *set, const char *object_json, const char *operation,
                          const char *ns, const char *user, const char *old_json, ag_mode mode)
{
    result r;
    memset(&r, 0, sizeof r);
    json_error_t je;
    json_t *obj = object_json ? json_loads(object_json, 0, &je) : NULL;
    json_t *old = old_json ? json_loads(old_json, 0, &je) : NULL;
    if (object_json && !obj) fprintf(stderr, "bad test JSON: %s\n", je.text);
    ag_request req;
    ag_error err = {0};
    const char *groups[] = {"system:authenticated", "team-a-devs"};
    int rc = ag_request_synthesize(&req, obj, old, operation, ns, user, groups, 2, &err);
    CHECK_INT(rc, 0);
    rc = ag_decide(set, &req, NULL, mode, NOW, &r.d, &err);
    CHECK_INT(rc, 0);
    r.patch = r.d.patch ? json_dumps(r.d.patch, JSON_COMPACT) : strdup("");
    r.after = r.d.object_after ? json_dumps(r.d.object_after, JSON_COMPACT | JSON_SORT_KEYS) : strdup("");
    r.msg = r.d.message ? r.d.message : "";
    ag_request_clear(&req);
    json_decref(obj);
    json_decref(old);
    return r;
}

static result decide(ag_policy_set *set, const char *object_json, ag_mode mode)
{
    return decide_full(set, object_json, "CREATE", "team-a", "alice", NULL, mode);
}

static void result_free(result *r)
{
    ag_decision_clear(&r->d);
    free(r->patch);
    free(r->after);
}

#define POD(spec) "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\",\"namespace\":\"team-a\",\"labels\":{\"app\":\"x\"}},\"spec\":" spec "}"

static const char *hardening =
    HEAD "spec:\n  match: {kinds: ['*']}\n  mutate:\n    securityContext:\n"
    "      runAsNonRoot: true\n      seccompProfile: RuntimeDefault\n"
    "      allowPrivilegeEscalation: false\n      dropCapabilities: [ALL]\n"
    "      readOnlyRootFilesystem: true\n      writableDirs: [/tmp, {path: /cache, medium: Memory, sizeLimit: 1Gi}]\n";

static void test_generic_rules(void)
{
    ag_policy_set *set = load(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
        "      - {name: no-host-port, path: 'spec.containers[*].ports[*].hostPort', absent: true}\n"
        "      - {name: dns, path: spec.dnsPolicy, oneOf: [ClusterFirst, Default]}\n"
        "      - {name: sa, path: spec.serviceAccountName, equals: runner, required: true,\n"
        "         message: 'pods run as runner, not {value} ({path})'}\n"
        "      - {name: img, path: 'podSpec.allContainers[*].image', matches: '^registry\\.example\\.com/'}\n"
        "      - {name: nolatest, path: 'podSpec.allContainers[*].image', notMatches: ':latest$', action: warn}\n"
        "      - {name: prio, path: spec.priority, range: {min: 0, max: 1000}, action: audit}\n"
        "      - {name: team, path: \"metadata.labels['app.kubernetes.io/team']\", required: true, matches: '^[a-z]+$'}\n");
    CHECK(set != NULL);
    if (!set) return;
    result r = decide(set, POD("{\"serviceAccountName\":\"runner\",\"dnsPolicy\":\"Default\",\"priority\":5,"
        "\"containers\":[{\"name\":\"a\",\"image\":\"registry.example.com/x:1\",\"ports\":[{\"containerPort\":80}]}]}")
        , AG_MODE_VALIDATE);
    /* only the missing team label */
    CHECK(!r.d.allowed);
    CHECK_STR(r.msg, "aimguard denied Pod team-a/p1: [policy p, rule team] metadata.labels['app.kubernetes.io/team'] "
              "is required (field metadata.labels['app.kubernetes.io/team'])");
    result_free(&r);

    r = decide(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p2\",\"labels\":{\"app.kubernetes.io/team\":\"ml\"}},"
        "\"spec\":{\"serviceAccountName\":\"default\",\"dnsPolicy\":\"None\",\"priority\":5000,"
        "\"initContainers\":[{\"name\":\"i\",\"image\":\"docker.io/evil:latest\"}],"
        "\"containers\":[{\"name\":\"a\",\"image\":\"registry.example.com/x:latest\",\"ports\":[{\"containerPort\":80,\"hostPort\":8080}]}]}}",
        AG_MODE_VALIDATE);
    CHECK(!r.d.allowed);
    CHECK_INT(r.d.code, 403);
    CHECK_CONTAINS(r.msg, "[policy p, rule no-host-port] spec.containers[0].ports[0].hostPort must not be set");
    CHECK_CONTAINS(r.msg, "[policy p, rule dns] spec.dnsPolicy must be one of");
    CHECK_CONTAINS(r.msg, "[policy p, rule sa] pods run as runner, not default (spec.serviceAccountName)");
    CHECK_CONTAINS(r.msg, "[policy p, rule img] spec.initContainers[0].image must match the rule's pattern");
    CHECK(!strstr(r.msg, "docker.io/evil")); /* values are not echoed unless the policy asks */
    CHECK(!strstr(r.msg, "nolatest"));  /* warn, not deny */
    CHECK(!strstr(r.msg, "prio"));      /* audit, not deny */
    CHECK_INT(json_array_size(r.d.warnings), 2);
    CHECK_CONTAINS(json_string_value(json_array_get(r.d.warnings, 0)), "[policy p, rule nolatest] spec.containers[0].image must not match");
    CHECK_CONTAINS(json_string_value(json_array_get(r.d.warnings, 1)), "spec.initContainers[0].image");
    const char *k;
    json_t *v;
    int audits = 0;
    json_object_foreach(r.d.audit, k, v) {
        audits++;
        CHECK_CONTAINS(json_string_value(v), "[policy p, rule prio] spec.priority is out of the allowed range");
    }
    CHECK_INT(audits, 1);
    result_free(&r);
    ag_policy_set_unref(set);
}

static void test_selectors(void)
{
    ag_policy_set *set = load(HEAD "spec:\n  match:\n    kinds: [core/Pod]\n    namespaces: ['team-*']\n"
        "    groups: ['team-a-*']\n    objectSelector: {matchLabels: {app: x}}\n"
        "  exclude:\n    users: [bob]\n"
        "  validate:\n    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n");
    const char *pod = POD("{\"hostNetwork\":true,\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}");
    result r = decide(set, pod, AG_MODE_VALIDATE);
    CHECK(!r.d.allowed);
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "prod", "alice", NULL, AG_MODE_VALIDATE); /* namespace */
    CHECK(r.d.allowed);
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "team-a", "bob", NULL, AG_MODE_VALIDATE); /* excluded user */
    CHECK(r.d.allowed);
    result_free(&r);
    r = decide_full(set, pod, "DELETE", "team-a", "alice", NULL, AG_MODE_VALIDATE); /* default ops */
    CHECK(r.d.allowed);
    result_free(&r);
    r = decide(set, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\",\"labels\":{\"app\":\"x\"}},"
               "\"spec\":{\"hostNetwork\":true}}", AG_MODE_VALIDATE); /* group-qualified kind */
    CHECK(r.d.allowed);
    result_free(&r);
    r = decide(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"q\",\"labels\":{\"app\":\"y\"}},"
               "\"spec\":{\"hostNetwork\":true}}", AG_MODE_VALIDATE); /* labels */
    CHECK(r.d.allowed);
    result_free(&r);
    ag_policy_set_unref(set);

    /* namespace labels without a cluster view: the policy applies, and says so */
    set = load(HEAD "spec:\n  match:\n    kinds: [Pod]\n    namespaceSelector: {matchLabels: {aim: 'on'}}\n"
               "  validate:\n    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n");
    r = decide(set, pod, AG_MODE_VALIDATE);
    CHECK(!r.d.allowed);
    CHECK_CONTAINS(json_string_value(json_array_get(r.d.warnings, 0)), "labels of namespace team-a are unknown");
    result_free(&r);
    ag_policy_set_unref(set);

    /* service accounts are matched from the authenticated identity, never labels */
    set = load(HEAD "spec:\n  match:\n    kinds: [Pod]\n    serviceAccounts: ['kube-system/replicaset-controller']\n"
               "  validate:\n    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n");
    r = decide_full(set, pod, "CREATE", "team-a", "system:serviceaccount:kube-system:replicaset-controller", NULL, AG_MODE_VALIDATE);
    CHECK(!r.d.allowed);
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "team-a", "replicaset-controller", NULL, AG_MODE_VALIDATE);
    CHECK(r.d.allowed);
    result_free(&r);
    ag_policy_set_unref(set);
}

/* "Pods made by AIM" are recognised by who asks, never by their labels: anyone who may
 * create a pod can copy the AIM operator's labels onto it. */
static void test_forged_aim_labels_do_not_buy_an_exemption(void)
{
    ag_policy_set *set = load(HEAD "spec:\n  match: {kinds: [Pod]}\n"
        "  exclude:\n    serviceAccounts: ['aim-system/aim-engine-controller-manager', 'kube-system/replicaset-controller']\n"
        "  validate:\n    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n");
    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"llama-predictor-abc\","
                      "\"labels\":{\"app.kubernetes.io/managed-by\":\"aim-engine\",\"aim.eai.amd.com/service\":\"llama\","
                      "\"serving.kserve.io/inferenceservice\":\"llama\"}},\"spec\":{\"hostNetwork\":true}}";
    result r = decide_full(set, pod, "CREATE", "team-a", "mallory", NULL, AG_MODE_VALIDATE);
    CHECK(!r.d.allowed); /* the labels say AIM, the requester is not */
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "team-a", "system:serviceaccount:team-a:aim-engine-controller-manager", NULL,
                    AG_MODE_VALIDATE);
    CHECK(!r.d.allowed); /* same account name in another namespace is someone else */
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "team-a", "system:serviceaccount:kube-system:replicaset-controller", NULL,
                    AG_MODE_VALIDATE);
    CHECK(r.d.allowed);
    result_free(&r);
    ag_policy_set_unref(set);
}

static void test_exceptions_and_expiry(void)
{
    ag_policy_set *set = load(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n"
        "    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n"
        "  exceptions:\n"
        "    - {controls: [no-hostnet], namespaces: [team-a], reason: 'CNI agent', expires: 2027-01-01}\n"
        "    - {controls: [no-hostnet], namespaces: [infra], reason: 'node exporter'}\n"
        "    - {controls: [no-hostnet], users: [ops-bot], reason: 'break glass', expires: '2027-02-01T00:00:00Z'}\n");
    const char *pod = POD("{\"hostNetwork\":true}");
    result r = decide(set, pod, AG_MODE_VALIDATE); /* the team-a exception expired before NOW */
    CHECK(!r.d.allowed);
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "infra", "alice", NULL, AG_MODE_VALIDATE); /* no expiry */
    CHECK(r.d.allowed);
    CHECK_CONTAINS(json_string_value(json_object_get(r.d.audit, "p.exception.no-hostnet")), "node exporter");
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "team-a", "ops-bot", NULL, AG_MODE_VALIDATE); /* still valid */
    CHECK(r.d.allowed);
    result_free(&r);
    char *soon = ag_policy_expiring(set, NOW, 30 * 24 * 3600);
    CHECK_CONTAINS(soon, "exception expires 2027-02-01T00:00:00Z (break glass)");
    CHECK(!strstr(soon, "CNI agent")); /* already expired */
    free(soon);
    ag_policy_set_unref(set);

    /* a reason longer than any line buffer is reported whole (it once over-read one) */
    char reason[1501];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    char *text = NULL;
    CHECK(asprintf(&text, HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n"
                   "    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n"
                   "  exceptions:\n"
                   "    - {controls: [no-hostnet], users: [ops-bot], reason: '%s', expires: 2027-02-01}\n",
                   reason) > 0);
    set = load(text);
    free(text);
    soon = ag_policy_expiring(set, NOW, 30 * 24 * 3600);
    CHECK_CONTAINS(soon, reason);
    CHECK(soon && soon[strlen(soon) - 1] == '\n');
    free(soon);
    ag_policy_set_unref(set);
}

static void test_hardening_on_every_carrier(void)
{
    ag_policy_set *set = load(hardening);
    static const char *const objs[][2] = {
        {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}", "/spec"},
        {"{\"apiVersion\":\"v1\",\"kind\":\"PodTemplate\",\"metadata\":{\"name\":\"a\"},\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}", "/template/spec"},
        {"{\"apiVersion\":\"v1\",\"kind\":\"ReplicationController\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}", "/spec/template/spec"},
        {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}", "/spec/template/spec"},
        {"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}", "/spec/template/spec"},
        {"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}", "/spec/template/spec"},
        {"{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}", "/spec/template/spec"},
        {"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}", "/spec/template/spec"},
        {"{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}}}", "/spec/jobTemplate/spec/template/spec"},
        {"{\"apiVersion\":\"serving.kserve.io/v1beta1\",\"kind\":\"InferenceService\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"predictor\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}", "/spec/predictor"},
        {"{\"apiVersion\":\"serving.kserve.io/v1alpha1\",\"kind\":\"ServingRuntime\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}", "/spec"},
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        result r = decide(set, objs[i][0], AG_MODE_MUTATE);
        char want[256];
        snprintf(want, sizeof want, "{\"op\":\"add\",\"path\":\"%s/securityContext\",\"value\":{}}", objs[i][1]);
        CHECK_CONTAINS(r.patch, want);
        snprintf(want, sizeof want, "\"path\":\"%s/containers/0/securityContext/readOnlyRootFilesystem\",\"value\":true", objs[i][1]);
        CHECK_CONTAINS(r.patch, want);
        snprintf(want, sizeof want, "\"path\":\"%s/volumes/-\",\"value\":{\"name\":\"aimguard-writable-cache\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"1Gi\"}}", objs[i][1]);
        CHECK_CONTAINS(r.patch, want);
        /* idempotence: mutating the mutated object changes nothing */
        result r2 = decide(set, r.after, AG_MODE_MUTATE);
        CHECK_STR(r2.patch, "");
        result_free(&r2);
        result_free(&r);
    }
    ag_policy_set_unref(set);
}

static void test_hardening_details(void)
{
    ag_policy_set *set = load(hardening);
    /* every container list; explicit values kept; privileged left to the validators */
    result r = decide(set, POD("{\"securityContext\":{\"runAsNonRoot\":false},"
        "\"initContainers\":[{\"name\":\"init\",\"image\":\"i\"}],"
        "\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"securityContext\":{\"allowPrivilegeEscalation\":true,"
        "\"readOnlyRootFilesystem\":false,\"capabilities\":{\"drop\":[\"NET_RAW\"]}},"
        "\"volumeMounts\":[{\"name\":\"scratch\",\"mountPath\":\"/tmp\"}]},"
        "{\"name\":\"b\",\"image\":\"i\",\"securityContext\":{\"privileged\":true}}],"
        "\"ephemeralContainers\":[{\"name\":\"dbg\",\"image\":\"i\"}],"
        "\"volumes\":[{\"name\":\"scratch\",\"emptyDir\":{}}]}"), AG_MODE_MUTATE);
    json_t *after = json_loads(r.after, 0, NULL);
    json_t *spec = json_object_get(after, "spec");
    CHECK(json_is_false(json_object_get(json_object_get(spec, "securityContext"), "runAsNonRoot")));
    json_t *a = json_array_get(json_object_get(spec, "containers"), 0);
    json_t *asc = json_object_get(a, "securityContext");
    CHECK(json_is_true(json_object_get(asc, "allowPrivilegeEscalation")));
    CHECK(json_is_false(json_object_get(asc, "readOnlyRootFilesystem")));
    CHECK_INT(json_array_size(json_object_get(json_object_get(asc, "capabilities"), "drop")), 1);
    CHECK_INT(json_array_size(json_object_get(a, "volumeMounts")), 1); /* no mounts: root stays writable */
    json_t *b = json_array_get(json_object_get(spec, "containers"), 1);
    json_t *bsc = json_object_get(b, "securityContext");
    CHECK(json_object_get(bsc, "allowPrivilegeEscalation") == NULL);
    CHECK(json_is_true(json_object_get(bsc, "readOnlyRootFilesystem")));
    CHECK_INT(json_array_size(json_object_get(b, "volumeMounts")), 2);
    json_t *init = json_array_get(json_object_get(spec, "initContainers"), 0);
    CHECK(json_is_false(json_object_get(json_object_get(init, "securityContext"), "allowPrivilegeEscalation")));
    CHECK_INT(json_array_size(json_object_get(init, "volumeMounts")), 2);
    json_t *dbg = json_array_get(json_object_get(spec, "ephemeralContainers"), 0);
    json_t *dsc = json_object_get(dbg, "securityContext");
    CHECK(json_is_false(json_object_get(dsc, "allowPrivilegeEscalation")));
    CHECK(json_object_get(dsc, "readOnlyRootFilesystem") == NULL);
    CHECK(json_object_get(dbg, "volumeMounts") == NULL);
    CHECK_INT(json_array_size(json_object_get(spec, "volumes")), 3); /* scratch + 2 writable */
    json_decref(after);
    result_free(&r);

    /* Windows pods get no Linux-only fields */
    r = decide(set, POD("{\"os\":{\"name\":\"windows\"},\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]}"), AG_MODE_MUTATE);
    CHECK_CONTAINS(r.patch, "runAsNonRoot");
    CHECK(!strstr(r.patch, "seccomp"));
    CHECK(!strstr(r.patch, "allowPrivilegeEscalation"));
    result_free(&r);

    /* Pod UPDATE: only ephemeral containers being added are hardened */
    const char *old = POD("{\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]}");
    const char *upd = POD("{\"containers\":[{\"name\":\"a\",\"image\":\"i\"}],\"ephemeralContainers\":[{\"name\":\"dbg\",\"image\":\"i\"}]}");
    r = decide_full(set, upd, "UPDATE", "team-a", "alice", old, AG_MODE_MUTATE);
    CHECK_STR(r.patch, "[{\"op\":\"add\",\"path\":\"/spec/ephemeralContainers/0/securityContext\",\"value\":{}},"
              "{\"op\":\"add\",\"path\":\"/spec/ephemeralContainers/0/securityContext/allowPrivilegeEscalation\",\"value\":false},"
              "{\"op\":\"add\",\"path\":\"/spec/ephemeralContainers/0/securityContext/capabilities\",\"value\":{}},"
              "{\"op\":\"add\",\"path\":\"/spec/ephemeralContainers/0/securityContext/capabilities/drop\",\"value\":[\"ALL\"]}]");
    result_free(&r);
    r = decide_full(set, old, "UPDATE", "team-a", "alice", old, AG_MODE_MUTATE);
    CHECK_STR(r.patch, "");
    result_free(&r);

    /* a Deployment UPDATE that leaves the template alone (a label, a scale, the garbage
     * collector removing a finalizer) is neither mutated (no surprise rollout) nor
     * judged; one that edits the template is both */
    const char *dep_old = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},"
                          "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]}}}}";
    const char *dep_scaled = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"labels\":{\"x\":\"y\"}},"
                             "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]}}}}";
    const char *dep_edited = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},"
                             "\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"a\",\"image\":\"j\"}]}}}}";
    r = decide_full(set, dep_scaled, "UPDATE", "team-a", "alice", dep_old, AG_MODE_MUTATE);
    CHECK_STR(r.patch, "");
    result_free(&r);
    r = decide_full(set, dep_edited, "UPDATE", "team-a", "alice", dep_old, AG_MODE_MUTATE);
    CHECK_CONTAINS(r.patch, "/spec/template/spec/securityContext");
    result_free(&r);
    ag_policy_set_unref(set);

    set = load(HEAD "spec:\n  match: {kinds: [apps/Deployment]}\n  validate:\n"
               "    rules: [{name: no-hostnet, path: podSpec.hostNetwork, absent: true}]\n");
    r = decide_full(set, dep_scaled, "UPDATE", "team-a", "system:serviceaccount:kube-system:generic-garbage-collector",
                    dep_old, AG_MODE_VALIDATE);
    CHECK(r.d.allowed);
    result_free(&r);
    r = decide_full(set, dep_edited, "UPDATE", "team-a", "alice", dep_old, AG_MODE_VALIDATE);
    CHECK(!r.d.allowed);
    result_free(&r);
    ag_policy_set_unref(set);
}

static void test_hardening_exceptions(void)
{
    char text[2048];
    snprintf(text, sizeof text, "%s  exceptions:\n"
             "    - {controls: [seccompProfile, readOnlyRootFilesystem], namespaces: [nim-dev], reason: 'GPU syscalls', expires: 2027-03-01}\n"
             "    - {controls: [capabilities], namespaces: [old], reason: 'legacy', expires: 2026-01-01}\n", hardening);
    ag_policy_set *set = load(text);
    const char *pod = POD("{\"containers\":[{\"name\":\"a\",\"image\":\"i\"}]}");
    result r = decide_full(set, pod, "CREATE", "nim-dev", "alice", NULL, AG_MODE_MUTATE);
    CHECK(!strstr(r.patch, "seccomp"));
    CHECK(!strstr(r.patch, "readOnlyRootFilesystem"));
    CHECK_CONTAINS(r.patch, "runAsNonRoot");
    CHECK_CONTAINS(json_string_value(json_object_get(r.d.audit, "p.exception.seccompProfile")), "GPU syscalls");
    result_free(&r);
    r = decide_full(set, pod, "CREATE", "old", "alice", NULL, AG_MODE_MUTATE); /* expired: applies */
    CHECK_CONTAINS(r.patch, "capabilities/drop\",\"value\":[\"ALL\"]");
    result_free(&r);
    ag_policy_set_unref(set);
}

static void test_gpu_placement(void)
{
    ag_policy_set *set = load(HEAD "spec:\n  match: {kinds: ['*']}\n  mutate:\n    gpu:\n"
        "      resources: [amd.com/gpu]\n      nodeSelector: {amd.com/gpu.family: AI}\n"
        "      nodeAffinity: [{key: amd.com/gpu.device-id, operator: Exists}]\n"
        "      tolerations: [{key: amd.com/gpu, operator: Exists, effect: NoSchedule}]\n"
        "      nonGpuPods:\n        nodeAffinity: [{key: amd.com/gpu.device-id, operator: DoesNotExist}]\n");
    /* an existing affinity with two terms: each term gains the requirement */
    result r = decide(set, POD("{\"nodeSelector\":{\"amd.com/gpu.family\":\"Instinct\"},"
        "\"tolerations\":[{\"key\":\"amd.com/gpu\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}],"
        "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
        "{\"matchExpressions\":[{\"key\":\"amd.com/gpu.device-id\",\"operator\":\"In\",\"values\":[\"74a1\"]}]},"
        "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]},"
        "\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":1,\"preference\":{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\"]}]}}]}},"
        "\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"amd.com/gpu\":\"2\"}}}]}"), AG_MODE_MUTATE);
    CHECK_STR(r.patch,
        "[{\"op\":\"add\",\"path\":\"/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/-\","
        "\"value\":{\"key\":\"amd.com/gpu.device-id\",\"operator\":\"Exists\"}},"
        "{\"op\":\"add\",\"path\":\"/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/1/matchExpressions\",\"value\":[]},"
        "{\"op\":\"add\",\"path\":\"/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/1/matchExpressions/-\","
        "\"value\":{\"key\":\"amd.com/gpu.device-id\",\"operator\":\"Exists\"}}]");
    CHECK_CONTAINS(r.after, "\"amd.com/gpu.family\":\"Instinct\""); /* explicit selector kept */
    CHECK_CONTAINS(r.after, "preferredDuringSchedulingIgnoredDuringExecution");
    result_free(&r);
    /* no affinity at all: one term; a "0" GPU request is no GPU */
    r = decide(set, POD("{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"requests\":{\"amd.com/gpu\":1}}}]}"), AG_MODE_MUTATE);
    CHECK_CONTAINS(r.patch, "\"path\":\"/spec/nodeSelector/amd.com~1gpu.family\",\"value\":\"AI\"");
    CHECK_CONTAINS(r.patch, "\"path\":\"/spec/tolerations/-\"");
    CHECK_CONTAINS(r.patch, "/nodeSelectorTerms\",\"value\":[]");
    result_free(&r);
    r = decide(set, POD("{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"amd.com/gpu\":\"0\"}}}]}"), AG_MODE_MUTATE);
    CHECK_CONTAINS(r.patch, "DoesNotExist");
    CHECK(!strstr(r.patch, "tolerations"));
    result_free(&r);
    ag_policy_set_unref(set);
}

static void test_actions_and_subresources(void)
{
    ag_policy_set *set = load(HEAD "spec:\n  action: warn\n  match: {kinds: [Pod], operations: ['*']}\n  validate:\n"
        "    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n");
    result r = decide(set, POD("{\"hostNetwork\":true}"), AG_MODE_VALIDATE);
    CHECK(r.d.allowed);
    CHECK_INT(json_array_size(r.d.warnings), 1);
    result_free(&r);
    /* status updates carry nothing a policy judges */
    json_t *obj = json_loads(POD("{\"hostNetwork\":true}"), 0, NULL);
    ag_request req;
    ag_error err = {0};
    ag_request_synthesize(&req, obj, obj, "UPDATE", "team-a", "kubelet", NULL, 0, &err);
    req.subresource = "status";
    ag_decision d;
    CHECK_INT(ag_decide(set, &req, NULL, AG_MODE_VALIDATE, NOW, &d, &err), 0);
    CHECK(d.allowed && d.warnings == NULL);
    ag_decision_clear(&d);
    ag_request_clear(&req);
    json_decref(obj);
    ag_policy_set_unref(set);
}

/* Messages quote the object's values cut to fixed buffers, which can split a
 * multi-byte character. jansson refuses invalid UTF-8, which dropped the denial's
 * status (a 403 with no reason) and the warnings; each invalid byte now becomes U+FFFD. */
static void check_response_text(const ag_decision *d, int want_allowed)
{
    ag_request req;
    memset(&req, 0, sizeof req);
    req.uid = "u1";
    json_t *resp = ag_review_response(&req, d);
    CHECK(resp != NULL);
    json_t *r = json_object_get(resp, "response");
    CHECK_INT(json_is_true(json_object_get(r, "allowed")), want_allowed);
    if (!want_allowed)
        CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(r, "status"), "message")),
                       "\xEF\xBF\xBD");
    else
        CHECK_CONTAINS(json_string_value(json_array_get(json_object_get(r, "warnings"), 0)),
                       "\xEF\xBF\xBD");
    char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    CHECK(text != NULL);
    free(text);
    json_decref(resp);
}

static void test_split_utf8_in_messages(void)
{
    /* a generic rule quotes the value cut to 117 bytes: the 59th "é" is split */
    char value[400] = "";
    for (int i = 0; i < 150; i++)
        strcat(value, "\xC3\xA9");
    char obj[1024];
    snprintf(obj, sizeof obj, POD("{\"hostname\":\"%s\"}"), value);
    const char *actions[] = {"enforce", "warn"};
    for (int a = 0; a < 2; a++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "spec:\n  action: %s\n  match: {kinds: [Pod]}\n  validate:\n"
                 "    rules: [{name: short-host, path: spec.hostname, equals: x,"
                 " message: 'hostname {value} is not x'}]\n", actions[a]);
        ag_policy_set *set = load(text);
        CHECK(set != NULL);
        result r = decide(set, obj, AG_MODE_VALIDATE);
        CHECK_INT(r.d.allowed, a);
        check_response_text(&r.d, a);
        result_free(&r);
        ag_policy_set_unref(set);
    }
    /* PSS cuts the field path of an AppArmor annotation to 320 bytes */
    char key[600] = "container.apparmor.security.beta.kubernetes.io/a";
    for (int i = 0; i < 200; i++)
        strcat(key, "\xC3\xA9");
    char pod[1024];
    snprintf(pod, sizeof pod, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\","
             "\"namespace\":\"team-a\",\"annotations\":{\"%s\":\"unconfined\"}},\"spec\":"
             "{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}}", key);
    ag_policy_set *set = load(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n"
                              "    podSecurity: {level: baseline}\n");
    CHECK(set != NULL);
    result r = decide(set, pod, AG_MODE_VALIDATE);
    CHECK_INT(r.d.allowed, 0);
    CHECK_CONTAINS(r.msg, "appArmorProfile");
    check_response_text(&r.d, 0);
    result_free(&r);
    ag_policy_set_unref(set);
}

int main(void)
{
    RUN(test_generic_rules);
    RUN(test_selectors);
    RUN(test_forged_aim_labels_do_not_buy_an_exemption);
    RUN(test_exceptions_and_expiry);
    RUN(test_hardening_on_every_carrier);
    RUN(test_hardening_details);
    RUN(test_hardening_exceptions);
    RUN(test_gpu_placement);
    RUN(test_actions_and_subresources);
    RUN(test_split_utf8_in_messages);
    return agt_finish();
}
