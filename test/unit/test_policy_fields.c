/* The v1alpha2 fields of issue 14 recipes 5, 12 and 21-25: spec.mutate.rules,
 * validate.podSecurity.exempt, validate.images.allowFrom and exceptions[].images. For
 * each: a missing required field, a wrong type and a null are errors at their
 * file:line:column, unknown keys are errors, a v1alpha1 document using it is refused; and
 * the image patterns they share (ag_imageref_match). */
#include "agtest.h"
#include "aimguard/imageref.h"
#include "aimguard/policy.h"
#include "aimguard/pss.h"

#include <stdlib.h>

static char *diags_of(const char *text, int *rc)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    *rc = ag_policy_load_buffer(text, strlen(text), "p.yaml", &o, &set, &d, &err);
    size_t cap = 1;
    for (size_t i = 0; i < d.count; i++)
        cap += strlen(d.items[i]) + 1;
    char *all = calloc(1, cap);
    for (size_t i = 0; i < d.count; i++) {
        strcat(all, d.items[i]);
        strcat(all, "\n");
    }
    ag_diags_clear(&d);
    ag_policy_set_unref(set);
    return all;
}

#define V2 "apiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\nmetadata:\n  name: p\nspec:\n" \
           "  match:\n    kinds: [Pod]\n"
#define V1 "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata:\n  name: p\nspec:\n" \
           "  match:\n    kinds: [Pod]\n"

/* text refused with `want` (prefixed by "p.yaml:") among its diagnostics */
static void refused(const char *text, const char *want)
{
    int rc = 0;
    char *all = diags_of(text, &rc);
    char full[600];
    snprintf(full, sizeof full, "p.yaml:%s", want);
    CHECK(rc != 0);
    CHECK_CONTAINS(all, full);
    free(all);
}

static void accepted(const char *text)
{
    int rc = -1;
    char *all = diags_of(text, &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(all, "");
    free(all);
}

static void test_mutate_rules(void)
{
    accepted(V2 "  mutate:\n    rules:\n      - name: r\n        target: containers\n"
                "        set: {imagePullPolicy: Always}\n");
    /* v1alpha1 */
    refused(V1 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        set: {a: 1}\n",
            "10:7: spec.mutate.rules needs apiVersion: policy.aimguard.io/v1alpha2");
    /* missing: name, target, set/append */
    refused(V2 "  mutate:\n    rules:\n      - target: pod\n        set: {a: 1}\n", "10:9: spec.mutate.rules[] needs a name");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        set: {a: 1}\n", "10:9: spec.mutate.rules[] needs a target");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n", "10:9: spec.mutate.rules[] needs set or append");
    /* wrong types */
    refused(V2 "  mutate:\n    rules: {name: r}\n", "9:12: spec.mutate.rules must be a non-empty list");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pods\n        set: {a: 1}\n",
            "11:17: rules[].target must be pod, podMetadata or containers (did you mean 'pod'?)");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        set: [a]\n",
            "12:14: rules[].set must be a non-empty mapping");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        append: {tolerations: {a: 1}}\n",
            "12:31: rules[].append.tolerations must be a non-empty list");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        when: {minReplicas: two}\n"
                "        set: {a: 1}\n", "12:29:");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        when: {imageHasDigest: false}\n"
                "        set: {a: 1}\n", "12:32: rules[].when.imageHasDigest needs target: containers");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: podMetadata\n        set: {spec: {}}\n",
            "12:14: rules[].set: target podMetadata sets labels and annotations only");
    /* null */
    refused(V2 "  mutate:\n    rules:\n", "9:11: spec.mutate.rules must be a non-empty list");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target:\n        set: {a: 1}\n", "11:16:");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        set:\n", "12:13: rules[].set must be");
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        overwrite: true\n"
                "        append: {volumes: [{name: v}]}\n", "12:20: rules[].overwrite applies to set");
    /* unknown key, duplicate name */
    refused(V2 "  mutate:\n    rules:\n      - name: r\n        target: pod\n        sett: {a: 1}\n",
            "12:9: unknown field 'sett' in spec.mutate.rules[] (did you mean 'set'?)");
    refused(V2 "  mutate:\n    rules:\n      - {name: r, target: pod, set: {a: 1}}\n"
                "      - {name: r, target: pod, set: {b: 1}}\n", "11:16: spec.mutate.rules: the name 'r' is used twice");
}

static void test_pss_exempt(void)
{
    accepted(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: [privileged], images: [\"ghcr.io/x/agent:*\"]}\n");
    refused(V1 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: [privileged], images: [busybox]}\n",
            "12:9: podSecurity.exempt needs apiVersion: policy.aimguard.io/v1alpha2");
    /* missing controls / whom */
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n        - {images: [busybox]}\n",
            "12:11: podSecurity.exempt[] needs controls");
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n        - {controls: [privileged]}\n",
            "12:11: podSecurity.exempt[] needs images or containers");
    /* wrong types, bad values */
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt: {controls: [privileged]}\n",
            "11:15: podSecurity.exempt must be a non-empty list");
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: privileged, images: [busybox]}\n", "12:22: podSecurity.exempt[].controls must be a list");
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: [privilegd], images: [busybox]}\n",
            "12:23: podSecurity.exempt[].controls: 'privilegd' is not a Pod Security check ID (did you mean 'privileged'?)");
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: [privileged], images: [\"*agent*\"]}\n",
            "12:45: podSecurity.exempt[].images: the glob '*agent*' must start with a literal registry");
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: [privileged], images: [\"UPPER/x\"]}\n", "12:45: podSecurity.exempt[].images: 'UPPER/x'");
    /* null */
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n",
            "11:14: podSecurity.exempt must be a non-empty list");
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n        - {controls: [privileged], images: }\n",
            "12:44: podSecurity.exempt[].images must be a list");
    /* unknown key */
    refused(V2 "  validate:\n    podSecurity:\n      level: baseline\n      exempt:\n"
                "        - {controls: [privileged], image: [busybox]}\n",
            "12:36: unknown field 'image' in podSecurity.exempt[] (did you mean 'images'?)");
}

static void test_images_allow_from(void)
{
    accepted(V2 "  validate:\n    images:\n      allowFrom:\n        namespaceAnnotation: a.io/r\n"
                "        configMap: {namespace: s, name: n, key: k}\n        failClosed: false\n");
    refused(V1 "  validate:\n    images:\n      allowFrom: {namespaceAnnotation: a.io/r}\n",
            "10:18: images.allowFrom needs apiVersion: policy.aimguard.io/v1alpha2");
    /* missing */
    refused(V2 "  validate:\n    images:\n      allowFrom: {failClosed: true}\n",
            "10:18: images.allowFrom needs namespaceAnnotation or configMap");
    refused(V2 "  validate:\n    images:\n      allowFrom:\n        configMap: {namespace: s, name: n}\n",
            "11:20: images.allowFrom.configMap needs key");
    /* wrong type */
    refused(V2 "  validate:\n    images:\n      allowFrom: [a]\n", "10:18: images.allowFrom must be a mapping");
    refused(V2 "  validate:\n    images:\n      allowFrom:\n        namespaceAnnotation: [a]\n", "11:30:");
    refused(V2 "  validate:\n    images:\n      allowFrom:\n        configMap: {namespace: s, name: a/b, key: k}\n",
            "11:41: images.allowFrom.configMap.name: 'a/b' is not a valid name");
    refused(V2 "  validate:\n    images:\n      allowFrom:\n        namespaceAnnotation: a\n        failClosed: maybe\n",
            "12:21:");
    /* null */
    refused(V2 "  validate:\n    images:\n      allowFrom:\n", "10:17: images.allowFrom must be a mapping");
    refused(V2 "  validate:\n    images:\n      allowFrom:\n        configMap:\n", "11:19: images.allowFrom.configMap must be a mapping");
    /* unknown key */
    refused(V2 "  validate:\n    images:\n      allowFrom:\n        namespaceAnotation: a\n",
            "11:9: unknown field 'namespaceAnotation' in images.allowFrom (did you mean 'namespaceAnnotation'?)");
}

#define EXC "  validate:\n    podSecurity: {level: baseline}\n  exceptions:\n"

static void test_exception_images(void)
{
    accepted(V2 EXC "    - {controls: [capabilities], images: [quay.io/x/y], reason: r, expires: 2030-01-01}\n");
    refused(V1 EXC "    - {controls: [capabilities], images: [quay.io/x/y], reason: r, expires: 2030-01-01}\n",
            "11:42: exceptions[].images needs apiVersion: policy.aimguard.io/v1alpha2");
    /* a control not judged per container */
    refused(V2 "  mutate:\n    securityContext: {runAsNonRoot: true}\n" EXC
                "    - {controls: [runAsNonRoot, readOnlyRootFilesystem], images: [quay.io/x/y], reason: r, expires: 2030-01-01}\n",
            "13:66: exceptions[].images: control 'readOnlyRootFilesystem' is not judged per container");
    /* wrong type, null, empty */
    refused(V2 EXC "    - {controls: [privileged], images: quay.io/x, reason: r, expires: 2030-01-01}\n",
            "11:40: exceptions[].images must be a list");
    refused(V2 EXC "    - {controls: [privileged], images: , reason: r, expires: 2030-01-01}\n",
            "11:40: exceptions[].images must be a list");
    refused(V2 EXC "    - {controls: [privileged], images: [], reason: r, expires: 2030-01-01}\n",
            "11:40: exceptions[].images must list at least one image pattern");
    refused(V2 EXC "    - {controls: [privileged], imagez: [x], reason: r, expires: 2030-01-01}\n",
            "11:32: unknown field 'imagez' in spec.exceptions[]");
}

static int matches(const char *image, const char *pattern)
{
    ag_imageref r;
    ag_error err = {0};
    if (ag_imageref_parse(image, &r, &err))
        return -2;
    int m = ag_imageref_match(&r, pattern);
    ag_imageref_clear(&r);
    return m;
}

static void test_image_patterns(void)
{
    /* a repository: every tag and digest of it, normalised */
    CHECK_INT(matches("busybox:1.36", "docker.io/library/busybox"), 1);
    CHECK_INT(matches("docker.io/library/busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      "busybox"), 1);
    CHECK_INT(matches("busybox2:1", "busybox"), 0);
    CHECK_INT(matches("evil.io/library/busybox:1", "busybox"), 0);
    /* with a tag: only that tag */
    CHECK_INT(matches("busybox:1.36", "busybox:1.36"), 1);
    CHECK_INT(matches("busybox:1.37", "busybox:1.36"), 0);
    /* prefix: whole components */
    CHECK_INT(matches("registry.example.com/infra/agent:1", "registry.example.com/infra/"), 1);
    CHECK_INT(matches("registry.example.com/infrastructure/agent:1", "registry.example.com/infra/"), 0);
    CHECK_INT(matches("registry.example.com.evil.io/infra/agent:1", "registry.example.com/infra/"), 0);
    /* glob: on the normalised reference, registry literal */
    CHECK_INT(matches("ghcr.io/example/node-agent:2.1", "ghcr.io/example/node-agent:*"), 1);
    CHECK_INT(matches("ghcr.io/example/node-agent-evil:2.1", "ghcr.io/example/node-agent:*"), 0);
    CHECK_INT(matches("ghcr.io/example/a/b:1", "ghcr.io/example/*"), 1);
    CHECK_INT(matches("ghcr.io/x:1", "*/x:1"), -1);
    char why[300];
    CHECK_INT(ag_imageref_pattern_check("*evil*", why, sizeof why), -1);
    CHECK_INT(ag_imageref_pattern_check("ghcr.io/*", why, sizeof why), 0);
    CHECK_INT(ag_imageref_pattern_check("", why, sizeof why), -1);
    CHECK_INT(ag_imageref_pattern_check("Bad/Ref", why, sizeof why), -1);
}

/* exempts containers whose name starts with "agent" from every check */
static int agents(void *ctx, const char *check, const json_t *container)
{
    (void)ctx, (void)check;
    const char *n = json_string_value(json_object_get(container, "name"));
    return n && !strncmp(n, "agent", 5);
}

static char *pss_on(const char *spec_json, int exempt)
{
    json_error_t je;
    json_t *spec = json_loads(spec_json, 0, &je);
    ag_podspec_ref ref = {0};
    ref.spec = spec;
    snprintf(ref.path, sizeof ref.path, "spec");
    ag_pss_result res = {0};
    ag_error err = {0};
    CHECK_INT(ag_pss_check_pod_exempt(AG_PSS_RESTRICTED, &ref, exempt ? agents : NULL, NULL, &res, &err), 0);
    size_t cap = 1;
    for (size_t i = 0; i < res.count; i++)
        cap += strlen(res.items[i].check) + strlen(res.items[i].message) + 4;
    char *all = calloc(1, cap);
    for (size_t i = 0; i < res.count; i++) {
        strcat(all, res.items[i].check);
        strcat(all, ": ");
        strcat(all, res.items[i].message);
        strcat(all, "\n");
    }
    ag_pss_result_clear(&res);
    json_decref(spec);
    return all;
}

static void test_pss_exemption_is_per_container(void)
{
    /* a pod-level field stays judged while one container is not exempt */
    char *r = pss_on("{\"hostNetwork\": true, \"securityContext\": {\"runAsNonRoot\": false},"
                     " \"containers\": [{\"name\": \"agent-a\", \"securityContext\": {\"privileged\": true}},"
                     " {\"name\": \"app\", \"securityContext\": {\"privileged\": true}}]}", 1);
    CHECK_CONTAINS(r, "hostNamespaces: host namespaces (hostNetwork=true)");
    CHECK_CONTAINS(r, "privileged: privileged (container \"app\" must not");
    CHECK_CONTAINS(r, "runAsNonRoot: runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false");
    CHECK(!strstr(r, "agent-a"));
    free(r);
    /* every container exempt: the pod-level parts are exempt too */
    r = pss_on("{\"hostNetwork\": true, \"securityContext\": {\"runAsNonRoot\": false},"
               " \"volumes\": [{\"name\": \"h\", \"hostPath\": {\"path\": \"/\"}}],"
               " \"containers\": [{\"name\": \"agent-a\", \"securityContext\": {\"privileged\": true}},"
               " {\"name\": \"agent-b\"}]}", 1);
    CHECK_STR(r, "");
    free(r);
    /* the same without the exemption: all judged */
    r = pss_on("{\"hostNetwork\": true, \"containers\": [{\"name\": \"agent-a\"}]}", 0);
    CHECK_CONTAINS(r, "hostNamespaces:");
    CHECK_CONTAINS(r, "agent-a");
    free(r);
    /* a pod without containers exempts nothing */
    r = pss_on("{\"hostNetwork\": true, \"containers\": []}", 1);
    CHECK_CONTAINS(r, "hostNamespaces:");
    free(r);
}

int main(void)
{
    RUN(test_pss_exemption_is_per_container);
    RUN(test_mutate_rules);
    RUN(test_pss_exempt);
    RUN(test_images_allow_from);
    RUN(test_exception_images);
    RUN(test_image_patterns);
    return agt_finish();
}
