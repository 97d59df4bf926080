/* spec.mutate.rules: generic mutations (issue 14, recipes 21-25). Each rule names a
 * target found through the pod-spec carrier table (every pod spec, its pod metadata, or
 * every container), an optional condition, and what to add:
 *   set     a map merged into the target where the target has no value (null counts as
 *           none); with overwrite: true an explicit different value is replaced too;
 *   append  lists whose elements are appended unless an equal one is there (an element
 *           with a `name` is "equal" to any element of that name: env vars and volumes
 *           are keyed by name and a second one would be refused or shadow the first).
 * Both only ever add what is missing, so the patch of an object already mutated is
 * empty (idempotent), and everything lands in the request's one JSON Patch. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/imageref.h"
#include "aimguard/podspec.h"

#define PTR 512

static const char *const targets[] = {"pod", "podMetadata", "containers", NULL};

/* The fields of a PodSpec and of a Container (Kubernetes v1.34): a key of set/append
 * outside them is most likely a typo, and the API server would drop it from the decoded
 * object (or refuse it) without anyone noticing, so check warns with the closest name.
 * A warning, not an error: a newer Kubernetes may add fields. */
static const char *const pod_fields[] = {
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers", "dnsConfig",
    "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC", "hostNetwork",
    "hostPID", "hostUsers", "hostname", "hostnameOverride", "imagePullSecrets", "initContainers",
    "nodeName", "nodeSelector", "os", "overhead", "preemptionPolicy", "priority", "priorityClassName",
    "readinessGates", "resourceClaims", "resources", "restartPolicy", "runtimeClassName",
    "schedulerName", "schedulingGates", "securityContext", "serviceAccount", "serviceAccountName",
    "setHostnameAsFQDN", "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds",
    "tolerations", "topologySpreadConstraints", "volumes", NULL};
static const char *const container_fields[] = {
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "name",
    "ports", "readinessProbe", "resizePolicy", "resources", "restartPolicy", "restartPolicyRules",
    "securityContext", "startupProbe", "stdin", "stdinOnce", "terminationMessagePath",
    "terminationMessagePolicy", "tty", "volumeDevices", "volumeMounts", "workingDir", NULL};

static void warn_unknown_fields(cctx *c, const ag_ynode *n, const mutation_rule *m)
{
    const char *const *known = m->target == MUT_POD ? pod_fields : m->target == MUT_CONTAINERS ? container_fields
                                                                                                : NULL;
    for (size_t i = 0; known && n && n->type == AG_YNODE_MAP && i + 1 < n->count; i += 2) {
        const ag_ynode *k = n->items[i];
        int ok = 0;
        for (const char *const *f = known; !ok && k->type == AG_YNODE_SCALAR && *f; f++)
            ok = !strcmp(*f, k->value);
        char hint[96];
        if (!ok && k->type == AG_YNODE_SCALAR)
            pol_warn(c, k, "spec.mutate.rules[]: '%s' is not a field of a %s%s; the API server would drop or "
                     "refuse it", k->value, m->target == MUT_POD ? "PodSpec" : "Container",
                     pol_hint(hint, sizeof hint, k->value, known));
    }
}

static void compile_when(cctx *c, const ag_ynode *n, mutation_rule *m)
{
    static const char *const keys[] = {"minReplicas", "imageHasDigest", NULL};
    if (pol_check_map(c, n, "spec.mutate.rules[].when", keys))
        return;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "minReplicas")))
        pol_get_int(c, v, "rules[].when.minReplicas", 1, 1000000, &m->min_replicas);
    if ((v = ag_ynode_get(n, "imageHasDigest"))) {
        int b = 0;
        if (!pol_get_bool(c, v, "rules[].when.imageHasDigest", &b))
            m->image_digest = b;
        if (m->target && m->target != MUT_CONTAINERS)
            pol_err(c, v, "rules[].when.imageHasDigest needs target: containers (it judges a "
                           "container's image)");
    }
}

/* append: {listKey: [elements...]}; every value a list of objects or scalars */
static json_t *compile_append(cctx *c, const ag_ynode *n)
{
    if (!n || n->type != AG_YNODE_MAP) {
        pol_err(c, n, "spec.mutate.rules[].append must be a mapping of list fields to the "
                       "elements to append (e.g. tolerations: [...])");
        return NULL;
    }
    if (pol_check_map(c, n, "spec.mutate.rules[].append", NULL))
        return NULL;
    KEY_EACH(n, k, v) {
        if (v->type != AG_YNODE_SEQ || v->count == 0)
            pol_err(c, v, "rules[].append.%s must be a non-empty list of elements", k->value);
    }
    return pol_to_json(c, n);
}

static void compile_rule(cctx *c, const ag_ynode *n, mutation_rule *m, policy *p, size_t idx)
{
    static const char *const keys[] = {"name", "target", "when", "set", "append", "overwrite", NULL};
    m->image_digest = -1;
    if (pol_check_map(c, n, "spec.mutate.rules[]", keys))
        return;
    const ag_ynode *v = ag_ynode_get(n, "name");
    const char *name = v ? pol_scalar(c, v, "rules[].name") : NULL;
    if (!v)
        pol_err(c, n, "spec.mutate.rules[] needs a name (it names the rule in explain and in "
                       "exceptions[].controls)");
    else if (name && !*name)
        pol_err(c, v, "rules[].name must not be empty");
    else if (name) {
        for (size_t i = 0; i < idx; i++)
            if (p->mutations[i].name && !strcmp(p->mutations[i].name, name))
                pol_err(c, v, "spec.mutate.rules: the name '%s' is used twice", name);
        m->name = pol_strdup(c, v, name);
    }
    v = ag_ynode_get(n, "target");
    const char *t = v ? pol_scalar(c, v, "rules[].target") : NULL;
    char hint[96];
    if (!v)
        pol_err(c, n, "spec.mutate.rules[] needs a target: pod, podMetadata or containers");
    else if (t && !strcmp(t, "pod"))
        m->target = MUT_POD;
    else if (t && !strcmp(t, "podMetadata"))
        m->target = MUT_POD_METADATA;
    else if (t && !strcmp(t, "containers"))
        m->target = MUT_CONTAINERS;
    else if (t)
        pol_err(c, v, "rules[].target must be pod, podMetadata or containers%s",
                pol_hint(hint, sizeof hint, t, targets));
    if ((v = ag_ynode_get(n, "when")))
        compile_when(c, v, m);
    if ((v = ag_ynode_get(n, "overwrite"))) {
        pol_get_bool(c, v, "rules[].overwrite", &m->overwrite);
        if (!ag_ynode_get(n, "set"))
            pol_err(c, v, "rules[].overwrite applies to set (append never replaces an element)");
    }
    if ((v = ag_ynode_get(n, "set"))) {
        if (v->type != AG_YNODE_MAP || v->count == 0)
            pol_err(c, v, "rules[].set must be a non-empty mapping of the fields to add");
        else if (!pol_check_map(c, v, "spec.mutate.rules[].set", NULL))
            m->set = pol_to_json(c, v);
    }
    if ((v = ag_ynode_get(n, "append")))
        m->append = compile_append(c, v);
    if (!ag_ynode_get(n, "set") && !ag_ynode_get(n, "append"))
        pol_err(c, n, "spec.mutate.rules[] needs set or append (what to add)");
    if (m->set)
        warn_unknown_fields(c, ag_ynode_get(n, "set"), m);
    if (m->append)
        warn_unknown_fields(c, ag_ynode_get(n, "append"), m);
    if (m->target == MUT_POD_METADATA && m->set) {
        const char *k;
        json_t *x;
        json_object_foreach(m->set, k, x)
            if (strcmp(k, "labels") && strcmp(k, "annotations"))
                pol_err(c, ag_ynode_get(n, "set"), "rules[].set: target podMetadata sets labels and "
                         "annotations only, not '%s'", k);
        /* a Pod's pod metadata is its own: setting this annotation compares its value */
        if (json_object_get(json_object_get(m->set, "annotations"), POL_LAST_APPLIED))
            p->reads_bookkeeping = 1;
    }
}

static void mutations_compile(cctx *c, const ag_ynode *n, policy *p)
{
    if (pol_need_version(c, n, "spec.mutate.rules", 2))
        return;
    if (!n || n->type != AG_YNODE_SEQ || n->count == 0) {
        pol_err(c, n, "spec.mutate.rules must be a non-empty list of mutations");
        return;
    }
    p->mutations = calloc(n->count, sizeof *p->mutations);
    if (!p->mutations) {
        pol_err(c, n, "out of memory");
        return;
    }
    for (size_t i = 0; i < n->count; i++) {
        compile_rule(c, n->items[i], &p->mutations[i], p, i);
        p->nmutations++;
    }
}

/* ---- run ---- */

/* The value `$(pod.labels)` in set stands for the pod's labels (a topology spread
 * constraint's selector); the only substitution, so no value is ever evaluated. NULL
 * when a pod without labels leaves nothing to select with, or (p->oom set) out of memory. */
static json_t *resolve(const json_t *v, json_t *pod_labels, ag_patch *p)
{
    const char *s = json_string_value(v);
    json_t *out = NULL;
    if (s && !strcmp(s, "$(pod.labels)")) {
        if (!json_is_object(pod_labels) || !json_object_size(pod_labels))
            return NULL;
        out = json_deep_copy(pod_labels);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        out = json_object();
        if (!out) {
            p->oom = 1;
            return NULL;
        }
        json_object_foreach((json_t *)v, k, x) {
            json_t *r = resolve(x, pod_labels, p);
            if (!r || json_object_set_new(out, k, r)) {
                if (r)
                    p->oom = 1;
                json_decref(out);
                return NULL;
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        out = json_array();
        if (!out) {
            p->oom = 1;
            return NULL;
        }
        json_array_foreach(v, i, x) {
            json_t *r = resolve(x, pod_labels, p);
            if (!r || json_array_append_new(out, r)) {
                if (r)
                    p->oom = 1;
                json_decref(out);
                return NULL;
            }
        }
    } else {
        out = json_deep_copy(v);
    }
    if (!out)
        p->oom = 1;
    return out;
}

/* Merges want into target (at ptr): what is absent (or null) is added; objects on both
 * sides are merged key by key; anything else explicit stays unless overwrite. */
static void merge(ag_patch *p, json_t *target, const char *ptr, const json_t *want, int overwrite,
                  json_t *pod_labels)
{
    const char *k;
    json_t *w;
    json_object_foreach((json_t *)want, k, w) {
        json_t *have = json_object_get(target, k);
        if (have && !json_is_null(have)) {
            if (json_is_object(have) && json_is_object(w)) {
                char cptr[PTR];
                if (ag_ptr_join(cptr, sizeof cptr, ptr, k)) {
                    p->oom = 1;
                    return;
                }
                merge(p, have, cptr, w, overwrite, pod_labels);
                continue;
            }
            if (!overwrite)
                continue;
        }
        json_t *val = resolve(w, pod_labels, p);
        if (!val) {
            if (p->oom)
                return;
            continue; /* $(pod.labels) of a pod without labels: nothing to select with */
        }
        if (have && json_equal(have, val)) {
            json_decref(val);
            continue;
        }
        ag_patch_set(p, target, ptr, k, val);
    }
}

static int same_element(const json_t *a, const json_t *b)
{
    const char *na = json_string_value(json_object_get(a, "name"));
    const char *nb = json_string_value(json_object_get(b, "name"));
    if (na && nb)
        return !strcmp(na, nb);
    return json_equal(a, b);
}

static void append(ag_patch *p, json_t *target, const char *ptr, const json_t *want)
{
    const char *k;
    json_t *elems;
    json_object_foreach((json_t *)want, k, elems) {
        json_t *have = json_object_get(target, k);
        if (have && !json_is_null(have) && !json_is_array(have))
            continue; /* not a list: not ours to change */
        size_t i;
        json_t *el;
        json_array_foreach(elems, i, el) {
            int present = 0;
            size_t j;
            json_t *h;
            json_array_foreach(json_object_get(target, k), j, h)
                present |= same_element(h, el);
            if (present)
                continue;
            char aptr[PTR];
            json_t *arr = ag_patch_array(p, target, ptr, k, aptr, sizeof aptr);
            if (!arr)
                return;
            ag_patch_append(p, arr, aptr, json_deep_copy(el)); /* NULL: ag_patch_append sets oom */
        }
    }
}

static void apply(const mutation_rule *m, ag_patch *p, json_t *target, const char *ptr, json_t *pod_labels)
{
    if (m->set)
        merge(p, target, ptr, m->set, m->overwrite, pod_labels);
    if (m->append)
        append(p, target, ptr, m->append);
}

/* Deployment, ReplicaSet, StatefulSet, ...: spec.replicas, 1 when absent (the API default) */
static long long replicas_of(const json_t *object)
{
    const json_t *r = json_object_get(json_object_get(object, "spec"), "replicas");
    return json_is_integer(r) ? (long long)json_integer_value(r) : 1;
}

static int image_has_digest(const json_t *container)
{
    const char *img = json_string_value(json_object_get(container, "image"));
    ag_imageref r;
    ag_error err = {0};
    if (!img || ag_imageref_parse(img, &r, &err))
        return -1; /* unparsable: the images block judges it; no mutation guesses */
    int d = r.digest != NULL;
    ag_imageref_clear(&r);
    return d;
}

static void mutate_spec(const mutation_rule *m, eval_ctx *e, ag_patch *p, ag_podspec_ref *ref)
{
    json_t *labels = json_object_get(ref->meta, "labels");
    if (m->target == MUT_POD_METADATA) {
        /* metadata stays mutable on a Pod UPDATE */
        char mptr[PTR];
        json_t *meta = ref->meta;
        if (!meta) {
            if (!json_is_object(ref->meta_parent))
                return;
            snprintf(mptr, sizeof mptr, "%s", ref->meta_ptr);
            char parent[PTR];
            const char *slash = strrchr(ref->meta_ptr, '/');
            snprintf(parent, sizeof parent, "%.*s", (int)(slash ? slash - ref->meta_ptr : 0), ref->meta_ptr);
            meta = ag_patch_object(p, ref->meta_parent, parent, "metadata", mptr, sizeof mptr);
            ref->meta = meta;
        } else {
            snprintf(mptr, sizeof mptr, "%s", ref->meta_ptr);
        }
        if (meta)
            apply(m, p, meta, mptr, labels);
        return;
    }
    if (e->pod_update)
        return; /* a Pod's spec is immutable past creation */
    if (m->target == MUT_POD) {
        apply(m, p, ref->spec, ref->ptr, labels);
        return;
    }
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, ref);
    while (ag_container_next(&it, &cr)) {
        if (cr.list == 2)
            continue; /* ephemeral containers may not set resources, ports or probes */
        if (m->image_digest >= 0 && image_has_digest(cr.c) != m->image_digest)
            continue;
        char cptr[PTR];
        ag_container_ptr(ref, &cr, cptr, sizeof cptr);
        apply(m, p, cr.c, cptr, labels);
    }
}

static void mutations_mutate(const policy *pol, eval_ctx *e, ag_patch *p)
{
    for (size_t i = 0; i < pol->nmutations; i++) {
        const mutation_rule *m = &pol->mutations[i];
        if (m->min_replicas && replicas_of(e->object) < m->min_replicas)
            continue;
        if (pol_exception_applies(pol, e, m->name))
            continue;
        for (size_t s = 0; s < e->nspecs && s < AG_PODSPEC_MAX; s++)
            mutate_spec(m, e, p, &e->specs[s]);
    }
}

static int mutations_present(const policy *p) { return p->nmutations > 0; }

static void mutations_free(policy *p)
{
    for (size_t i = 0; i < p->nmutations; i++) {
        free(p->mutations[i].name);
        json_decref(p->mutations[i].set);
        json_decref(p->mutations[i].append);
    }
    free(p->mutations);
    p->mutations = NULL;
    p->nmutations = 0;
}

/* an exception may turn a mutation off by its name */
static size_t mutations_names(const policy *p, const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nmutations; i++)
        if (p->mutations[i].name) {
            if (out)
                out[n] = p->mutations[i].name;
            n++;
        }
    return n;
}

static int mutations_uses(const policy *p, const char *control)
{
    for (size_t i = 0; i < p->nmutations; i++)
        if (p->mutations[i].name && !strcmp(p->mutations[i].name, control))
            return 1;
    return 0;
}

const pol_block pol_block_mutations = {
    .key = "rules", .phase = POL_MUTATE, .compile = mutations_compile,
    .present = mutations_present, .mutate = mutations_mutate, .free = mutations_free,
    .names = mutations_names, .uses = mutations_uses,
};
