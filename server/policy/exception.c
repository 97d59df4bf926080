/* spec.exceptions at decision time: does an entry waive a control for this request.
 * (Exceptions are compiled with the document, document.c: the controls they may name
 * come from the block table.) */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pol_control_matches(const char *name, const char *control)
{
    size_t n = strlen(name);
    return !strcmp(name, control) || (!strncmp(name, control, n) && control[n] == '_');
}

int pol_exception_applies(const policy *pol, const eval_ctx *e, const char *control)
{
    for (size_t i = 0; i < pol->nexc; i++) {
        const exception_ *x = &pol->exc[i];
        if (x->expires && e->now >= x->expires)
            continue;
        int named = 0;
        for (size_t j = 0; !named && j < x->controls.n; j++)
            named = pol_control_matches(x->controls.v[j], control);
        if (!named)
            continue;
        if (x->namespaces.n && !pol_strlist_has_glob(&x->namespaces, e->ns))
            continue;
        if (x->names.n && !pol_strlist_has_glob(&x->names, e->name))
            continue;
        if (x->users.n && !pol_strlist_has_glob(&x->users, e->req->username))
            continue;
        if (x->kinds.n && !pol_kind_matches(&x->kinds, e->group, e->kind))
            continue;
        if (e->decision) {
            char key[128], val[512];
            snprintf(key, sizeof key, "%s.exception.%s", pol->name, control);
            snprintf(val, sizeof val, "waived by exception at %s: %s", x->where, x->reason);
            ag_decision_annotate(e->decision, key, val);
        }
        if (e->want_results) {
            /* the context is the decider's own: recording is its bookkeeping, not a change
             * of what is judged */
            eval_ctx *w = (eval_ctx *)e;
            size_t k = 0;
            while (k < w->nwaived && !(w->waived[k].pol == pol && w->waived[k].x == x &&
                                       !strcmp(w->waived[k].control, control)))
                k++;
            if (k == w->nwaived && k < POL_MAX_WAIVERS)
                w->waived[w->nwaived++] = (waiver){pol, control, x};
        }
        return 1;
    }
    return 0;
}
