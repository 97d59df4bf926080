/* validate.rbac and validate.aim through the example policy aim-access.yaml. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

static ag_policy_set *set;

#define BINDING(kind, role, subjects) "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"" kind "\"," \
    "\"metadata\":{\"name\":\"b\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"" role "\"}," \
    "\"subjects\":" subjects "}"

static void test_bindings(void)
{
    int ok;
    char *m = agt_validate(set, BINDING("ClusterRoleBinding", "cluster-admin", "[{\"kind\":\"Group\",\"name\":\"system:authenticated\"}]"),
                     "CREATE", "", "mallory", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "grants the protected role \"cluster-admin\" to the broad group \"system:authenticated\"");
    free(m);
    m = agt_validate(set, BINDING("RoleBinding", "aim-engine-aimservice-admin-role", "[{\"kind\":\"ServiceAccount\",\"name\":\"ci\",\"namespace\":\"other\"}]"),
               "CREATE", "team-a", "admin", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "service account of another namespace (other/ci)");
    free(m);
    m = agt_validate(set, BINDING("RoleBinding", "view", "[{\"kind\":\"Group\",\"name\":\"system:authenticated\"}]"),
               "CREATE", "team-a", "admin", &ok);
    CHECK(ok); /* not a protected role */
    free(m);
    /* the status updater: only the reconciler, only to default of the namespace */
    const char *su = BINDING("RoleBinding", "aim-engine-artifact-status-updater",
                             "[{\"kind\":\"ServiceAccount\",\"name\":\"default\",\"namespace\":\"team-a\"}]");
    m = agt_validate(set, su, "CREATE", "team-a", "system:serviceaccount:aim-system:aim-engine-controller-manager", &ok);
    CHECK(ok);
    free(m);
    m = agt_validate(set, su, "CREATE", "team-a", "alice", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "only the reconciler may bind \"aim-engine-artifact-status-updater\" (requested by alice)");
    free(m);
    m = agt_validate(set, BINDING("RoleBinding", "aim-engine-artifact-status-updater", "[{\"kind\":\"ServiceAccount\",\"name\":\"runner\",\"namespace\":\"team-a\"}]"),
               "CREATE", "team-a", "system:serviceaccount:aim-system:aim-engine-controller-manager", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "may only be bound to a ServiceAccount of the binding's namespace (team-a) named "
                      "default, aim-artifact-downloader, not to ServiceAccount team-a/runner");
    free(m);
    /* aimguard's reconciler binds its dedicated download identity, never another namespace's */
    m = agt_validate(set, BINDING("RoleBinding", "aim-engine-artifact-status-updater",
                       "[{\"kind\":\"ServiceAccount\",\"name\":\"aim-artifact-downloader\",\"namespace\":\"team-a\"}]"),
               "CREATE", "team-a", "system:serviceaccount:aimguard-system:aimguard", &ok);
    CHECK(ok);
    free(m);
    m = agt_validate(set, BINDING("RoleBinding", "aim-engine-artifact-status-updater",
                       "[{\"kind\":\"ServiceAccount\",\"name\":\"aim-artifact-downloader\",\"namespace\":\"team-b\"}]"),
               "CREATE", "team-a", "system:serviceaccount:aimguard-system:aimguard", &ok);
    CHECK(!ok);
    free(m);
}

static void test_service_accounts(void)
{
    int ok;
    char *m = agt_validate(set, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"template\":"
                     "{\"spec\":{\"serviceAccountName\":\"aim-engine-controller-manager\",\"containers\":[]}}}}",
                     "CREATE", "aim-system", "alice", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "may not run as the reserved service account aim-system/aim-engine-controller-manager");
    CHECK_CONTAINS(m, "(field spec.template.spec.serviceAccountName)");
    free(m);
    /* an AIMClusterModel's SA is used in the operator namespace */
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMClusterModel\",\"metadata\":{\"name\":\"m\"},"
               "\"spec\":{\"image\":\"x:1\",\"serviceAccountName\":\"aim-engine-controller-manager\"}}", "CREATE", "", "alice", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "aim-system/aim-engine-controller-manager");
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":{\"name\":\"s\"},"
               "\"spec\":{\"model\":{\"name\":\"m\"},\"serviceAccountName\":\"llama-runner\"}}", "CREATE", "team-a", "alice", &ok);
    CHECK(ok);
    free(m);
}

static void test_aim_fields(void)
{
    int ok;
    char *m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":{\"name\":\"s\",\"namespace\":\"team-a\"},"
                     "\"spec\":{\"model\":{\"name\":\"m\"},\"resources\":{\"limits\":{\"amd.com/gpu\":\"1\",\"example.com/fpga\":\"1\"}},"
                     "\"routing\":{\"enabled\":true,\"gatewayRef\":{\"name\":\"internal\",\"namespace\":\"team-b\"},"
                     "\"pathTemplate\":\"/{.metadata.name}\"}}}", "CREATE", "team-a", "alice", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "asks for the resource \"example.com/fpga\"");
    CHECK_CONTAINS(m, "routes through the Gateway team-b/internal");
    CHECK_CONTAINS(m, "pathTemplate renders \"/s\": a route must stay under /team-a/");
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":{\"name\":\"s\",\"namespace\":\"team-a\"},"
               "\"spec\":{\"model\":{\"name\":\"m\"},\"routing\":{\"enabled\":true,\"gatewayRef\":{\"name\":\"public\",\"namespace\":\"gateway-system\"},"
               "\"pathTemplate\":\"/{.metadata.namespace}/{.metadata.name}\"}}}", "CREATE", "team-a", "alice", &ok);
    CHECK(ok);
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":{\"name\":\"s\"},"
               "\"spec\":{\"model\":{\"name\":\"m\"},\"routing\":{\"pathTemplate\":\"/\"}}}",
               "CREATE", "a-namespace-name-that-is-longer-than-forty-two", "alice", &ok);
    CHECK(!ok);
    CHECK_CONTAINS(m, "has 46 characters; AIMServices need at most 42");
    CHECK_CONTAINS(m, "pathTemplate renders \"/\"");
    free(m);
}

int main(void)
{
    set = agt_policy_path(agt_path("AG_SRC", "policies/examples/aim-access.yaml"));
    CHECK(set != NULL);
    if (set) {
        RUN(test_bindings);
        RUN(test_service_accounts);
        RUN(test_aim_fields);
    }
    ag_policy_set_unref(set);
    return agt_finish();
}
