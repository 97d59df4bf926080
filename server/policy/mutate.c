/* Mutators: hardened defaults and GPU placement. They only fill in what is absent;
 * an explicit value (even an insecure one) is left for the validators to judge. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define PTR 512

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

/* Sets obj[key] = value when key is absent (value stolen either way). */
static void set_default(ag_patch *p, json_t *obj, const char *ptr, const char *key, json_t *value)
{
    if (json_object_get(obj, key)) {
        json_decref(value);
        return;
    }
    ag_patch_set(p, obj, ptr, key, value);
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
        !exception_applies(pol, e, "allowPrivilegeEscalation") && sc_get(&l, p))
        set_default(p, l.sc, l.scptr, "allowPrivilegeEscalation", json_false());
    if (h->drop_caps.n && !exception_applies(pol, e, "capabilities")) {
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
    if (h->read_only_root == 1 && !ephemeral && !exception_applies(pol, e, "readOnlyRootFilesystem")) {
        if (!json_object_get(l.sc, "readOnlyRootFilesystem") && sc_get(&l, p))
            set_default(p, l.sc, l.scptr, "readOnlyRootFilesystem", json_true());
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
    json_t *old = e->req->old_object;
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
                      !exception_applies(pol, e, "runAsNonRoot");
        int seccomp = !windows && h->seccomp && !json_object_get(psc, "seccompProfile") &&
                      !exception_applies(pol, e, "seccompProfile");
        int uid = !windows && h->has_uid && !json_object_get(psc, "runAsUser") &&
                  !exception_applies(pol, e, "runAsUser");
        int gid = !windows && h->has_gid && !json_object_get(psc, "runAsGroup") &&
                  !exception_applies(pol, e, "runAsGroup");
        int fsg = !windows && h->has_fsgroup && !json_object_get(psc, "fsGroup") &&
                  !exception_applies(pol, e, "fsGroup");
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
        if (h->automount_token == 0 && !exception_applies(pol, e, "automountServiceAccountToken"))
            set_default(p, spec, ref->ptr, "automountServiceAccountToken", json_false());
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

void mutate_harden(const policy *pol, eval_ctx *e, ag_patch *p)
{
    if (!pol->hard.present)
        return;
    for (size_t i = 0; i < e->nspecs; i++)
        harden_spec(pol, e, p, &e->specs[i]);
}

/* A quantity is "zero" when it is 0 in any spelling ("0", "0m", 0). */
static int nonzero(json_t *q)
{
    if (json_is_integer(q))
        return json_integer_value(q) != 0;
    if (json_is_real(q))
        return json_real_value(q) != 0;
    const char *s = json_string_value(q);
    if (!s)
        return 0;
    for (; *s; s++)
        if (*s >= '1' && *s <= '9')
            return 1;
        else if (!(*s == '0' || *s == '.'))
            break;
    return 0;
}

static int requests_gpu(const policy *pol, const ag_podspec_ref *ref)
{
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, ref);
    while (ag_container_next(&it, &cr)) {
        if (cr.list == 2)
            continue; /* ephemeral containers get no resources */
        json_t *res = json_object_get(cr.c, "resources");
        for (size_t r = 0; r < pol->gpu.resources.n; r++)
            if (nonzero(json_object_get(json_object_get(res, "limits"), pol->gpu.resources.v[r])) ||
                nonzero(json_object_get(json_object_get(res, "requests"), pol->gpu.resources.v[r])))
                return 1;
    }
    return 0;
}

static int array_has_equal(json_t *arr, json_t *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (json_equal(x, v)) return 1;
    return 0;
}

/* Adds each expression to every required node selector term (terms are ORed, so each
 * must carry the constraint); creates one term when there is none. */
static void merge_required(ag_patch *p, json_t *spec, const char *sptr, json_t *exprs)
{
    if (!json_array_size(exprs))
        return;
    char aptr[PTR], naptr[PTR], rptr[PTR], tptr[PTR];
    json_t *aff = ag_patch_object(p, spec, sptr, "affinity", aptr, sizeof aptr);
    json_t *na = aff ? ag_patch_object(p, aff, aptr, "nodeAffinity", naptr, sizeof naptr) : NULL;
    json_t *req = na ? ag_patch_object(p, na, naptr, "requiredDuringSchedulingIgnoredDuringExecution",
                                       rptr, sizeof rptr) : NULL;
    json_t *terms = req ? ag_patch_array(p, req, rptr, "nodeSelectorTerms", tptr, sizeof tptr) : NULL;
    if (!terms)
        return;
    if (json_array_size(terms) == 0)
        ag_patch_append(p, terms, tptr, json_object());
    size_t i;
    json_t *term;
    json_array_foreach(terms, i, term) {
        if (!json_is_object(term))
            continue;
        char termptr[PTR], mptr[PTR];
        ag_ptr_join_index(termptr, sizeof termptr, tptr, i);
        json_t *me = ag_patch_array(p, term, termptr, "matchExpressions", mptr, sizeof mptr);
        size_t j;
        json_t *x;
        json_array_foreach(exprs, j, x) {
            if (me && !array_has_equal(me, x))
                ag_patch_append(p, me, mptr, json_deep_copy(x));
        }
    }
}

void mutate_gpu(const policy *pol, eval_ctx *e, ag_patch *p)
{
    const gpu_cfg *g = &pol->gpu;
    if (!g->present || e->pod_update || exception_applies(pol, e, "gpuPlacement"))
        return;
    ag_podspec_ref *refs = e->specs;
    for (size_t i = 0; i < e->nspecs; i++) {
        json_t *spec = refs[i].spec;
        if (!requests_gpu(pol, &refs[i])) {
            merge_required(p, spec, refs[i].ptr, g->non_gpu_expressions);
            continue;
        }
        if (g->node_selector.n) {
            char nptr[PTR];
            json_t *ns = ag_patch_object(p, spec, refs[i].ptr, "nodeSelector", nptr, sizeof nptr);
            for (size_t k = 0; ns && k < g->node_selector.n; k++)
                set_default(p, ns, nptr, g->node_selector.k[k], json_string(g->node_selector.v[k]));
        }
        merge_required(p, spec, refs[i].ptr, g->match_expressions);
        if (json_array_size(g->tolerations)) {
            char tptr[PTR];
            json_t *tol = json_object_get(spec, "tolerations");
            size_t j;
            json_t *t;
            json_array_foreach(g->tolerations, j, t) {
                if (array_has_equal(tol, t))
                    continue;
                tol = ag_patch_array(p, spec, refs[i].ptr, "tolerations", tptr, sizeof tptr);
                if (tol)
                    ag_patch_append(p, tol, tptr, json_deep_copy(t));
            }
        }
    }
}
