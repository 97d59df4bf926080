/* Per-rule results (AG_MODE_RESULTS, ag_decide_existing) and the v1alpha2 envelope
 * (severity, category): what reports, `aimguard test` and `aimguard audit` read. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

#define NOW ((time_t)1800000000) /* 2027-01-15 */
#define V2 "apiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\n"

#define POLICY V2 "metadata:\n  name: limits\nspec:\n  severity: medium\n  category: Resources\n" \
    "  match:\n    kinds: [Pod]\n    namespaces: [\"team-*\"]\n" \
    "  validate:\n    podSecurity:\n      level: baseline\n      version: latest\n" \
    "    rules:\n" \
    "      - name: no-latest\n        path: podSpec.allContainers[*].image\n        notMatches: ':latest$'\n" \
    "        severity: high\n        category: Supply chain\n" \
    "      - name: team-label\n        path: metadata.labels.team\n        required: true\n        action: warn\n" \
    "      - name: no-host-port\n        path: podSpec.allContainers[*].ports[*].hostPort\n        absent: true\n" \
    "  exceptions:\n    - controls: [no-host-port]\n      namespaces: [team-a]\n      reason: \"OPS-1 legacy\"\n" \
    "      expires: 2027-06-01\n"

#define POD(ns, labels, ctr) "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\",\"namespace\":\"" ns \
    "\"" labels "},\"spec\":{\"containers\":[" ctr "]}}"
#define GOOD_CTR "{\"name\":\"c\",\"image\":\"r.io/app:1.0\"}"
#define BAD_CTR "{\"name\":\"c\",\"image\":\"r.io/app:latest\",\"privileged\":true,\"ports\":[{\"containerPort\":80,\"hostPort\":80}],\"securityContext\":{\"privileged\":true}}"

static json_t *existing(ag_policy_set *set, const char *obj_json)
{
    json_t *obj = json_loads(obj_json, 0, NULL);
    CHECK(obj != NULL);
    json_t *res = NULL;
    ag_error err = {0};
    CHECK_INT(ag_decide_existing(set, obj, NULL, NOW, &res, &err), 0);
    json_decref(obj);
    return res;
}

static json_t *find(json_t *results, const char *rule)
{
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
        if (!strcmp(json_string_value(json_object_get(r, "rule")), rule))
            return r;
    return NULL;
}

static const char *field(json_t *results, const char *rule, const char *key)
{
    const char *s = json_string_value(json_object_get(find(results, rule), key));
    return s ? s : "(none)";
}

/* a clean object: one pass per rule, block rules named by the block, in policy order */
static void test_all_pass(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", POLICY);
    CHECK(set != NULL);
    json_t *res = existing(set, POD("team-b", ",\"labels\":{\"team\":\"x\"}", GOOD_CTR));
    CHECK_INT(json_array_size(res), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 0), "rule")), "podSecurity");
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 3), "rule")), "no-host-port");
    for (size_t i = 0; i < json_array_size(res); i++) {
        CHECK_STR(json_string_value(json_object_get(json_array_get(res, i), "result")), "pass");
        CHECK_STR(json_string_value(json_object_get(json_array_get(res, i), "message")), "");
        CHECK_INT(json_array_size(json_object_get(json_array_get(res, i), "violations")), 0);
        CHECK_STR(json_string_value(json_object_get(json_array_get(res, i), "policy")), "limits");
        CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(res, i), "source")), "p.yaml:1:1");
    }
    CHECK_STR(field(res, "podSecurity", "severity"), "medium");
    CHECK_STR(field(res, "podSecurity", "category"), "Resources");
    CHECK_STR(field(res, "no-latest", "severity"), "high");
    CHECK_STR(field(res, "no-latest", "category"), "Supply chain");
    CHECK_STR(field(res, "team-label", "action"), "warn");
    CHECK_STR(field(res, "no-latest", "action"), "enforce");
    json_decref(res);
    ag_policy_set_unref(set);
}

/* fail (enforce), warn (warn-only), skip (waived by an exception), with the details */
static void test_fail_warn_skip(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", POLICY);
    json_t *res = existing(set, POD("team-a", "", BAD_CTR));
    CHECK_STR(field(res, "podSecurity", "result"), "fail");
    CHECK_CONTAINS(field(res, "podSecurity", "message"), "privileged");
    CHECK(json_array_size(json_object_get(find(res, "podSecurity"), "violations")) >= 2);
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(json_object_get(find(res, "podSecurity"),
                   "violations"), 0), "rule")), "podSecurity/baseline/");
    CHECK_STR(field(res, "no-latest", "result"), "fail");
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(find(res, "no-latest"),
              "violations"), 0), "path")), "spec.containers[0].image");
    CHECK_STR(field(res, "team-label", "result"), "warn");
    CHECK_STR(field(res, "no-host-port", "result"), "skip");
    CHECK_CONTAINS(field(res, "no-host-port", "message"), "waived by exception at p.yaml:");
    CHECK_CONTAINS(field(res, "no-host-port", "message"), "OPS-1 legacy");
    json_decref(res);
    /* in another namespace the exception does not apply: fail */
    res = existing(set, POD("team-b", "", BAD_CTR));
    CHECK_STR(field(res, "no-host-port", "result"), "fail");
    json_decref(res);
    /* after the exception expired it fails there too */
    json_t *obj = json_loads(POD("team-a", "", BAD_CTR), 0, NULL);
    ag_error err = {0};
    CHECK_INT(ag_decide_existing(set, obj, NULL, NOW + 365 * 86400, &res, &err), 0);
    CHECK_STR(field(res, "no-host-port", "result"), "fail");
    json_decref(res);
    json_decref(obj);
    ag_policy_set_unref(set);
}

/* a policy that does not select the object gives no result (a test reads that as skip) */
static void test_unmatched_gives_nothing(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", POLICY);
    json_t *res = existing(set, POD("kube-system", "", BAD_CTR));
    CHECK_INT(json_array_size(res), 0);
    json_decref(res);
    res = existing(set, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\","
                   "\"namespace\":\"team-a\"},\"spec\":{}}");
    CHECK_INT(json_array_size(res), 0);
    json_decref(res);
    ag_policy_set_unref(set);
}

static void test_existing_rejects_non_objects(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", POLICY);
    const char *bad[] = {"[]", "{\"kind\":\"Pod\"}", "{\"apiVersion\":\"v1\"}", "{\"apiVersion\":\"\",\"kind\":\"Pod\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *obj = json_loads(bad[i], JSON_DECODE_ANY, NULL), *res = (json_t *)1;
        ag_error err = {0};
        CHECK_INT(ag_decide_existing(set, obj, NULL, NOW, &res, &err), AG_EINVAL);
        CHECK(res == NULL);
        CHECK(err.msg[0] != 0);
        json_decref(obj);
    }
    ag_policy_set_unref(set);
}

/* without AG_MODE_RESULTS there are none; the denial carries the tags */
static void test_denial_tags(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", POLICY);
    int allowed = 1;
    char *msg = agt_validate(set, POD("team-b", ",\"labels\":{\"team\":\"x\"}",
                             "{\"name\":\"c\",\"image\":\"r.io/app:latest\"}"), "CREATE", "team-b", "alice", &allowed);
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(msg, "[policy limits, rule no-latest, severity high, category Supply chain]");
    free(msg);
    msg = agt_validate(set, POD("team-b", ",\"labels\":{\"team\":\"x\"}",
                       "{\"name\":\"c\",\"image\":\"r.io/app:1\",\"securityContext\":{\"privileged\":true}}"),
                       "CREATE", "team-b", "alice", &allowed);
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(msg, "severity medium, category Resources]");
    free(msg);
    ag_policy_set_unref(set);
}

static char *load_error(const char *text)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    int rc = ag_policy_load_buffer(text, strlen(text), "e.yaml", &o, &set, &d, &err);
    CHECK(rc != 0);
    ag_policy_set_unref(set);
    char *all = calloc(1, 4096);
    for (size_t i = 0; i < d.count; i++) {
        strncat(all, d.items[i], 4000 - strlen(all));
        strncat(all, "\n", 4000 - strlen(all));
    }
    ag_diags_clear(&d);
    return all;
}

/* the new fields need v1alpha2; bad values say what is allowed, at file:line:column */
static void test_envelope_errors(void)
{
    const char *body = "metadata:\n  name: p\nspec:\n  severity: high\n  match:\n    kinds: [Pod]\n"
                       "  validate:\n    podSecurity:\n      level: baseline\n";
    char text[1024];
    snprintf(text, sizeof text, "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\n%s", body);
    char *e = load_error(text);
    CHECK_CONTAINS(e, "e.yaml:6:13: spec.severity needs apiVersion: policy.aimguard.io/v1alpha2");
    free(e);
    snprintf(text, sizeof text, "apiVersion: policy.aimguard.io/v1alpha3\nkind: AdmissionPolicy\n%s", body);
    e = load_error(text);
    CHECK_CONTAINS(e, "e.yaml:1:13: apiVersion must be policy.aimguard.io/v1alpha2");
    free(e);
    e = load_error(V2 "metadata:\n  name: p\nspec:\n  severity: hihg\n  match:\n    kinds: [Pod]\n"
                   "  validate:\n    podSecurity:\n      level: baseline\n");
    CHECK_CONTAINS(e, "e.yaml:6:13: spec.severity must be low, medium, high or critical (did you mean 'high'?)");
    free(e);
    e = load_error(V2 "metadata:\n  name: p\nspec:\n  category: [a]\n  match:\n    kinds: [Pod]\n"
                   "  validate:\n    podSecurity:\n      level: baseline\n");
    CHECK_CONTAINS(e, "e.yaml:6:13: spec.category");
    free(e);
    e = load_error(V2 "metadata:\n  name: p\nspec:\n  category: ''\n  match:\n    kinds: [Pod]\n"
                   "  validate:\n    podSecurity:\n      level: baseline\n");
    CHECK_CONTAINS(e, "spec.category must be 1 to 63 printable characters");
    free(e);
    e = load_error(V2 "metadata:\n  name: p\nspec:\n  match:\n    kinds: [Pod]\n  validate:\n    rules:\n"
                   "      - name: r\n        path: metadata.name\n        required: true\n        severity: ~\n");
    CHECK_CONTAINS(e, "e.yaml:13:19: rule severity");
    free(e);
}

int main(void)
{
    RUN(test_all_pass);
    RUN(test_fail_warn_skip);
    RUN(test_unmatched_gives_nothing);
    RUN(test_existing_rejects_non_objects);
    RUN(test_denial_tags);
    RUN(test_envelope_errors);
    return agt_finish();
}
