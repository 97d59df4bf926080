/* Pod Security Standards checks: paths, messages, container lists and exemptions.
 * (The 148 upstream fixtures run through `aimguard eval` in test/conformance.) */
#include "agtest.h"
#include "aimguard/pss.h"
#include "aimguard/yaml.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

static ag_pss_result run(ag_pss_level level, const char *meta, const char *spec, const char *sp)
{
    ag_pss_result r = {0};
    ag_error err = {0};
    json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
    json_t *s = json_loads(spec, 0, NULL);
    CHECK(s != NULL);
    CHECK_INT(ag_pss_check(level, m, s, sp, &r, &err), 0);
    json_decref(m);
    json_decref(s);
    return r;
}

static const ag_pss_violation *find(const ag_pss_result *r, const char *check)
{
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(r->items[i].check, check))
            return &r->items[i];
    return NULL;
}

#define HARD "\"securityContext\":{\"allowPrivilegeEscalation\":false,\"capabilities\":{\"drop\":[\"ALL\"]}}"

static void test_paths_follow_the_carrier(void)
{
    ag_pss_result r = run(AG_PSS_RESTRICTED, NULL,
        "{\"securityContext\":{\"runAsNonRoot\":true,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}},"
        "\"containers\":[{\"name\":\"ok\"," HARD "},{\"name\":\"app\",\"securityContext\":{\"capabilities\":{\"drop\":[\"ALL\"]}}}]}",
        "spec.template.spec");
    CHECK_INT(r.count, 1);
    const ag_pss_violation *v = find(&r, "allowPrivilegeEscalation");
    CHECK(v != NULL);
    if (v) {
        CHECK_STR(v->path, "spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation");
        CHECK_STR(v->message, "allowPrivilegeEscalation != false (container \"app\" must set "
                              "securityContext.allowPrivilegeEscalation=false)");
    }
    ag_pss_result_clear(&r);
}

static void test_every_container_list_and_one_message_per_check(void)
{
    ag_pss_result r = run(AG_PSS_BASELINE, NULL,
        "{\"initContainers\":[{\"name\":\"i\",\"securityContext\":{\"privileged\":true}}],"
        "\"containers\":[{\"name\":\"c\",\"securityContext\":{\"privileged\":true}}],"
        "\"ephemeralContainers\":[{\"name\":\"dbg\",\"securityContext\":{\"privileged\":true}}]}", "spec");
    CHECK_INT(r.count, 1);
    CHECK_STR(r.items[0].message, "privileged (containers \"c\", \"i\", \"dbg\" must not set securityContext.privileged=true)");
    CHECK_STR(r.items[0].path, "spec.containers[0].securityContext.privileged");
    ag_pss_result_clear(&r);
}

static void test_baseline_messages(void)
{
    ag_pss_result r = run(AG_PSS_BASELINE,
        "{\"annotations\":{\"container.apparmor.security.beta.kubernetes.io/c\":\"unconfined\"}}",
        "{\"hostNetwork\":true,\"hostPID\":true,\"securityContext\":{\"sysctls\":[{\"name\":\"kernel.msgmax\",\"value\":\"1\"}]},"
        "\"volumes\":[{\"name\":\"logs\",\"hostPath\":{\"path\":\"/var/log\"}}],"
        "\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"hostPort\":8080}],"
        "\"securityContext\":{\"capabilities\":{\"add\":[\"NET_ADMIN\",\"CHOWN\"]}},"
        "\"livenessProbe\":{\"httpGet\":{\"host\":\"10.0.0.1\",\"port\":80}}}]}", "spec");
    const ag_pss_violation *v;
    CHECK((v = find(&r, "hostNamespaces")) && !strcmp(v->message, "host namespaces (hostNetwork=true, hostPID=true)"));
    CHECK((v = find(&r, "hostPathVolumes")) && !strcmp(v->message, "hostPath volumes (volume \"logs\")"));
    CHECK((v = find(&r, "hostPorts")) && !strcmp(v->message, "hostPort (container \"c\" uses hostPort 8080)"));
    CHECK((v = find(&r, "capabilities_baseline")) && strstr(v->message, "must not include \"NET_ADMIN\""));
    CHECK((v = find(&r, "sysctls")) && !strcmp(v->path, "spec.securityContext.sysctls[0].name"));
    CHECK((v = find(&r, "appArmorProfile")) && strstr(v->message, "unconfined"));
    CHECK((v = find(&r, "hostProbesAndHostLifecycle")) && strstr(v->message, "livenessProbe.httpGet.host \"10.0.0.1\""));
    CHECK_INT(r.count, 7);
    ag_pss_result_clear(&r);
}

static void test_windows_and_user_namespaces(void)
{
    /* a Windows pod needs only runAsNonRoot at restricted */
    ag_pss_result r = run(AG_PSS_RESTRICTED, NULL,
        "{\"os\":{\"name\":\"windows\"},\"securityContext\":{\"runAsNonRoot\":true},\"containers\":[{\"name\":\"w\"}]}", "spec");
    CHECK_INT(r.count, 0);
    ag_pss_result_clear(&r);
    /* Unmasked procMount: fine at baseline with hostUsers: false, never at restricted */
    const char *spec = "{\"hostUsers\":false,\"securityContext\":{\"runAsNonRoot\":true,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}},"
                       "\"containers\":[{\"name\":\"c\",\"securityContext\":{\"procMount\":\"Unmasked\",\"allowPrivilegeEscalation\":false,"
                       "\"capabilities\":{\"drop\":[\"ALL\"]}}}]}";
    r = run(AG_PSS_BASELINE, NULL, spec, "spec");
    CHECK_INT(r.count, 0);
    ag_pss_result_clear(&r);
    r = run(AG_PSS_RESTRICTED, NULL, spec, "spec");
    CHECK_INT(r.count, 1);
    CHECK(find(&r, "procMount_restricted") != NULL);
    ag_pss_result_clear(&r);
}

static void test_levels(void)
{
    CHECK_INT(ag_pss_level_parse("restricted"), AG_PSS_RESTRICTED);
    CHECK_INT(ag_pss_level_parse("Restricted"), -1);
    ag_pss_result r = run(AG_PSS_PRIVILEGED, NULL, "{\"hostNetwork\":true}", "spec");
    CHECK_INT(r.count, 0);
    ag_pss_result_clear(&r);
}

/* Every check the upstream failing fixtures trigger is a control name exceptions accept
 * (ag_pss_check_ids), and every listed ID is one of them: the list cannot drift. */
static void test_check_ids_are_the_checks_reported(void)
{
    const char *const *ids = ag_pss_check_ids();
    size_t nids = 0;
    while (ids[nids]) nids++;
    int seen[64] = {0};
    CHECK(nids < 64);
    const char *levels[] = {"baseline", "restricted"};
    size_t files = 0;
    for (int l = 0; l < 2; l++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/psa/%s/fail", agt_path("AG_SHARED", "conformance"), levels[l]);
        DIR *dh = opendir(dir);
        CHECK(dh != NULL);
        struct dirent *de;
        while (dh && (de = readdir(dh))) {
            if (!strstr(de->d_name, ".yaml"))
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            ag_ydocs *docs = NULL;
            ag_error err = {0};
            json_t *pod = NULL;
            if (ag_yaml_parse_file(path, &docs, &err) || docs->count < 1 ||
                ag_ynode_to_json(docs->docs[0], path, &pod, &err)) {
                CHECK(!"fixture parses");
                ag_ydocs_free(docs);
                continue;
            }
            files++;
            ag_pss_result r = {0};
            CHECK_INT(ag_pss_check(l ? AG_PSS_RESTRICTED : AG_PSS_BASELINE, json_object_get(pod, "metadata"),
                                   json_object_get(pod, "spec"), "spec", &r, &err), 0);
            for (size_t i = 0; i < r.count; i++) {
                size_t k = 0;
                while (k < nids && strcmp(ids[k], r.items[i].check)) k++;
                if (k == nids)
                    fprintf(stderr, "check %s (from %s) is not in ag_pss_check_ids\n", r.items[i].check, path);
                CHECK(k < nids);
                if (k < nids)
                    seen[k] = 1;
            }
            ag_pss_result_clear(&r);
            json_decref(pod);
            ag_ydocs_free(docs);
        }
        if (dh)
            closedir(dh);
    }
    CHECK(files > 50);
    for (size_t k = 0; k < nids; k++) {
        /* windowsHostProcess needs a Windows pod no upstream fixture under fail/ is */
        if (!seen[k] && strcmp(ids[k], "windowsHostProcess"))
            fprintf(stderr, "ag_pss_check_ids lists %s, which no fixture triggers\n", ids[k]);
        CHECK(seen[k] || !strcmp(ids[k], "windowsHostProcess"));
    }
}

int main(void)
{
    RUN(test_check_ids_are_the_checks_reported);
    RUN(test_paths_follow_the_carrier);
    RUN(test_every_container_list_and_one_message_per_check);
    RUN(test_baseline_messages);
    RUN(test_windows_and_user_namespaces);
    RUN(test_levels);
    return agt_finish();
}
