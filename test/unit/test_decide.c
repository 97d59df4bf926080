/* ag_decide() at the C level: buffer limits (a long exception reason, a multi-byte character
 * cut by a fixed buffer). The decision behaviour itself is tested as data: test/cases/decide/
 * (run by test_cases.c). */
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
    const char *msg;
} result;

static result decide(ag_policy_set *set, const char *object_json, ag_mode mode)
{
    result r;
    memset(&r, 0, sizeof r);
    json_error_t je;
    json_t *obj = json_loads(object_json, 0, &je);
    if (!obj) fprintf(stderr, "bad test JSON: %s\n", je.text);
    ag_request req;
    ag_error err = {0};
    const char *groups[] = {"system:authenticated", "team-a-devs"};
    CHECK_INT(ag_request_synthesize(&req, obj, NULL, "CREATE", "team-a", "alice", groups, 2, &err), 0);
    CHECK_INT(ag_decide(set, &req, NULL, mode, NOW, &r.d, &err), 0);
    r.msg = r.d.message ? r.d.message : "";
    ag_request_clear(&req);
    json_decref(obj);
    return r;
}

static void result_free(result *r)
{
    ag_decision_clear(&r->d);
}

#define POD(spec) "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\",\"namespace\":\"team-a\",\"labels\":{\"app\":\"x\"}},\"spec\":" spec "}"

/* A reason longer than any line buffer is reported whole (it once over-read one). */
static void test_long_exception_reason_expiring(void)
{
    char reason[1501];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    char *text = NULL;
    CHECK(asprintf(&text, HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n"
                   "    rules: [{name: no-hostnet, path: spec.hostNetwork, absent: true}]\n"
                   "  exceptions:\n"
                   "    - {controls: [no-hostnet], users: [ops-bot], reason: '%s', expires: 2027-02-01}\n",
                   reason) > 0);
    ag_policy_set *set = load(text);
    free(text);
    char *soon = ag_policy_expiring(set, NOW, 30 * 24 * 3600);
    CHECK_CONTAINS(soon, reason);
    CHECK(soon && soon[strlen(soon) - 1] == '\n');
    free(soon);
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
    RUN(test_long_exception_reason_expiring);
    RUN(test_split_utf8_in_messages);
    return agt_finish();
}
