/* spec.validate.podSecurity: the Pod Security Standards level every pod spec must
 * meet (the checks themselves are pss.c, aimguard/pss.h). */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void validate_pss(const policy *pol, eval_ctx *e, vlist *out, ag_error *err)
{
    /* privileged checks nothing; an UPDATE that keeps the pod specs was judged before */
    if (pol->pss_level <= 0 || e->specs_unchanged)
        return;
    for (size_t i = 0; i < e->nspecs; i++) {
        ag_pss_result res = {0};
        if (ag_pss_check_pod((ag_pss_level)pol->pss_level, &e->specs[i], &res, err)) {
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

static void pss_compile(cctx *c, const ag_ynode *v, policy *p)
{
    static const char *const keys[] = {"level", "version", NULL};
    if (pol_check_map(c, v, "spec.validate.podSecurity", keys))
        return;
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
};
