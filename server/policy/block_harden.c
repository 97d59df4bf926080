/* spec.mutate.securityContext: hardened defaults. Compiles the block and fills in what
 * a pod spec leaves absent; an explicit value (even an insecure one) is left for the
 * validators to judge. */
#include "schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define PTR 512

/* A volume name for a writable directory: DNS-1123 label from the path. */
static char *dir_volume_name(const char *path)
{
    char buf[64] = "aimguard-writable";
    size_t o = strlen(buf);
    int dash = 0;
    for (const char *p = path; *p && o < 62; p++) {
        char ch = (char)tolower((unsigned char)*p);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash || o == strlen("aimguard-writable"))
                buf[o++] = '-';
            dash = 0;
            if (o < 62)
                buf[o++] = ch;
        } else {
            dash = 1;
        }
    }
    buf[o] = '\0';
    return strdup(buf);
}

static void compile_dirs(cctx *c, const ag_ynode *n, harden *h)
{
    static const char *const keys[] = {"path", "medium", "sizeLimit", NULL};
    if (!n || n->type != AG_YNODE_SEQ) {
        pol_err(c, n, "spec.mutate.securityContext.writableDirs must be a list");
        return;
    }
    h->dirs = calloc(n->count ? n->count : 1, sizeof *h->dirs);
    if (!h->dirs)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const ag_ynode *e = n->items[i];
        /* the slot only counts (h->ndirs++, and what frees it) once the entry is
         * accepted: what a refused entry set is cleared, not left to the next one */
        writable_dir *d = &h->dirs[h->ndirs];
        const char *path = NULL;
        if (e->type == AG_YNODE_SCALAR) {
            path = e->value;
        } else if (!pol_check_map(c, e, "writableDirs entry", keys)) {
            const ag_ynode *pn = ag_ynode_get(e, "path");
            if (pn)
                path = pol_scalar(c, pn, "writableDirs[].path");
            else
                pol_err(c, e, "writableDirs[].path is required");
            const ag_ynode *m = ag_ynode_get(e, "medium");
            if (m) {
                const char *ms = pol_scalar(c, m, "writableDirs[].medium");
                static const char *const media[] = {"Memory", NULL};
                char hint[96];
                if (ms && strcmp(ms, "Memory") && strcmp(ms, ""))
                    pol_err(c, m, "writableDirs[].medium must be \"\" (node disk) or Memory%s",
                             pol_hint(hint, sizeof hint, ms, media));
                else if (ms)
                    d->medium = strdup(ms);
            }
            const ag_ynode *sl = ag_ynode_get(e, "sizeLimit");
            if (sl) {
                const char *ss = pol_scalar(c, sl, "writableDirs[].sizeLimit");
                if (ss)
                    d->size_limit = strdup(ss);
            }
        }
        if (path && (path[0] != '/' || strstr(path, "..") || strlen(path) > 200)) {
            pol_err(c, e, "writableDirs: '%s' must be an absolute path without '..'", path);
            path = NULL;
        }
        if (!path) {
            free(d->medium);
            free(d->size_limit);
            memset(d, 0, sizeof *d);
            continue;
        }
        for (size_t j = 0; j < h->ndirs; j++)
            if (!strcmp(h->dirs[j].path, path))
                pol_err(c, e, "writableDirs: '%s' is listed twice", path);
        d->path = strdup(path);
        d->volume = dir_volume_name(path);
        h->ndirs++;
    }
}

static void compile_harden(cctx *c, const ag_ynode *n, harden *h)
{
    static const char *const keys[] = {
        "runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile",
        "allowPrivilegeEscalation", "dropCapabilities", "readOnlyRootFilesystem", "writableDirs",
        "automountServiceAccountToken", NULL};
    const char *w = "spec.mutate.securityContext";
    h->run_as_non_root = h->allow_priv_esc = h->read_only_root = h->automount_token = -1;
    if (pol_check_map(c, n, w, keys))
        return;
    h->present = 1;
    KEY_EACH(n, k, v) {
        const char *f = k->value;
        if (!strcmp(f, "runAsNonRoot")) pol_get_bool(c, v, "runAsNonRoot", &h->run_as_non_root);
        else if (!strcmp(f, "allowPrivilegeEscalation")) pol_get_bool(c, v, f, &h->allow_priv_esc);
        else if (!strcmp(f, "readOnlyRootFilesystem")) pol_get_bool(c, v, f, &h->read_only_root);
        else if (!strcmp(f, "automountServiceAccountToken")) pol_get_bool(c, v, f, &h->automount_token);
        else if (!strcmp(f, "runAsUser")) h->has_uid = !pol_get_int(c, v, f, 0, 2147483647, &h->uid);
        else if (!strcmp(f, "runAsGroup")) h->has_gid = !pol_get_int(c, v, f, 0, 2147483647, &h->gid);
        else if (!strcmp(f, "fsGroup")) h->has_fsgroup = !pol_get_int(c, v, f, 0, 2147483647, &h->fsgroup);
        else if (!strcmp(f, "seccompProfile")) {
            static const char *const profiles[] = {"RuntimeDefault", NULL};
            char hint[96];
            const char *s = pol_scalar(c, v, f);
            if (s && strcmp(s, "RuntimeDefault"))
                pol_err(c, v, "seccompProfile must be RuntimeDefault (Localhost profiles are set "
                               "per workload, Unconfined is never a default)%s",
                         pol_hint(hint, sizeof hint, s, profiles));
            else if (s)
                h->seccomp = strdup(s);
        } else if (!strcmp(f, "dropCapabilities")) {
            pol_get_strlist(c, v, f, &h->drop_caps);
            for (size_t i = 0; i < h->drop_caps.n; i++)
                for (char *p = h->drop_caps.v[i]; *p; p++)
                    if (!(isupper((unsigned char)*p) || *p == '_' || isdigit((unsigned char)*p)))
                        pol_err(c, v, "dropCapabilities: '%s' is not a capability name "
                                       "(upper case, e.g. ALL or NET_RAW)", h->drop_caps.v[i]);
        } else if (!strcmp(f, "writableDirs")) compile_dirs(c, v, h);
    }
    if (h->ndirs && h->read_only_root != 1)
        pol_err(c, n, "writableDirs only makes sense with readOnlyRootFilesystem: true");
}

static int is_windows(json_t *spec)
{
    const char *os = json_string_value(json_object_get(json_object_get(spec, "os"), "name"));
    return os && !strcmp(os, "windows");
}

static int has_name(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && !strcmp(n, name))
            return 1;
    }
    return 0;
}

static int cap_listed(json_t *caps, const char *cap)
{
    size_t i;
    json_t *v;
    json_array_foreach(caps, i, v) {
        const char *s = json_string_value(v);
        if (s && (!strcmp(s, cap) || (!strncmp(s, "CAP_", 4) && !strcmp(s + 4, cap))))
            return 1;
    }
    return 0;
}

/* The container's securityContext, created on first need. */
typedef struct lazy_sc {
    json_t *container, *sc;
    char cptr[PTR], scptr[PTR];
} lazy_sc;

static json_t *sc_get(lazy_sc *l, ag_patch *p)
{
    if (!l->sc)
        l->sc = ag_patch_object(p, l->container, l->cptr, "securityContext", l->scptr, sizeof l->scptr);
    return l->sc;
}

static void harden_container(const policy *pol, eval_ctx *e, ag_patch *p, json_t *c,
                             const char *cptr, int ephemeral, int *need_vol)
{
    const harden *h = &pol->hard;
    lazy_sc l = {0};
    l.container = c;
    snprintf(l.cptr, sizeof l.cptr, "%s", cptr);
    json_t *sc0 = json_object_get(c, "securityContext");
    if (json_is_object(sc0)) {
        l.sc = sc0;
        ag_ptr_join(l.scptr, sizeof l.scptr, cptr, "securityContext");
    }
    int privileged = json_is_true(json_object_get(sc0, "privileged"));
    json_t *add = json_object_get(json_object_get(sc0, "capabilities"), "add");
    /* the API server rejects allowPrivilegeEscalation=false next to privileged or
     * CAP_SYS_ADMIN: leave such containers to the validators rather than produce an
     * object the API server refuses */
    if (h->allow_priv_esc == 0 && !privileged && !cap_listed(add, "SYS_ADMIN") &&
        !json_object_get(sc0, "allowPrivilegeEscalation") &&
        !pol_exception_applies(pol, e, "allowPrivilegeEscalation") && sc_get(&l, p))
        ag_patch_default(p, l.sc, l.scptr, "allowPrivilegeEscalation", json_false());
    if (h->drop_caps.n && !pol_exception_applies(pol, e, "capabilities")) {
        json_t *caps = json_object_get(l.sc, "capabilities");
        if (!json_object_get(caps, "drop") && sc_get(&l, p)) {
            char capptr[PTR];
            caps = ag_patch_object(p, l.sc, l.scptr, "capabilities", capptr, sizeof capptr);
            json_t *drop = json_array();
            for (size_t i = 0; drop && i < h->drop_caps.n; i++)
                json_array_append_new(drop, json_string(h->drop_caps.v[i]));
            if (caps)
                ag_patch_set(p, caps, capptr, "drop", drop);
            else
                json_decref(drop);
        }
    }
    /* ephemeral containers cannot get new volumes (the pod's volumes are immutable)
     * and are debugging tools: their root filesystem is left writable */
    if (h->read_only_root == 1 && !ephemeral && !pol_exception_applies(pol, e, "readOnlyRootFilesystem")) {
        if (!json_object_get(l.sc, "readOnlyRootFilesystem") && sc_get(&l, p))
            ag_patch_default(p, l.sc, l.scptr, "readOnlyRootFilesystem", json_true());
        if (json_is_true(json_object_get(l.sc, "readOnlyRootFilesystem"))) {
            for (size_t d = 0; d < h->ndirs; d++) {
                if (need_vol[d] < 0)
                    continue; /* the volume name is taken by something else */
                json_t *mounts = json_object_get(c, "volumeMounts");
                int mounted = 0;
                size_t i;
                json_t *m;
                json_array_foreach(mounts, i, m) {
                    const char *mp = json_string_value(json_object_get(m, "mountPath"));
                    const char *mn = json_string_value(json_object_get(m, "name"));
                    if ((mp && !strcmp(mp, h->dirs[d].path)) || (mn && !strcmp(mn, h->dirs[d].volume)))
                        mounted = 1;
                }
                if (mounted)
                    continue;
                char mptr[PTR];
                mounts = ag_patch_array(p, c, cptr, "volumeMounts", mptr, sizeof mptr);
                if (mounts)
                    ag_patch_append(p, mounts, mptr,
                                    json_pack("{s:s, s:s}", "name", h->dirs[d].volume, "mountPath",
                                              h->dirs[d].path));
                need_vol[d] = 1;
            }
        }
    }
}

static int in_old(eval_ctx *e, const char *list, const char *name)
{
    json_t *old = e->old;
    json_t *arr = json_object_get(json_object_get(old, "spec"), list);
    return name && has_name(arr, name);
}

static void harden_spec(const policy *pol, eval_ctx *e, ag_patch *p, ag_podspec_ref *ref)
{
    const harden *h = &pol->hard;
    json_t *spec = ref->spec;
    int windows = is_windows(spec);
    if (!e->pod_update) {
        char scptr[PTR];
        json_t *psc = json_object_get(spec, "securityContext");
        int nonroot = h->run_as_non_root == 1 && !json_object_get(psc, "runAsNonRoot") &&
                      !pol_exception_applies(pol, e, "runAsNonRoot");
        int seccomp = !windows && h->seccomp && !json_object_get(psc, "seccompProfile") &&
                      !pol_exception_applies(pol, e, "seccompProfile");
        int uid = !windows && h->has_uid && !json_object_get(psc, "runAsUser") &&
                  !pol_exception_applies(pol, e, "runAsUser");
        int gid = !windows && h->has_gid && !json_object_get(psc, "runAsGroup") &&
                  !pol_exception_applies(pol, e, "runAsGroup");
        int fsg = !windows && h->has_fsgroup && !json_object_get(psc, "fsGroup") &&
                  !pol_exception_applies(pol, e, "fsGroup");
        if ((nonroot || seccomp || uid || gid || fsg) &&
            (psc = ag_patch_object(p, spec, ref->ptr, "securityContext", scptr, sizeof scptr))) {
            if (nonroot)
                ag_patch_set(p, psc, scptr, "runAsNonRoot", json_true());
            if (seccomp)
                ag_patch_set(p, psc, scptr, "seccompProfile", json_pack("{s:s}", "type", h->seccomp));
            if (uid)
                ag_patch_set(p, psc, scptr, "runAsUser", json_integer(h->uid));
            if (gid)
                ag_patch_set(p, psc, scptr, "runAsGroup", json_integer(h->gid));
            if (fsg)
                ag_patch_set(p, psc, scptr, "fsGroup", json_integer(h->fsgroup));
        }
        if (h->automount_token == 0 && !pol_exception_applies(pol, e, "automountServiceAccountToken"))
            ag_patch_default(p, spec, ref->ptr, "automountServiceAccountToken", json_false());
    }
    if (windows)
        return; /* the remaining fields are Linux-only; the API server refuses them */

    /* writable dirs: 0 = not needed yet, 1 = needed, -1 = name taken by another volume */
    int need_vol[64] = {0};
    json_t *vols = json_object_get(spec, "volumes");
    for (size_t d = 0; d < h->ndirs && d < 64; d++) {
        size_t i;
        json_t *v;
        json_array_foreach(vols, i, v) {
            const char *n = json_string_value(json_object_get(v, "name"));
            if (n && !strcmp(n, h->dirs[d].volume) && !json_object_get(v, "emptyDir"))
                need_vol[d] = -1;
        }
    }
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, ref);
    while (ag_container_next(&it, &cr)) {
        /* on a Pod UPDATE only ephemeral containers being added can still change */
        if (e->pod_update && (cr.list != 2 || in_old(e, ag_container_lists[cr.list],
                                                      json_string_value(json_object_get(cr.c, "name")))))
            continue;
        char cptr[PTR];
        ag_container_ptr(ref, &cr, cptr, sizeof cptr);
        harden_container(pol, e, p, cr.c, cptr, cr.list == 2, need_vol);
    }
    for (size_t d = 0; d < h->ndirs && d < 64; d++) {
        if (need_vol[d] != 1 || has_name(json_object_get(spec, "volumes"), h->dirs[d].volume))
            continue;
        char vptr[PTR];
        json_t *arr = ag_patch_array(p, spec, ref->ptr, "volumes", vptr, sizeof vptr);
        json_t *ed = json_object();
        if (h->dirs[d].medium && *h->dirs[d].medium)
            json_object_set_new(ed, "medium", json_string(h->dirs[d].medium));
        if (h->dirs[d].size_limit)
            json_object_set_new(ed, "sizeLimit", json_string(h->dirs[d].size_limit));
        if (arr)
            ag_patch_append(p, arr, vptr, json_pack("{s:s, s:o}", "name", h->dirs[d].volume, "emptyDir", ed));
        else
            json_decref(ed);
    }
}

static void mutate_harden(const policy *pol, eval_ctx *e, ag_patch *p)
{
    if (!pol->hard.present)
        return;
    for (size_t i = 0; i < e->nspecs; i++)
        harden_spec(pol, e, p, &e->specs[i]);
}

static void harden_init(policy *p)
{
    p->hard.run_as_non_root = p->hard.allow_priv_esc = p->hard.read_only_root =
        p->hard.automount_token = -1;
}

static void harden_compile(cctx *c, const ag_ynode *n, policy *p) { compile_harden(c, n, &p->hard); }

static int harden_present(const policy *p) { return p->hard.present; }

static void harden_free(policy *p)
{
    free(p->hard.seccomp);
    pol_strlist_free(&p->hard.drop_caps);
    for (size_t i = 0; i < p->hard.ndirs; i++) {
        free(p->hard.dirs[i].path);
        free(p->hard.dirs[i].medium);
        free(p->hard.dirs[i].size_limit);
        free(p->hard.dirs[i].volume);
    }
    free(p->hard.dirs);
}

/* an exception naming one of these keeps that default off for the requests it covers */
static const char *const harden_controls[] = {
    "runAsNonRoot", "seccompProfile", "runAsUser", "runAsGroup", "fsGroup",
    "allowPrivilegeEscalation", "capabilities", "readOnlyRootFilesystem",
    "automountServiceAccountToken", NULL};

const pol_block pol_block_harden = {
    .key = "securityContext", .phase = POL_MUTATE, .controls = harden_controls,
    .init = harden_init, .compile = harden_compile, .present = harden_present,
    .mutate = mutate_harden, .free = harden_free,
};
