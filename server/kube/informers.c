/* The shared watch caches: see include/aimguard/informers.h. */
#include "aimguard/informers.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a handful of resources: a fixed table, searched linearly */
#define MAX_RESOURCES 64 /* the view's, the reconciler's 16, the background audit's ~15 more, ConfigMaps */

typedef struct entry {
    char plural[64];
    int namespaced;
    char one[320];  /* "namespace/name" for a cache of one named object, "" for the resource */
    ag_informer *inf;
} entry;

struct ag_informers {
    ag_kube_config kc;
    entry e[MAX_RESOURCES];
    /* entries are appended by the wiring thread while request threads may already look
     * them up through the view: an entry is filled before n counts it (release/acquire) */
    _Atomic size_t n;
    int started, stopped;
};

ag_informers *ag_informers_new(const ag_kube_config *cfg, ag_error *err)
{
    ag_informers *f = calloc(1, sizeof *f);
    if (!f || ag_kube_config_copy(&f->kc, cfg)) {
        free(f);
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    return f;
}

/* The cache of the whole resource (one == NULL), or of that one object */
static entry *find_one(ag_informers *f, const char *plural, const char *one)
{
    size_t n = f ? atomic_load_explicit(&f->n, memory_order_acquire) : 0;
    for (size_t i = 0; plural && i < n; i++)
        if (!strcmp(f->e[i].plural, plural) && !strcmp(f->e[i].one, one ? one : ""))
            return &f->e[i];
    return NULL;
}

static entry *find(ag_informers *f, const char *plural)
{
    return find_one(f, plural, NULL);
}

ag_informer *ag_informers_for(ag_informers *f, const char *group, const char *version, const char *plural,
                              int namespaced, ag_error *err)
{
    entry *e = find(f, plural);
    if (e)
        return e->inf;
    if (f->started) {
        ag_error_set(err, AG_EINVAL, "watch cache for %s asked for after the caches started", plural);
        return NULL;
    }
    if (f->n == MAX_RESOURCES || strlen(plural) >= sizeof f->e[0].plural) {
        ag_error_set(err, AG_EINVAL, "cannot watch %s: too many resources or too long a name", plural);
        return NULL;
    }
    char path[300];
    if (group && *group)
        snprintf(path, sizeof path, "/apis/%s/%s/%s", group, version, plural);
    else
        snprintf(path, sizeof path, "/api/%s/%s", version, plural);
    ag_informer *inf = ag_informer_new(&f->kc, path, err);
    if (!inf)
        return NULL;
    size_t n = atomic_load(&f->n);
    e = &f->e[n];
    snprintf(e->plural, sizeof e->plural, "%s", plural);
    e->namespaced = namespaced;
    e->inf = inf;
    atomic_store_explicit(&f->n, n + 1, memory_order_release);
    return inf;
}

/* DNS-1123 names only: they go into a URL path and a field selector unescaped */
static int dns_name(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

ag_informer *ag_informers_for_one(ag_informers *f, const char *version, const char *plural, const char *ns,
                                  const char *name, ag_error *err)
{
    char one[320];
    if (!dns_name(ns, 63) || !dns_name(name, 253) || strlen(plural) >= sizeof f->e[0].plural) {
        ag_error_set(err, AG_EINVAL, "cannot watch %s %s/%s: not a valid namespace and name", plural,
                     ns ? ns : "", name ? name : "");
        return NULL;
    }
    snprintf(one, sizeof one, "%s/%s", ns, name);
    entry *e = find_one(f, plural, one);
    if (e)
        return e->inf;
    if (f->n == MAX_RESOURCES || f->stopped) {
        ag_error_set(err, AG_EINVAL, "cannot watch %s %s: too many watch caches (%d) or stopping", plural, one,
                     MAX_RESOURCES);
        return NULL;
    }
    /* list and watch that one object: the API server filters, nothing else is sent */
    char path[700];
    snprintf(path, sizeof path, "/api/%s/namespaces/%s/%s?fieldSelector=metadata.name%%3D%s", version, ns, plural,
             name);
    ag_informer *inf = ag_informer_new(&f->kc, path, err);
    if (!inf)
        return NULL;
    if (f->started && ag_informer_run(inf, err)) {
        ag_informer_stop(inf);
        return NULL;
    }
    size_t n = atomic_load(&f->n);
    e = &f->e[n];
    snprintf(e->plural, sizeof e->plural, "%s", plural);
    snprintf(e->one, sizeof e->one, "%s", one);
    e->namespaced = 1;
    e->inf = inf;
    atomic_store_explicit(&f->n, n + 1, memory_order_release);
    return inf;
}

ag_informer *ag_informers_lookup(ag_informers *f, const char *plural)
{
    entry *e = find(f, plural);
    return e ? e->inf : NULL;
}

json_t *ag_informers_get(ag_informers *f, const char *plural, const char *ns, const char *name)
{
    entry *e = find(f, plural);
    if (!e && name) {
        char one[320];
        snprintf(one, sizeof one, "%s/%s", ns ? ns : "", name);
        e = find_one(f, plural, one);
    }
    if (!e || !name)
        return NULL;
    char key[512];
    if (e->namespaced)
        snprintf(key, sizeof key, "%s/%s", ns ? ns : "", name);
    else
        snprintf(key, sizeof key, "%s", name);
    return ag_informer_get(e->inf, key);
}

int ag_informers_start(ag_informers *f, ag_error *err)
{
    f->started = 1;
    for (size_t i = 0; i < f->n; i++) {
        int rc = ag_informer_run(f->e[i].inf, err);
        if (rc)
            return rc;
    }
    return 0;
}

void ag_informers_stop(ag_informers *f)
{
    if (!f || f->stopped)
        return;
    f->stopped = 1;
    for (size_t i = 0; i < f->n; i++)
        ag_informer_request_stop(f->e[i].inf); /* all at once: each watch takes up to a second */
    for (size_t i = 0; i < f->n; i++)
        ag_informer_join(f->e[i].inf);
}

void ag_informers_free(ag_informers *f)
{
    if (!f)
        return;
    ag_informers_stop(f);
    for (size_t i = 0; i < f->n; i++)
        ag_informer_stop(f->e[i].inf);
    ag_kube_config_clear(&f->kc);
    free(f);
}

size_t ag_informers_count(ag_informers *f)
{
    return f ? atomic_load(&f->n) : 0;
}

void ag_informers_stats(ag_informers *f, ag_informer_stats *out)
{
    memset(out, 0, sizeof *out);
    out->synced = 1;
    for (size_t i = 0; f && i < f->n; i++) {
        ag_informer_stats st;
        ag_informer_stats_get(f->e[i].inf, &st);
        out->events += st.events;
        out->lists += st.lists;
        out->watch_restarts += st.watch_restarts;
        out->errors += st.errors;
        out->synced &= st.synced;
    }
}

/* ---- the admission path's cluster view ---- */

/* What the policies read through ag_view.get: namespaces (namespaceSelector, decide.c)
 * and the namespaced AIM objects whose presence shadows a cluster-scoped reference
 * (clusterReferences, policy/cluster_refs.c). A new reader there is a new row here. */
static const struct { const char *group, *version, *plural; int namespaced; } view_resources[] = {
    {"", "v1", "namespaces", 0},
    {"aim.eai.amd.com", "v1alpha1", "aimmodels", 1},
    {"aim.eai.amd.com", "v1alpha1", "aimservicetemplates", 1},
    {"aim.eai.amd.com", "v1alpha1", "aimruntimeconfigs", 1},
};

static json_t *view_get(void *ctx, const char *resource, const char *ns, const char *name)
{
    return ag_informers_get(ctx, resource, ns, name);
}

int ag_informers_view(ag_informers *f, ag_view *v, ag_error *err)
{
    for (size_t i = 0; i < sizeof view_resources / sizeof view_resources[0]; i++)
        if (!ag_informers_for(f, view_resources[i].group, view_resources[i].version, view_resources[i].plural,
                              view_resources[i].namespaced, err))
            return AG_ERR;
    v->ctx = f;
    v->get = view_get;
    return 0;
}
