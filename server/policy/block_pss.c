/* spec.validate.podSecurity: the Pod Security Standards level every pod spec must
 * meet (the checks themselves are pss.c, aimguard/pss.h). */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/imageref.h"

/* validate.podSecurity.exempt and image-scoped exceptions, asked per container */
typedef struct exempt_ctx {
    const policy *pol;
    const eval_ctx *e;
    int use_exceptions; /* image-scoped exceptions count too */
    int hit;            /* one of them exempted a container */
} exempt_ctx;

static int container_exempt(void *ctx, const char *check, const json_t *container)
{
    const exempt_ctx *x = ctx;
    const char *image = json_string_value(json_object_get(container, "image"));
    const char *name = json_string_value(json_object_get(container, "name"));
    for (size_t i = 0; i < x->pol->npss_exempt; i++) {
        const pss_exempt *ex = &x->pol->pss_exempt[i];
        int named = 0;
        for (size_t j = 0; !named && j < ex->controls.n; j++)
            named = pol_control_matches(ex->controls.v[j], check);
        if (!named)
            continue;
        if (ex->containers.n && !(name && pol_strlist_has_glob(&ex->containers, name)))
            continue;
        if (ex->images.n) {
            ag_imageref r;
            ag_error err = {0};
            int hit = 0;
            if (image && !ag_imageref_parse(image, &r, &err)) {
                for (size_t j = 0; !hit && j < ex->images.n; j++)
                    hit = ag_imageref_match(&r, ex->images.v[j]) == 1;
                ag_imageref_clear(&r);
            }
            if (!hit)
                continue; /* an image that does not parse is never exempt */
        }
        return 1;
    }
    if (x->use_exceptions && pol_exception_for_image(x->pol, x->e, check, image)) {
        ((exempt_ctx *)ctx)->hit = 1;
        return 1;
    }
    return 0;
}

/* r reports check with exactly this message (the same containers named) */
static int same_finding(const ag_pss_result *r, const char *check, const char *message)
{
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(r->items[i].check, check))
            return !strcmp(r->items[i].message, message);
    return 0;
}

/* Image-scoped exceptions exempted containers in `with`: a check whose finding is
 * another without them (absent, or naming more containers) was waived by them, and is
 * recorded once, for the exception of the first container it covers (a waiver that
 * changed nothing is not recorded). 0, or -1 on OOM. */
static int record_image_waivers(const policy *pol, eval_ctx *e, const ag_podspec_ref *spec,
                                const ag_pss_result *with, ag_error *err)
{
    exempt_ctx plain = {pol, e, 0, 0};
    ag_pss_result without = {0};
    if (ag_pss_check_pod_exempt((ag_pss_level)pol->pss_level, spec, container_exempt, &plain, &without, err)) {
        ag_pss_result_clear(&without);
        return -1;
    }
    for (size_t j = 0; j < without.count; j++) {
        const char *check = without.items[j].check;
        /* unchanged by the exceptions: they waived nothing of it */
        if (same_finding(with, check, without.items[j].message) || pol_exception_applies(pol, e, check))
            continue;
        ag_container_iter it;
        ag_container_ref cr;
        ag_container_iter_init(&it, spec);
        while (ag_container_next(&it, &cr)) {
            const exception_ *x =
                pol_exception_for_image(pol, e, check, json_string_value(json_object_get(cr.c, "image")));
            if (x) {
                pol_exception_record(pol, e, x, check);
                break;
            }
        }
    }
    ag_pss_result_clear(&without);
    return 0;
}

static void validate_pss(const policy *pol, eval_ctx *e, vlist *out, ag_error *err)
{
    /* privileged checks nothing; an UPDATE that keeps the pod specs was judged before */
    if (pol->pss_level <= 0 || e->specs_unchanged)
        return;
    for (size_t i = 0; i < e->nspecs; i++) {
        ag_pss_result res = {0};
        exempt_ctx x = {pol, e, 0, 0};
        int any = pol->npss_exempt > 0;
        for (size_t k = 0; k < pol->nexc; k++)
            x.use_exceptions |= pol->exc[k].images.n > 0;
        if (ag_pss_check_pod_exempt((ag_pss_level)pol->pss_level, &e->specs[i],
                                    any || x.use_exceptions ? container_exempt : NULL, &x, &res, err) ||
            (x.hit && record_image_waivers(pol, e, &e->specs[i], &res, err))) {
            out->oom = 1;
            ag_pss_result_clear(&res);
            return;
        }
        for (size_t j = 0; j < res.count; j++) {
            if (pol_exception_applies(pol, e, res.items[j].check))
                continue;
            /* the rule names the level and the PSA check: podSecurity/restricted/runAsNonRoot */
            char rule[96];
            snprintf(rule, sizeof rule, "podSecurity/%s/%s",
                     ag_pss_level_name((ag_pss_level)pol->pss_level), res.items[j].check);
            pol_vlist_add(out, pol, rule, res.items[j].check, pol->action, res.items[j].message,
                      res.items[j].path);
        }
        ag_pss_result_clear(&res);
    }
}

static void pss_init(policy *p) { p->pss_level = -1; }

/* validate.podSecurity.exempt[]: {controls, images, containers} */
static void compile_exempt(cctx *c, const ag_ynode *v, policy *p)
{
    static const char *const keys[] = {"controls", "images", "containers", NULL};
    if (!v || v->type != AG_YNODE_SEQ || v->count == 0) {
        pol_err(c, v, "podSecurity.exempt must be a non-empty list of {controls, images, containers}");
        return;
    }
    if (!(p->pss_exempt = calloc(v->count, sizeof *p->pss_exempt)))
        return;
    for (size_t i = 0; i < v->count; i++) {
        const ag_ynode *e = v->items[i];
        pss_exempt *x = &p->pss_exempt[p->npss_exempt++];
        if (pol_check_map(c, e, "podSecurity.exempt[]", keys))
            continue;
        const ag_ynode *n = ag_ynode_get(e, "controls");
        if (!n) {
            pol_err(c, e, "podSecurity.exempt[] needs controls: the PSS checks it skips (e.g. "
                           "[privileged, hostNamespaces, capabilities])");
        } else if (!pol_get_strlist(c, n, "podSecurity.exempt[].controls", &x->controls)) {
            for (size_t j = 0; j < x->controls.n; j++) {
                int ok = 0;
                for (const char *const *id = ag_pss_check_ids(); !ok && *id; id++)
                    ok = pol_control_matches(x->controls.v[j], *id);
                char hint[96];
                if (!ok)
                    pol_err(c, n->type == AG_YNODE_SEQ && j < n->count ? n->items[j] : n,
                            "podSecurity.exempt[].controls: '%s' is not a Pod Security check ID%s",
                            x->controls.v[j], pol_hint(hint, sizeof hint, x->controls.v[j], ag_pss_check_ids()));
            }
            if (!x->controls.n)
                pol_err(c, n, "podSecurity.exempt[].controls must name at least one check");
        }
        if ((n = ag_ynode_get(e, "images")))
            pol_image_patterns_compile(c, n, "podSecurity.exempt[].images", &x->images);
        if ((n = ag_ynode_get(e, "containers")) && !pol_get_strlist(c, n, "podSecurity.exempt[].containers",
                                                                    &x->containers) && !x->containers.n)
            pol_err(c, n, "podSecurity.exempt[].containers must name at least one container");
        if (!ag_ynode_get(e, "images") && !ag_ynode_get(e, "containers"))
            pol_err(c, e, "podSecurity.exempt[] needs images or containers (whom it exempts)");
    }
}

static void pss_compile(cctx *c, const ag_ynode *v, policy *p)
{
    static const char *const keys[] = {"level", "version", "exempt", NULL};
    if (pol_check_map(c, v, "spec.validate.podSecurity", keys))
        return;
    const ag_ynode *ex = ag_ynode_get(v, "exempt");
    if (ex && !pol_need_version(c, ex, "podSecurity.exempt", 2))
        compile_exempt(c, ex, p);
    const ag_ynode *lv = ag_ynode_get(v, "level");
    const char *ls = pol_scalar(c, lv, "podSecurity.level");
    static const char *const levels[] = {"baseline", "restricted", "privileged", NULL};
    static const char *const versions[] = {"latest", "v1.37", NULL};
    char hint[96];
    if (ls && (p->pss_level = ag_pss_level_parse(ls)) < 0)
        pol_err(c, lv, "podSecurity.level must be baseline, restricted or privileged%s",
                pol_hint(hint, sizeof hint, ls, levels));
    const ag_ynode *ver = ag_ynode_get(v, "version");
    const char *vs = ver ? pol_scalar(c, ver, "podSecurity.version") : "latest";
    if (vs && strcmp(vs, "latest") && strcmp(vs, "v1.37"))
        pol_err(c, ver, "podSecurity.version: only latest (= v1.37) is implemented%s",
                pol_hint(hint, sizeof hint, vs, versions));
}

static int pss_present(const policy *p) { return p->pss_level >= 0; }

static void pss_free(policy *p)
{
    for (size_t i = 0; i < p->npss_exempt; i++) {
        pol_strlist_free(&p->pss_exempt[i].controls);
        pol_strlist_free(&p->pss_exempt[i].images);
        pol_strlist_free(&p->pss_exempt[i].containers);
    }
    free(p->pss_exempt);
    p->pss_exempt = NULL;
    p->npss_exempt = 0;
}

/* an exception names PSS check IDs (runAsNonRoot, capabilities_restricted, ...) */
static size_t pss_names(const policy *p, const char **out)
{
    (void)p;
    const char *const *id = ag_pss_check_ids();
    size_t n = 0;
    for (; id[n]; n++)
        if (out)
            out[n] = id[n];
    return n;
}

static int pss_uses(const policy *p, const char *control)
{
    for (const char *const *id = ag_pss_check_ids(); p->pss_level > AG_PSS_PRIVILEGED && *id; id++)
        if (pol_control_matches(control, *id))
            return 1;
    return 0;
}

const pol_block pol_block_pss = {
    .key = "podSecurity", .phase = POL_VALIDATE, .init = pss_init, .compile = pss_compile,
    .present = pss_present, .validate = validate_pss, .names = pss_names, .uses = pss_uses,
    .free = pss_free,
};
