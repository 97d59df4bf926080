/* spec.exceptions at decision time: does an entry waive a control for this request.
 * (Exceptions are compiled with the document, document.c: the controls they may name
 * come from the block table.) */
#include "policy_int.h"

#include "aimguard/imageref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pol_control_matches(const char *name, const char *control)
{
    size_t n = strlen(name);
    return !strcmp(name, control) || (!strncmp(name, control, n) && control[n] == '_');
}

/* The entry names the control and its scope (time, namespaces, names, users, kinds)
 * covers this request. */
static int entry_covers(const exception_ *x, const eval_ctx *e, const char *control)
{
    if (x->expires && e->now >= x->expires)
        return 0;
    int named = 0;
    for (size_t j = 0; !named && j < x->controls.n; j++)
        named = pol_control_matches(x->controls.v[j], control);
    if (!named)
        return 0;
    if (x->namespaces.n && !pol_strlist_has_glob(&x->namespaces, e->ns))
        return 0;
    if (x->names.n && !pol_strlist_has_glob(&x->names, e->name))
        return 0;
    if (x->users.n && !pol_strlist_has_glob(&x->users, e->req->username))
        return 0;
    if (x->kinds.n && !pol_kind_matches(&x->kinds, e->group, e->kind))
        return 0;
    return 1;
}

void pol_exception_record(const policy *pol, const eval_ctx *e, const exception_ *x, const char *control)
{
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
}

int pol_exception_applies(const policy *pol, const eval_ctx *e, const char *control)
{
    for (size_t i = 0; i < pol->nexc; i++) {
        const exception_ *x = &pol->exc[i];
        if (x->images.n || !entry_covers(x, e, control))
            continue; /* an image-scoped entry waives for its containers only */
        pol_exception_record(pol, e, x, control);
        return 1;
    }
    return 0;
}

const exception_ *pol_exception_for_image(const policy *pol, const eval_ctx *e, const char *control,
                                          const char *image)
{
    ag_imageref r;
    ag_error err = {0};
    int parsed = 0; /* parsed once, on the first entry that needs it */
    const exception_ *hit = NULL;
    for (size_t i = 0; !hit && i < pol->nexc; i++) {
        const exception_ *x = &pol->exc[i];
        if (!x->images.n || !image || !entry_covers(x, e, control))
            continue;
        if (!parsed)
            parsed = ag_imageref_parse(image, &r, &err) ? -1 : 1;
        if (parsed < 0)
            return NULL; /* an image that does not parse matches no pattern */
        for (size_t j = 0; !hit && j < x->images.n; j++)
            if (ag_imageref_match(&r, x->images.v[j]) == 1)
                hit = x;
    }
    if (parsed > 0)
        ag_imageref_clear(&r);
    return hit;
}
