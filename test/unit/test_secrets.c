/* validate.secrets: every Secret reference site of a pod and of AIM resources, literal
 * credentials (never echoed), reserved names, per-namespace allow lists. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

#define POLICY "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: sec}\nspec:\n" \
    "  match: {kinds: ['*']}\n  validate:\n    secrets:\n      forbidLiteralEnv: true\n" \
    "      allowNames: ['^hf-credentials$', '^amd-registry$', '^team-']\n      reserved: ['^aimguard-webhook-tls$']\n" \
    "      namespaces:\n        - {namespaces: [lab], allowNames: ['^lab-']}\n"

static void test_every_pod_reference_site(void)
{
    ag_policy_set *set = agt_policy_text("s.yaml", POLICY);
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
    char *m = agt_validate(set, pod, "CREATE", "team-a", "alice", &allowed);
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
    m = agt_validate(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                   "[{\"name\":\"a\",\"image\":\"i\",\"envFrom\":[{\"secretRef\":{\"name\":\"lab-db\"}}]}]}}", "CREATE", "lab", "alice", &allowed);
    CHECK(allowed);
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                   "[{\"name\":\"a\",\"image\":\"i\",\"envFrom\":[{\"secretRef\":{\"name\":\"hf-credentials\"}}]}]}}", "CREATE", "lab", "alice", &allowed);
    CHECK(!allowed);
    free(m);
    ag_policy_set_unref(set);
}

static void test_aim_env_lists(void)
{
    ag_policy_set *set = agt_policy_text("s.yaml", POLICY);
    if (!set) return;
    int allowed;
    char *m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMArtifact\",\"metadata\":{\"name\":\"a\"},"
        "\"spec\":{\"sourceUri\":\"s3://m\",\"env\":[{\"name\":\"AWS_ACCESS_KEY_ID\",\"value\":\"minioadmin\"},"
        "{\"name\":\"AWS_SECRET_ACCESS_KEY\",\"value\":\"minioadmin\"},{\"name\":\"AWS_ENDPOINT_URL\",\"value\":\"http://minio:9000\"}]}}", "CREATE", "team-a", "alice", &allowed);
    CHECK(!allowed);
    CHECK_CONTAINS(m, "AIMArtifact env AWS_SECRET_ACCESS_KEY looks like a credential but its value is written inline: use valueFrom.secretKeyRef (the value is not shown here) (field spec.env[1].value)");
    CHECK(!strstr(m, "AWS_ENDPOINT_URL"));
    CHECK(!strstr(m, "minioadmin"));
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMModel\",\"metadata\":{\"name\":\"m\"},"
        "\"spec\":{\"image\":\"x\",\"imagePullSecrets\":[{\"name\":\"amd-registry\"}],\"modelSources\":[{\"modelId\":\"a/b\","
        "\"env\":[{\"name\":\"HF_TOKEN\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"not-allowed\",\"key\":\"t\"}}}]}]}}", "CREATE", "team-a", "alice", &allowed);
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
