/* validate.secrets: every Secret reference site of a pod and of AIM resources, literal
 * credentials (never echoed), reserved names, per-namespace allow lists. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

static ag_policy_set *load_text(const char *text)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    if (ag_policy_load_buffer(text, strlen(text), "s.yaml", &o, &set, &d, &err))
        for (size_t i = 0; i < d.count; i++) fprintf(stderr, "%s\n", d.items[i]);
    ag_diags_clear(&d);
    return set;
}

static char *decide_msg(ag_policy_set *set, const char *obj_json, const char *ns, int *allowed)
{
    json_t *obj = json_loads(obj_json, 0, NULL);
    CHECK(obj != NULL);
    ag_request req;
    ag_error err = {0};
    CHECK_INT(ag_request_synthesize(&req, obj, NULL, "CREATE", ns, "alice", NULL, 0, &err), 0);
    ag_decision d;
    CHECK_INT(ag_decide(set, &req, NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err), 0);
    *allowed = d.allowed;
    char *m = strdup(d.message ? d.message : "");
    ag_decision_clear(&d);
    ag_request_clear(&req);
    json_decref(obj);
    return m;
}

#define POLICY "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: sec}\nspec:\n" \
    "  match: {kinds: ['*']}\n  validate:\n    secrets:\n      forbidLiteralEnv: true\n" \
    "      allowNames: ['^hf-credentials$', '^amd-registry$', '^team-']\n      reserved: ['^aimguard-webhook-tls$']\n" \
    "      namespaces:\n        - {namespaces: [lab], allowNames: ['^lab-']}\n"

static void test_every_pod_reference_site(void)
{
    ag_policy_set *set = load_text(POLICY);
    CHECK(set != NULL);
    if (!set) return;
    const char *pod =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{"
        "\"imagePullSecrets\":[{\"name\":\"amd-registry\"},{\"name\":\"stolen-pull\"}],"
        "\"volumes\":[{\"name\":\"tls\",\"secret\":{\"secretName\":\"aimguard-webhook-tls\"}},"
        "{\"name\":\"proj\",\"projected\":{\"sources\":[{\"secret\":{\"name\":\"other-proj\"}}]}}],"
        "\"initContainers\":[{\"name\":\"init\",\"image\":\"i\",\"envFrom\":[{\"secretRef\":{\"name\":\"bulk\"}}]}],"
        "\"containers\":[{\"name\":\"app\",\"image\":\"i\",\"env\":["
        "{\"name\":\"HF_TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"hf-credentials\",\"key\":\"t\"}}},"
        "{\"name\":\"DB_PASSWORD\",\"value\":\"s3cr3t-VALUE\"},"
        "{\"name\":\"API_KEY\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"someone-elses\",\"key\":\"k\"}}},"
        "{\"name\":\"HF_HOME\",\"value\":\"/cache\"}]}],"
        "\"ephemeralContainers\":[{\"name\":\"dbg\",\"image\":\"i\",\"env\":[{\"name\":\"GITHUB_TOKEN\",\"value\":\"ghp_VALUE\"}]}]}}";
    int allowed;
    char *m = decide_msg(set, pod, "team-a", &allowed);
    CHECK(!allowed);
    CHECK_CONTAINS(m, "the pod imagePullSecrets references the Secret \"stolen-pull\", which is not on the allowed list (field spec.imagePullSecrets[1].name)");
    CHECK_CONTAINS(m, "volume \"tls\" references the reserved Secret \"aimguard-webhook-tls\" (field spec.volumes[0].secret.secretName)");
    CHECK_CONTAINS(m, "\"other-proj\"");
    CHECK_CONTAINS(m, "(field spec.volumes[1].projected.sources[0].secret.name)");
    CHECK_CONTAINS(m, "container \"init\" envFrom references the Secret \"bulk\"");
    CHECK_CONTAINS(m, "container \"app\" env DB_PASSWORD looks like a credential but its value is written inline");
    CHECK_CONTAINS(m, "(field spec.containers[0].env[1].value)");
    CHECK_CONTAINS(m, "container \"app\" env API_KEY references the Secret \"someone-elses\"");
    CHECK_CONTAINS(m, "container \"dbg\" env GITHUB_TOKEN");
    CHECK(!strstr(m, "hf-credentials\", which"));
    CHECK(!strstr(m, "HF_HOME"));
    CHECK(!strstr(m, "s3cr3t-VALUE") && !strstr(m, "ghp_VALUE")); /* values never echoed */
    free(m);
    /* the per-namespace list replaces the global one */
    m = decide_msg(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                   "[{\"name\":\"a\",\"image\":\"i\",\"envFrom\":[{\"secretRef\":{\"name\":\"lab-db\"}}]}]}}", "lab", &allowed);
    CHECK(allowed);
    free(m);
    m = decide_msg(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                   "[{\"name\":\"a\",\"image\":\"i\",\"envFrom\":[{\"secretRef\":{\"name\":\"hf-credentials\"}}]}]}}", "lab", &allowed);
    CHECK(!allowed);
    free(m);
    ag_policy_set_unref(set);
}

static void test_aim_env_lists(void)
{
    ag_policy_set *set = load_text(POLICY);
    if (!set) return;
    int allowed;
    char *m = decide_msg(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMArtifact\",\"metadata\":{\"name\":\"a\"},"
        "\"spec\":{\"sourceUri\":\"s3://m\",\"env\":[{\"name\":\"AWS_ACCESS_KEY_ID\",\"value\":\"minioadmin\"},"
        "{\"name\":\"AWS_SECRET_ACCESS_KEY\",\"value\":\"minioadmin\"},{\"name\":\"AWS_ENDPOINT_URL\",\"value\":\"http://minio:9000\"}]}}",
        "team-a", &allowed);
    CHECK(!allowed);
    CHECK_CONTAINS(m, "AIMArtifact env AWS_SECRET_ACCESS_KEY looks like a credential but its value is written inline: use valueFrom.secretKeyRef (the value is not shown here) (field spec.env[1].value)");
    CHECK(!strstr(m, "AWS_ENDPOINT_URL"));
    CHECK(!strstr(m, "minioadmin"));
    free(m);
    m = decide_msg(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMModel\",\"metadata\":{\"name\":\"m\"},"
        "\"spec\":{\"image\":\"x\",\"imagePullSecrets\":[{\"name\":\"amd-registry\"}],\"modelSources\":[{\"modelId\":\"a/b\","
        "\"env\":[{\"name\":\"HF_TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"not-allowed\",\"key\":\"t\"}}}]}]}}",
        "team-a", &allowed);
    CHECK(!allowed);
    CHECK_CONTAINS(m, "(field spec.modelSources[0].env[0].valueFrom.secretKeyRef.name)");
    free(m);
    ag_policy_set_unref(set);
}

int main(void)
{
    RUN(test_every_pod_reference_site);
    RUN(test_aim_env_lists);
    return agt_finish();
}
