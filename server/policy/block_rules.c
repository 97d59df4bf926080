/* spec.validate.rules: the generic rule as a block. The condition vocabulary is compiled
 * by cond_compile.c and run by cond_eval.c; this file is the block's row. */
#include "schema.h"

#include <stdlib.h>
#include <string.h>

static void rules_compile(cctx *c, const ag_ynode *v, policy *p)
{
    if (v->type != AG_YNODE_SEQ) {
        pol_err(c, v, "spec.validate.rules must be a list");
    } else if ((p->rules = calloc(v->count ? v->count : 1, sizeof *p->rules))) {
        for (size_t i = 0; i < v->count; i++) {
            pol_rule_compile(c, v->items[i], p, &p->rules[p->nrules]);
            p->nrules++;
        }
    }
}

static int rules_present(const policy *p) { return p->nrules > 0; }

static void rules_validate(const policy *p, eval_ctx *e, vlist *out, ag_error *err)
{
    (void)err;
    for (size_t r = 0; r < p->nrules && !out->oom; r++)
        pol_rule_run(p, &p->rules[r], e, out);
}

static void rules_free(policy *p)
{
    for (size_t i = 0; i < p->nrules; i++) {
        generic_rule *r = &p->rules[i];
        free(r->name);
        free(r->message);
        pol_when_free(&r->when);
        pol_rpath_free(&r->each);
        pol_cnode_free(r->where);
        pol_cnode_free(r->assert);
        free(r->category);
    }
    free(p->rules);
}

/* an exception may name a rule of its own policy */
static size_t rules_names(const policy *p, const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].name) {
            if (out)
                out[n] = p->rules[i].name;
            n++;
        }
    return n;
}

static int rules_uses(const policy *p, const char *control)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].name && pol_control_matches(control, p->rules[i].name))
            return 1;
    return 0;
}

const pol_block pol_block_rules = {
    .key = "rules", .phase = POL_VALIDATE, .compile = rules_compile, .present = rules_present,
    .validate = rules_validate, .free = rules_free, .names = rules_names, .uses = rules_uses,
    .report_rules = rules_names,
};
