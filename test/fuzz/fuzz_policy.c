/* libFuzzer target: policy YAML text -> loader and compiler. Every input either
 * compiles or reports at least one file:line:column diagnostic; nothing crashes. A policy
 * set that compiles is also explained and run on a fixed Pod and Deployment (CREATE, and
 * UPDATE with an old object), so the rule vocabulary's evaluation is fuzzed with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/admission.h"
#include "aimguard/policy.h"

static const char *const objects[] = {
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\",\"labels\":"
    "{\"team\":\"x\"},\"annotations\":{\"container.seccomp.security.alpha.kubernetes.io/c\":\"unconfined\"}},"
    "\"spec\":{\"securityContext\":{\"runAsNonRoot\":true,\"supplementalGroups\":[1,2000],\"seccompProfile\":"
    "{\"type\":\"Localhost\",\"localhostProfile\":\"profiles/x\"}},\"volumes\":[{\"name\":\"h\",\"hostPath\":"
    "{\"path\":\"/\"}},{\"name\":\"e\",\"emptyDir\":{}}],\"containers\":[{\"name\":\"c\",\"image\":\"i:1\","
    "\"ports\":[{\"hostPort\":22},{\"hostPort\":0}],\"volumeMounts\":[{\"name\":\"h\",\"mountPath\":\"/h\"},"
    "{\"name\":\"h\",\"readOnly\":true}],\"securityContext\":{\"runAsNonRoot\":false,\"capabilities\":"
    "{\"drop\":[\"ALL\"]}},\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"1Gi\"},\"limits\":"
    "{\"cpu\":\"500m\",\"memory\":\"9e9\",\"amd.com/gpu\":16}}}],\"initContainers\":[{\"name\":\"i\","
    "\"image\":null,\"resources\":{\"limits\":{\"cpu\":[1]}}}]}}",
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"namespace\":\"a\"},"
    "\"spec\":{\"replicas\":3,\"template\":{\"metadata\":{\"annotations\":{\"k\":\"v\"}},\"spec\":"
    "{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"readinessProbe\":true}]}}}}",
};

static void decide(const ag_policy_set *set)
{
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        json_t *obj = json_loads(objects[i], 0, NULL), *old = json_loads(objects[i], 0, NULL);
        if (!obj || !old)
            abort();
        json_object_set_new(json_object_get(old, "metadata"), "labels", json_object());
        for (int op = 0; op < 2; op++) {
            ag_request req;
            ag_error err = {0};
            if (ag_request_synthesize(&req, obj, op ? old : NULL, op ? "UPDATE" : "CREATE", "a", "u", NULL, 0, &err))
                abort();
            ag_decision d;
            ag_decide(set, &req, NULL, AG_MODE_BOTH, 1800000000, &d, &err);
            ag_decision_clear(&d);
            ag_request_clear(&req);
        }
        json_decref(obj);
        json_decref(old);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    int rc = ag_policy_load_buffer((const char *)data, size, "fuzz.yaml", &o, &set, &d, &err);
    if (rc && d.count == 0)
        abort(); /* a refusal must say why */
    for (size_t i = 0; i < d.count; i++)
        if (strncmp(d.items[i], "fuzz.yaml", 9) != 0)
            abort(); /* every diagnostic names the file */
    if (!rc) {
        char *text = ag_policy_explain(set);
        free(text);
        decide(set);
    }
    ag_diags_clear(&d);
    ag_policy_set_unref(set);
    return 0;
}
