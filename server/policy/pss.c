/* Pod Security Standards, following Kubernetes Pod Security Admission at policy
 * version v1.37 check by check: the same fields, the same allowed values, the same
 * exemptions (Windows pods for the restricted container checks; user-namespaced pods
 * for an Unmasked procMount at baseline). Messages follow PSA's wording. */
#include "aimguard/pss.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/buf.h"
#include "aimguard/podspec.h"

int ag_pss_level_parse(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "privileged")) return AG_PSS_PRIVILEGED;
    if (!strcmp(s, "baseline")) return AG_PSS_BASELINE;
    if (!strcmp(s, "restricted")) return AG_PSS_RESTRICTED;
    return -1;
}

const char *ag_pss_level_name(ag_pss_level level)
{
    return level == AG_PSS_RESTRICTED ? "restricted" : level == AG_PSS_BASELINE ? "baseline" : "privileged";
}

/* Kept beside the checks below: test_pss.c runs the upstream PSA fixtures and fails on an
 * ID missing here (an exception naming it would be refused as an unknown control). */
const char *const *ag_pss_check_ids(void)
{
    static const char *const ids[] = {
        "hostNamespaces", "privileged", "capabilities_baseline", "hostPathVolumes", "hostPorts",
        "appArmorProfile", "seLinuxOptions", "procMount", "procMount_restricted",
        "seccompProfile_baseline", "sysctls", "windowsHostProcess", "hostProbesAndHostLifecycle",
        "restrictedVolumes", "allowPrivilegeEscalation", "capabilities_restricted", "runAsNonRoot",
        "runAsUser", "seccompProfile_restricted", NULL};
    return ids;
}

void ag_pss_result_clear(ag_pss_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->count; i++) {
        free(res->items[i].message);
        free(res->items[i].path);
    }
    free(res->items);
    res->items = NULL;
    res->count = 0;
}

/* One check's findings: the things named ("containers "a", "b"") and the first path. */
typedef struct finding {
    ag_buf names; /* comma-separated quoted names */
    int count;
    char path[320];
} finding;

static void note(finding *f, const char *name, const char *path_fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(finding *f, const char *name, const char *path_fmt, ...)
{
    if (f->count && f->names.p && name) {
        /* a name is listed once even when several of its fields fail */
        char q[300];
        snprintf(q, sizeof q, "\"%s\"", name);
        const char *hit = strstr(f->names.p, q);
        if (hit)
            return;
    }
    if (name)
        ag_buf_printf(&f->names, "%s\"%s\"", f->count ? ", " : "", name);
    if (!f->count) {
        va_list ap;
        va_start(ap, path_fmt);
        vsnprintf(f->path, sizeof f->path, path_fmt, ap);
        va_end(ap);
    }
    f->count++;
}

typedef struct ctx {
    ag_pss_result *out;
    ag_pss_exempt_fn exempt; /* containers a check skips (validate.podSecurity.exempt), or NULL */
    void *exempt_ctx;
    const char *cur;         /* the check running: what exempt() is asked about */
    const ag_podspec_ref *ref; /* the pod spec and its single-container specs */
    const char *sp; /* spec path */
    const json_t *meta, *spec, *psc;
    int windows;
    int oom;
} ctx;

static void add(ctx *c, const char *check, ag_buf *msg, const char *path)
{
    if (msg->oom || c->oom) {
        c->oom = 1;
        free(msg->p);
        return;
    }
    ag_pss_violation *nv = realloc(c->out->items, (c->out->count + 1) * sizeof *nv);
    if (!nv) {
        c->oom = 1;
        free(msg->p);
        return;
    }
    c->out->items = nv;
    nv[c->out->count].check = check;
    nv[c->out->count].message = msg->p;
    nv[c->out->count].path = strdup(path ? path : "");
    if (!nv[c->out->count].path) {
        c->oom = 1;
        free(msg->p);
        return;
    }
    c->out->count++;
}

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static const json_t *obj(const json_t *o, const char *k) { return json_object_get(o, k); }

static int skip(const ctx *c, const json_t *container)
{
    return c->exempt && c->exempt(c->exempt_ctx, c->cur, container);
}

/* Visits every container the running check does not exempt: the three lists, then
 * KServe's single-container specs. */
#define EACH_CONTAINER(c, cr, ctr) \
    for (ag_container_iter cr##_it = {(c)->ref, 0, 0, 0}; cr##_it.ref; cr##_it.ref = NULL) \
        for (ag_container_ref cr; ag_container_next(&cr##_it, &cr);) \
            for (const json_t *ctr = skip(c, cr.c) ? NULL : cr.c; ctr; ctr = NULL)

/* A pod-level field (hostNetwork, volumes, the pod's securityContext) belongs to no one
 * container: its part of a check is exempt only when every container of the pod is
 * exempt from that check, so exempting one agent container never opens the pod to
 * the others. A pod without containers exempts nothing. */
static int pod_exempt(const ctx *c)
{
    if (!c->exempt)
        return 0;
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, c->ref);
    int n = 0;
    while (ag_container_next(&it, &cr)) {
        if (!skip(c, cr.c))
            return 0;
        n++;
    }
    return n > 0;
}

/* The container of that name is exempt (per-container annotations) */
static int name_exempt(const ctx *c, const char *name)
{
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, c->ref);
    while (c->exempt && ag_container_next(&it, &cr))
        if (!strcmp(ag_container_name(&cr), name))
            return skip(c, cr.c);
    return 0;
}

/* "<head> (<noun>[s] "a", "b" <tail>)" for a check that lists offending names. */
static void finish(ctx *c, const char *check, finding *f, const char *head, const char *noun,
                   const char *tail)
{
    if (!f->count) {
        free(f->names.p);
        return;
    }
    ag_buf msg = {0};
    ag_buf_printf(&msg, "%s (%s%s %s%s%s)", head, noun, f->count > 1 ? "s" : "", f->names.p ? f->names.p : "",
                  *tail ? " " : "", tail);
    free(f->names.p);
    add(c, check, &msg, f->path);
}

/* ---------------- baseline ---------------- */

static void check_host_namespaces(ctx *c)
{
    c->cur = "hostNamespaces";
    if (pod_exempt(c))
        return;
    ag_buf msg = {0}, which = {0};
    const char *first = NULL;
    static const char *const keys[] = {"hostNetwork", "hostPID", "hostIPC"};
    for (int i = 0; i < 3; i++)
        if (json_is_true(obj(c->spec, keys[i]))) {
            ag_buf_printf(&which, "%s%s=true", which.len ? ", " : "", keys[i]);
            if (!first)
                first = keys[i];
        }
    if (!first) {
        free(which.p);
        return;
    }
    ag_buf_printf(&msg, "host namespaces (%s)", which.p ? which.p : "");
    free(which.p);
    char path[320];
    snprintf(path, sizeof path, "%s.%s", c->sp, first);
    add(c, "hostNamespaces", &msg, path);
}

static void check_privileged(ctx *c)
{
    c->cur = "privileged";
    finding f = {0};
    EACH_CONTAINER(c, cr, ctr) {
        if (json_is_true(obj(obj(ctr, "securityContext"), "privileged")))
            note(&f, ag_container_name(&cr), "%s.securityContext.privileged", ag_container_path(&cr));
    }
    finish(c, "privileged", &f, "privileged", "container", "must not set securityContext.privileged=true");
}

static const char *const baseline_caps[] = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID",
                                            "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
                                            "SETPCAP", "SETUID", "SYS_CHROOT", NULL};

static int in_list(const char *s, const char *const *l)
{
    for (; s && *l; l++)
        if (!strcmp(s, *l))
            return 1;
    return 0;
}

static void check_capabilities_baseline(ctx *c)
{
    c->cur = "capabilities_baseline";
    finding f = {0};
    ag_buf caps = {0};
    EACH_CONTAINER(c, cr, ctr) {
        const json_t *add_ = obj(obj(obj(ctr, "securityContext"), "capabilities"), "add");
        size_t k;
        const json_t *cap;
        json_array_foreach(add_, k, cap) {
            const char *s = json_string_value(cap);
            if (in_list(s, baseline_caps))
                continue;
            note(&f, ag_container_name(&cr), "%s.securityContext.capabilities.add[%zu]", ag_container_path(&cr), k);
            char q[256];
            snprintf(q, sizeof q, "\"%s\"", s ? s : "");
            if (!caps.p || !strstr(caps.p, q))
                ag_buf_printf(&caps, "%s%s", caps.len ? ", " : "", q);
        }
    }
    if (f.count) {
        ag_buf msg = {0};
        ag_buf_printf(&msg, "non-default capabilities (container%s %s must not include %s in "
                      "securityContext.capabilities.add)", f.count > 1 ? "s" : "", f.names.p, caps.p ? caps.p : "");
        add(c, "capabilities_baseline", &msg, f.path);
    }
    free(f.names.p);
    free(caps.p);
}

static void check_host_path(ctx *c)
{
    c->cur = "hostPathVolumes";
    if (pod_exempt(c))
        return;
    finding f = {0};
    size_t i;
    const json_t *v;
    json_array_foreach(obj(c->spec, "volumes"), i, v) {
        if (obj(v, "hostPath"))
            note(&f, str(v, "name") ? str(v, "name") : "", "%s.volumes[%zu].hostPath", c->sp, i);
    }
    finish(c, "hostPathVolumes", &f, "hostPath volumes", "volume", "");
}

static void check_host_ports(ctx *c)
{
    c->cur = "hostPorts";
    finding f = {0};
    ag_buf ports = {0};
    EACH_CONTAINER(c, cr, ctr) {
        size_t k;
        const json_t *p;
        json_array_foreach(obj(ctr, "ports"), k, p) {
            const json_t *hp = obj(p, "hostPort");
            if (json_is_integer(hp) && json_integer_value(hp) != 0) {
                note(&f, ag_container_name(&cr), "%s.ports[%zu].hostPort", ag_container_path(&cr), k);
                ag_buf_printf(&ports, "%s%lld", ports.len ? ", " : "", (long long)json_integer_value(hp));
            }
        }
    }
    if (f.count) {
        ag_buf msg = {0};
        ag_buf_printf(&msg, "hostPort (container%s %s %s hostPort%s %s)", f.count > 1 ? "s" : "", f.names.p,
                      f.count > 1 ? "use" : "uses", strchr(ports.p, ',') ? "s" : "", ports.p);
        add(c, "hostPorts", &msg, f.path);
    }
    free(f.names.p);
    free(ports.p);
}

static void check_apparmor(ctx *c)
{
    c->cur = "appArmorProfile";
    ag_buf bad = {0};
    char path[320] = "";
    const char *pfx = "container.apparmor.security.beta.kubernetes.io/";
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj(c->meta, "annotations"), k, v) {
        if (strncmp(k, pfx, strlen(pfx)) || name_exempt(c, k + strlen(pfx)))
            continue;
        const char *val = json_string_value(v);
        if (val && (!strcmp(val, "runtime/default") || !strncmp(val, "localhost/", 10) || !*val))
            continue;
        ag_buf_printf(&bad, "%sannotation \"%s\"=\"%s\"", bad.len ? ", " : "", k, val ? val : "");
        if (!*path)
            snprintf(path, sizeof path, "metadata.annotations['%s']", k);
    }
    const char *t = str(obj(c->psc, "appArmorProfile"), "type");
    if (t && strcmp(t, "RuntimeDefault") && strcmp(t, "Localhost") && !pod_exempt(c)) {
        ag_buf_printf(&bad, "%spod must not set securityContext.appArmorProfile.type to \"%s\"", bad.len ? ", " : "", t);
        if (!*path)
            snprintf(path, sizeof path, "%s.securityContext.appArmorProfile.type", c->sp);
    }
    EACH_CONTAINER(c, cr, ctr) {
        const char *ct = str(obj(obj(ctr, "securityContext"), "appArmorProfile"), "type");
        if (ct && strcmp(ct, "RuntimeDefault") && strcmp(ct, "Localhost")) {
            ag_buf_printf(&bad, "%scontainer \"%s\" must not set securityContext.appArmorProfile.type to \"%s\"",
                          bad.len ? ", " : "", ag_container_name(&cr), ct);
            if (!*path)
                snprintf(path, sizeof path, "%s.securityContext.appArmorProfile.type", ag_container_path(&cr));
        }
    }
    if (!bad.len) {
        free(bad.p);
        return;
    }
    ag_buf msg = {0};
    ag_buf_printf(&msg, "forbidden AppArmor profile (%s)", bad.p);
    free(bad.p);
    add(c, "appArmorProfile", &msg, path);
}

static int selinux_bad(const json_t *o, ag_buf *why)
{
    if (!o)
        return 0;
    static const char *const types[] = {"", "container_t", "container_init_t", "container_kvm_t",
                                        "container_engine_t", NULL};
    int bad = 0;
    const char *t = str(o, "type"), *u = str(o, "user"), *r = str(o, "role");
    if (t && !in_list(t, types))
        ag_buf_printf(why, "%stype \"%s\"", why->len ? ", " : "", t), bad = 1;
    if (u && *u)
        ag_buf_printf(why, "%suser \"%s\"", why->len ? ", " : "", u), bad = 1;
    if (r && *r)
        ag_buf_printf(why, "%srole \"%s\"", why->len ? ", " : "", r), bad = 1;
    return bad;
}

static void check_selinux(ctx *c)
{
    c->cur = "seLinuxOptions";
    ag_buf bad = {0}, why = {0};
    char path[320] = "";
    if (!pod_exempt(c) && selinux_bad(obj(c->psc, "seLinuxOptions"), &why)) {
        ag_buf_printf(&bad, "pod set forbidden securityContext.seLinuxOptions: %s", why.p);
        snprintf(path, sizeof path, "%s.securityContext.seLinuxOptions", c->sp);
    }
    EACH_CONTAINER(c, cr, ctr) {
        ag_buf w = {0};
        if (selinux_bad(obj(obj(ctr, "securityContext"), "seLinuxOptions"), &w)) {
            ag_buf_printf(&bad, "%scontainer \"%s\" set forbidden securityContext.seLinuxOptions: %s",
                          bad.len ? "; " : "", ag_container_name(&cr), w.p);
            if (!*path)
                snprintf(path, sizeof path, "%s.securityContext.seLinuxOptions", ag_container_path(&cr));
        }
        free(w.p);
    }
    free(why.p);
    if (!bad.len) {
        free(bad.p);
        return;
    }
    ag_buf msg = {0};
    ag_buf_printf(&msg, "seLinuxOptions (%s)", bad.p);
    free(bad.p);
    add(c, "seLinuxOptions", &msg, path);
}

/* baseline: Unmasked is allowed only for user-namespaced pods (hostUsers: false, v1.35+);
 * restricted: only Default. */
static void check_proc_mount(ctx *c, int restricted)
{
    c->cur = restricted ? "procMount_restricted" : "procMount";
    int userns = json_is_false(obj(c->spec, "hostUsers"));
    if (!restricted && userns)
        return;
    finding f = {0};
    EACH_CONTAINER(c, cr, ctr) {
        const char *pm = str(obj(ctr, "securityContext"), "procMount");
        if (pm && strcmp(pm, "Default"))
            note(&f, ag_container_name(&cr), "%s.securityContext.procMount", ag_container_path(&cr));
    }
    finish(c, restricted ? "procMount_restricted" : "procMount", &f, "procMount", "container",
           "must not set securityContext.procMount to \"Unmasked\"");
}

static void check_seccomp_baseline(ctx *c)
{
    c->cur = "seccompProfile_baseline";
    finding f = {0};
    int pod_bad = 0;
    const char *t = str(obj(c->psc, "seccompProfile"), "type");
    if (t && !strcmp(t, "Unconfined") && !pod_exempt(c))
        pod_bad = 1;
    EACH_CONTAINER(c, cr, ctr) {
        const char *ct = str(obj(obj(ctr, "securityContext"), "seccompProfile"), "type");
        if (ct && !strcmp(ct, "Unconfined"))
            note(&f, ag_container_name(&cr), "%s.securityContext.seccompProfile.type", ag_container_path(&cr));
    }
    if (!pod_bad && !f.count) {
        free(f.names.p);
        return;
    }
    ag_buf msg = {0};
    char path[320];
    if (pod_bad)
        snprintf(path, sizeof path, "%s.securityContext.seccompProfile.type", c->sp);
    ag_buf_printf(&msg, "seccompProfile (%s%s%s%s%s must not set securityContext.seccompProfile.type to \"Unconfined\")",
                  pod_bad ? "pod" : "", pod_bad && f.count ? " and " : "", f.count ? (f.count > 1 ? "containers " : "container ") : "",
                  f.count ? f.names.p : "", "");
    free(f.names.p);
    add(c, "seccompProfile_baseline", &msg, pod_bad ? path : f.path);
}

/* The v1.37 safe set (PSA adds names as the kubelet's safe list grows). */
static const char *const safe_sysctls[] = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat", NULL};

static void check_sysctls(ctx *c)
{
    c->cur = "sysctls";
    if (pod_exempt(c))
        return;
    finding f = {0};
    size_t i;
    const json_t *s;
    json_array_foreach(obj(c->psc, "sysctls"), i, s) {
        const char *n = str(s, "name");
        if (!in_list(n, safe_sysctls))
            note(&f, n ? n : "", "%s.securityContext.sysctls[%zu].name", c->sp, i);
    }
    if (f.count) {
        ag_buf msg = {0};
        ag_buf_printf(&msg, "forbidden sysctl%s (%s)", f.count > 1 ? "s" : "", f.names.p);
        add(c, "sysctls", &msg, f.path);
    }
    free(f.names.p);
}

static void check_host_process(ctx *c)
{
    c->cur = "windowsHostProcess";
    finding f = {0};
    int pod = json_is_true(obj(obj(c->psc, "windowsOptions"), "hostProcess")) && !pod_exempt(c);
    EACH_CONTAINER(c, cr, ctr) {
        if (json_is_true(obj(obj(obj(ctr, "securityContext"), "windowsOptions"), "hostProcess")))
            note(&f, ag_container_name(&cr), "%s.securityContext.windowsOptions.hostProcess", ag_container_path(&cr));
    }
    if (!pod && !f.count) {
        free(f.names.p);
        return;
    }
    ag_buf msg = {0};
    char path[320];
    snprintf(path, sizeof path, "%s.securityContext.windowsOptions.hostProcess", c->sp);
    ag_buf_printf(&msg, "hostProcess (%s%s%s%s must not set securityContext.windowsOptions.hostProcess=true)",
                  pod ? "pod" : "", pod && f.count ? " and " : "",
                  f.count ? (f.count > 1 ? "containers " : "container ") : "", f.count ? f.names.p : "");
    free(f.names.p);
    add(c, "windowsHostProcess", &msg, pod ? path : f.path);
}

static void host_in_handler(const json_t *h, const char *where, ag_buf *what, int *bad)
{
    const char *hg = str(obj(h, "httpGet"), "host"), *ts = str(obj(h, "tcpSocket"), "host");
    if (hg && *hg)
        ag_buf_printf(what, "%s%s.httpGet.host \"%s\"", what->len ? ", " : "", where, hg), *bad = 1;
    if (ts && *ts)
        ag_buf_printf(what, "%s%s.tcpSocket.host \"%s\"", what->len ? ", " : "", where, ts), *bad = 1;
}

static void check_host_probes(ctx *c)
{
    c->cur = "hostProbesAndHostLifecycle";
    ag_buf bad = {0};
    char path[320] = "";
    static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe"};
    EACH_CONTAINER(c, cr, ctr) {
        ag_buf what = {0};
        int b = 0;
        for (int p = 0; p < 3; p++)
            host_in_handler(obj(ctr, probes[p]), probes[p], &what, &b);
        host_in_handler(obj(obj(ctr, "lifecycle"), "postStart"), "lifecycle.postStart", &what, &b);
        host_in_handler(obj(obj(ctr, "lifecycle"), "preStop"), "lifecycle.preStop", &what, &b);
        if (b) {
            ag_buf_printf(&bad, "%scontainer \"%s\" uses %s", bad.len ? "; " : "", ag_container_name(&cr), what.p);
            if (!*path)
                snprintf(path, sizeof path, "%s", ag_container_path(&cr));
        }
        free(what.p);
    }
    if (!bad.len) {
        free(bad.p);
        return;
    }
    ag_buf msg = {0};
    ag_buf_printf(&msg, "probe or lifecycle host (%s)", bad.p);
    free(bad.p);
    add(c, "hostProbesAndHostLifecycle", &msg, path);
}

/* ---------------- restricted ---------------- */

static const char *const allowed_volumes[] = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                              "persistentVolumeClaim", "projected", "secret", "image", NULL};

static void check_restricted_volumes(ctx *c)
{
    c->cur = "restrictedVolumes";
    if (pod_exempt(c))
        return;
    finding f = {0};
    ag_buf types = {0};
    size_t i;
    const json_t *v;
    json_array_foreach(obj(c->spec, "volumes"), i, v) {
        const char *k;
        const json_t *src;
        json_object_foreach((json_t *)v, k, src) {
            if (!strcmp(k, "name") || json_is_null(src) || in_list(k, allowed_volumes))
                continue;
            note(&f, str(v, "name") ? str(v, "name") : "", "%s.volumes[%zu].%s", c->sp, i, k);
            char q[128];
            snprintf(q, sizeof q, "\"%s\"", k);
            if (!types.p || !strstr(types.p, q))
                ag_buf_printf(&types, "%s%s", types.len ? ", " : "", q);
        }
    }
    if (f.count) {
        ag_buf msg = {0};
        ag_buf_printf(&msg, "restricted volume types (volume%s %s %s restricted volume type%s %s)",
                      f.count > 1 ? "s" : "", f.names.p, f.count > 1 ? "use" : "uses",
                      strchr(types.p, ',') ? "s" : "", types.p);
        add(c, "restrictedVolumes", &msg, f.path);
    }
    free(f.names.p);
    free(types.p);
}

static void check_allow_privilege_escalation(ctx *c)
{
    c->cur = "allowPrivilegeEscalation";
    finding f = {0};
    EACH_CONTAINER(c, cr, ctr) {
        if (!json_is_false(obj(obj(ctr, "securityContext"), "allowPrivilegeEscalation")))
            note(&f, ag_container_name(&cr), "%s.securityContext.allowPrivilegeEscalation", ag_container_path(&cr));
    }
    finish(c, "allowPrivilegeEscalation", &f, "allowPrivilegeEscalation != false", "container",
           "must set securityContext.allowPrivilegeEscalation=false");
}

static void check_capabilities_restricted(ctx *c)
{
    c->cur = "capabilities_restricted";
    finding drop = {0}, addf = {0};
    ag_buf caps = {0};
    EACH_CONTAINER(c, cr, ctr) {
        const json_t *capo = obj(obj(ctr, "securityContext"), "capabilities");
        int has_all = 0;
        size_t k;
        const json_t *cap;
        json_array_foreach(obj(capo, "drop"), k, cap) {
            const char *s = json_string_value(cap);
            has_all |= s && !strcmp(s, "ALL");
        }
        if (!has_all)
            note(&drop, ag_container_name(&cr), "%s.securityContext.capabilities.drop", ag_container_path(&cr));
        json_array_foreach(obj(capo, "add"), k, cap) {
            const char *s = json_string_value(cap);
            if (s && !strcmp(s, "NET_BIND_SERVICE"))
                continue;
            note(&addf, ag_container_name(&cr), "%s.securityContext.capabilities.add[%zu]", ag_container_path(&cr), k);
            char q[256];
            snprintf(q, sizeof q, "\"%s\"", s ? s : "");
            if (!caps.p || !strstr(caps.p, q))
                ag_buf_printf(&caps, "%s%s", caps.len ? ", " : "", q);
        }
    }
    if (drop.count || addf.count) {
        ag_buf msg = {0};
        ag_buf_printf(&msg, "unrestricted capabilities (");
        if (drop.count)
            ag_buf_printf(&msg, "container%s %s must set securityContext.capabilities.drop=[\"ALL\"]",
                          drop.count > 1 ? "s" : "", drop.names.p);
        if (addf.count)
            ag_buf_printf(&msg, "%scontainer%s %s must not include %s in securityContext.capabilities.add",
                          drop.count ? "; " : "", addf.count > 1 ? "s" : "", addf.names.p, caps.p);
        ag_buf_printf(&msg, ")");
        add(c, "capabilities_restricted", &msg, drop.count ? drop.path : addf.path);
    }
    free(drop.names.p);
    free(addf.names.p);
    free(caps.p);
}

static void check_run_as_non_root(ctx *c)
{
    c->cur = "runAsNonRoot";
    const json_t *pv = obj(c->psc, "runAsNonRoot");
    int pod_true = json_is_true(pv), pod_false = json_is_false(pv) && !pod_exempt(c);
    finding explicit_false = {0}, unset = {0};
    EACH_CONTAINER(c, cr, ctr) {
        const json_t *cv = obj(obj(ctr, "securityContext"), "runAsNonRoot");
        if (json_is_false(cv))
            note(&explicit_false, ag_container_name(&cr), "%s.securityContext.runAsNonRoot", ag_container_path(&cr));
        else if (!json_is_true(cv) && !pod_true)
            note(&unset, ag_container_name(&cr), "%s.securityContext.runAsNonRoot", ag_container_path(&cr));
    }
    if (!pod_false && !explicit_false.count && !unset.count) {
        free(explicit_false.names.p);
        free(unset.names.p);
        return;
    }
    ag_buf msg = {0};
    char path[320];
    snprintf(path, sizeof path, "%s.securityContext.runAsNonRoot", c->sp);
    ag_buf_printf(&msg, "runAsNonRoot != true (");
    const char *sep = "";
    if (pod_false) {
        ag_buf_printf(&msg, "pod must not set securityContext.runAsNonRoot=false");
        sep = "; ";
    }
    if (explicit_false.count) {
        ag_buf_printf(&msg, "%scontainer%s %s must not set securityContext.runAsNonRoot=false", sep,
                      explicit_false.count > 1 ? "s" : "", explicit_false.names.p);
        sep = "; ";
    }
    if (unset.count)
        ag_buf_printf(&msg, "%spod or container%s %s must set securityContext.runAsNonRoot=true", sep,
                      unset.count > 1 ? "s" : "", unset.names.p);
    ag_buf_printf(&msg, ")");
    const char *p = pod_false || (unset.count && !explicit_false.count) ? path
                    : explicit_false.count ? explicit_false.path : path;
    add(c, "runAsNonRoot", &msg, p);
    free(explicit_false.names.p);
    free(unset.names.p);
}

static void check_run_as_user(ctx *c)
{
    c->cur = "runAsUser";
    finding f = {0};
    const json_t *pu = obj(c->psc, "runAsUser");
    int pod = json_is_integer(pu) && json_integer_value(pu) == 0 && !pod_exempt(c);
    EACH_CONTAINER(c, cr, ctr) {
        const json_t *cu = obj(obj(ctr, "securityContext"), "runAsUser");
        if (json_is_integer(cu) && json_integer_value(cu) == 0)
            note(&f, ag_container_name(&cr), "%s.securityContext.runAsUser", ag_container_path(&cr));
    }
    if (!pod && !f.count) {
        free(f.names.p);
        return;
    }
    ag_buf msg = {0};
    char path[320];
    snprintf(path, sizeof path, "%s.securityContext.runAsUser", c->sp);
    ag_buf_printf(&msg, "runAsUser=0 (%s%s%s%s must not set runAsUser=0)", pod ? "pod" : "", pod && f.count ? " and " : "",
                  f.count ? (f.count > 1 ? "containers " : "container ") : "", f.count ? f.names.p : "");
    free(f.names.p);
    add(c, "runAsUser", &msg, pod ? path : f.path);
}

static int seccomp_ok(const char *t) { return t && (!strcmp(t, "RuntimeDefault") || !strcmp(t, "Localhost")); }

static void check_seccomp_restricted(ctx *c)
{
    c->cur = "seccompProfile_restricted";
    const char *pt = str(obj(c->psc, "seccompProfile"), "type");
    int pod_set = pt != NULL, pod_bad = pt && !seccomp_ok(pt) && !pod_exempt(c);
    finding bad = {0}, unset = {0};
    EACH_CONTAINER(c, cr, ctr) {
        const char *ct = str(obj(obj(ctr, "securityContext"), "seccompProfile"), "type");
        if (ct && !seccomp_ok(ct))
            note(&bad, ag_container_name(&cr), "%s.securityContext.seccompProfile.type", ag_container_path(&cr));
        else if (!ct && (!pod_set || pod_bad))
            note(&unset, ag_container_name(&cr), "%s.securityContext.seccompProfile.type", ag_container_path(&cr));
    }
    if (!pod_bad && !bad.count && !unset.count) {
        free(bad.names.p);
        free(unset.names.p);
        return;
    }
    ag_buf msg = {0};
    char path[320];
    snprintf(path, sizeof path, "%s.securityContext.seccompProfile.type", c->sp);
    ag_buf_printf(&msg, "seccompProfile (");
    const char *sep = "";
    if (pod_bad) {
        ag_buf_printf(&msg, "pod must not set securityContext.seccompProfile.type to \"%s\"", pt);
        sep = "; ";
    }
    if (bad.count) {
        ag_buf_printf(&msg, "%scontainer%s %s must not set securityContext.seccompProfile.type to a value other "
                      "than \"RuntimeDefault\" or \"Localhost\"", sep, bad.count > 1 ? "s" : "", bad.names.p);
        sep = "; ";
    }
    if (unset.count)
        ag_buf_printf(&msg, "%spod or container%s %s must set securityContext.seccompProfile.type to "
                      "\"RuntimeDefault\" or \"Localhost\"", sep, unset.count > 1 ? "s" : "", unset.names.p);
    ag_buf_printf(&msg, ")");
    add(c, "seccompProfile_restricted", &msg, pod_bad ? path : bad.count ? bad.path : path);
    free(bad.names.p);
    free(unset.names.p);
}

int ag_pss_check(ag_pss_level level, const json_t *pod_meta, const json_t *pod_spec,
                 const char *spec_path, ag_pss_result *out, ag_error *err)
{
    ag_podspec_ref ref = {0};
    ref.spec = (json_t *)pod_spec;
    ref.meta = (json_t *)pod_meta;
    ag_strfmt(ref.path, sizeof ref.path, "%s", spec_path && *spec_path ? spec_path : "spec");
    return ag_pss_check_pod(level, &ref, out, err);
}

int ag_pss_check_pod(ag_pss_level level, const ag_podspec_ref *ref, ag_pss_result *out, ag_error *err)
{
    return ag_pss_check_pod_exempt(level, ref, NULL, NULL, out, err);
}

int ag_pss_check_pod_exempt(ag_pss_level level, const ag_podspec_ref *ref, ag_pss_exempt_fn exempt,
                            void *exempt_ctx, ag_pss_result *out, ag_error *err)
{
    if (level == AG_PSS_PRIVILEGED || !ref->spec)
        return 0;
    ctx c = {0};
    c.exempt = exempt;
    c.exempt_ctx = exempt_ctx;
    c.out = out;
    c.ref = ref;
    c.sp = ref->path;
    c.meta = ref->meta;
    c.spec = ref->spec;
    c.psc = obj(ref->spec, "securityContext");
    const char *os = str(obj(ref->spec, "os"), "name");
    c.windows = os && !strcmp(os, "windows");

    check_host_namespaces(&c);
    check_privileged(&c);
    check_capabilities_baseline(&c);
    check_host_path(&c);
    check_host_ports(&c);
    check_apparmor(&c);
    check_selinux(&c);
    check_proc_mount(&c, 0);
    check_seccomp_baseline(&c);
    check_sysctls(&c);
    check_host_process(&c);
    check_host_probes(&c);
    if (level == AG_PSS_RESTRICTED) {
        check_restricted_volumes(&c);
        check_run_as_non_root(&c);
        check_run_as_user(&c);
        check_proc_mount(&c, 1);
        /* Windows pods are exempt from the Linux-only restricted container checks */
        if (!c.windows) {
            check_allow_privilege_escalation(&c);
            check_capabilities_restricted(&c);
            check_seccomp_restricted(&c);
        }
    }
    if (c.oom)
        return ag_error_set(err, AG_ENOMEM, "out of memory in the Pod Security checks");
    return 0;
}
