/* spec.mutate.gpu: GPU placement. Pods that request a GPU resource get the node
 * selector, affinity and tolerations; the others may be kept off GPU nodes. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define PTR 512

static json_t *compile_exprs(cctx *c, const ag_ynode *n, const char *where)
{
    static const char *const keys[] = {"key", "operator", "values", NULL};
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", NULL};
    if (!n || n->type != AG_YNODE_SEQ) {
        pol_err(c, n, "%s must be a list of {key, operator, values}", where);
        return NULL;
    }
    for (size_t i = 0; i < n->count; i++) {
        const ag_ynode *e = n->items[i];
        if (pol_check_map(c, e, where, keys))
            continue;
        if (!pol_scalar(c, ag_ynode_get(e, "key"), "key"))
            continue;
        const char *op = pol_scalar(c, ag_ynode_get(e, "operator"), "operator");
        int ok = 0;
        for (const char *const *o = ops; op && *o; o++)
            ok |= !strcmp(*o, op);
        char hint[96];
        if (op && !ok)
            pol_err(c, ag_ynode_get(e, "operator"), "%s: unknown operator '%s'%s", where, op,
                     pol_hint(hint, sizeof hint, op, ops));
        const ag_ynode *vals = ag_ynode_get(e, "values");
        int needs = op && (!strcmp(op, "In") || !strcmp(op, "NotIn") || !strcmp(op, "Gt") || !strcmp(op, "Lt"));
        if (needs && (!vals || vals->type != AG_YNODE_SEQ || vals->count == 0))
            pol_err(c, e, "%s: operator %s needs a non-empty values list", where, op);
        if (!needs && vals)
            pol_err(c, vals, "%s: operator %s takes no values", where, op);
        if (vals) {
            strlist tmp = {0};
            pol_get_strlist(c, vals, "values", &tmp);
            pol_strlist_free(&tmp);
        }
    }
    return pol_to_json(c, n);
}

static void compile_gpu(cctx *c, const ag_ynode *n, gpu_cfg *g)
{
    static const char *const keys[] = {"resources", "nodeSelector", "nodeAffinity", "tolerations",
                                       "nonGpuPods", NULL};
    static const char *const tkeys[] = {"key", "operator", "value", "effect", "tolerationSeconds", NULL};
    static const char *const nkeys[] = {"nodeAffinity", NULL};
    if (pol_check_map(c, n, "spec.mutate.gpu", keys))
        return;
    g->present = 1;
    KEY_EACH(n, k, v) {
        const char *f = k->value;
        if (!strcmp(f, "resources")) pol_get_strlist(c, v, "gpu.resources", &g->resources);
        else if (!strcmp(f, "nodeSelector")) pol_get_kv(c, v, "gpu.nodeSelector", &g->node_selector);
        else if (!strcmp(f, "nodeAffinity")) g->match_expressions = compile_exprs(c, v, "gpu.nodeAffinity");
        else if (!strcmp(f, "nonGpuPods")) {
            if (!pol_check_map(c, v, "gpu.nonGpuPods", nkeys) && ag_ynode_get(v, "nodeAffinity"))
                g->non_gpu_expressions = compile_exprs(c, ag_ynode_get(v, "nodeAffinity"),
                                                       "gpu.nonGpuPods.nodeAffinity");
        } else if (!strcmp(f, "tolerations")) {
            if (!v || v->type != AG_YNODE_SEQ) {
                pol_err(c, v, "gpu.tolerations must be a list");
                continue;
            }
            for (size_t i = 0; i < v->count; i++) {
                if (pol_check_map(c, v->items[i], "gpu.tolerations[]", tkeys))
                    continue;
                static const char *const topers[] = {"Equal", "Exists", NULL};
                static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
                char hint[96];
                const ag_ynode *op = ag_ynode_get(v->items[i], "operator");
                const char *ops = op ? pol_scalar(c, op, "operator") : "Equal";
                if (ops && strcmp(ops, "Equal") && strcmp(ops, "Exists"))
                    pol_err(c, op, "gpu.tolerations[].operator must be Equal or Exists%s",
                             pol_hint(hint, sizeof hint, ops, topers));
                const ag_ynode *ef = ag_ynode_get(v->items[i], "effect");
                const char *efs = ef ? pol_scalar(c, ef, "effect") : NULL;
                if (efs && strcmp(efs, "NoSchedule") && strcmp(efs, "PreferNoSchedule") &&
                    strcmp(efs, "NoExecute") && strcmp(efs, ""))
                    pol_err(c, ef, "gpu.tolerations[].effect must be NoSchedule, "
                                    "PreferNoSchedule or NoExecute%s", pol_hint(hint, sizeof hint, efs, effects));
            }
            g->tolerations = pol_to_json(c, v);
        }
    }
    if (g->resources.n == 0 && pol_strlist_add(&g->resources, "amd.com/gpu"))
        pol_err(c, n, "out of memory");
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

static void mutate_gpu(const policy *pol, eval_ctx *e, ag_patch *p)
{
    const gpu_cfg *g = &pol->gpu;
    if (!g->present || e->pod_update || pol_exception_applies(pol, e, "gpuPlacement"))
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
                ag_patch_default(p, ns, nptr, g->node_selector.k[k], json_string(g->node_selector.v[k]));
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

static void gpu_compile(cctx *c, const ag_ynode *n, policy *p) { compile_gpu(c, n, &p->gpu); }

static int gpu_present(const policy *p) { return p->gpu.present; }

static void gpu_free(policy *p)
{
    pol_strlist_free(&p->gpu.resources);
    pol_kvlist_free(&p->gpu.node_selector);
    json_decref(p->gpu.match_expressions);
    json_decref(p->gpu.tolerations);
    json_decref(p->gpu.non_gpu_expressions);
}

static const char *const gpu_controls[] = {"gpuPlacement", NULL};

const pol_block pol_block_gpu = {
    .key = "gpu", .phase = POL_MUTATE, .controls = gpu_controls,
    .compile = gpu_compile, .present = gpu_present, .mutate = mutate_gpu, .free = gpu_free,
};
