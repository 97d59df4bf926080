/* The kinds a policy set can judge in objects that already exist (`aimguard audit`
 * lists exactly these from a cluster): what the `match.kinds` of every policy with a
 * validate block names, expanded against the known kinds table. Existing objects are
 * judged as a CREATE by no user (ag_decide_existing), so a policy that matches only
 * other operations, or only some users, groups or service accounts, adds nothing. */
#include "policy_int.h"

#include "aimguard/kinds.h"

#include <stdlib.h>
#include <string.h>

static int has_validate(const policy *p)
{
    for (size_t i = 0; pol_blocks[i]; i++)
        if (pol_blocks[i]->phase == POL_VALIDATE && pol_blocks[i]->present(p))
            return 1;
    return p->nrules > 0;
}

static int judges_existing(const policy *p)
{
    const selector *m = &p->match;
    if (m->users.n || m->groups.n || m->service_accounts.n)
        return 0;
    return !m->operations.n || pol_strlist_has_glob(&m->operations, "CREATE");
}

static int add(ag_kind_ref **v, size_t *n, size_t *cap, const char *group, const char *kind, int known)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].group, group) && !strcmp((*v)[i].kind, kind))
            return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        ag_kind_ref *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return AG_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    ag_kind_ref *r = &(*v)[*n];
    r->group = strdup(group);
    r->kind = strdup(kind);
    r->known = known;
    if (!r->group || !r->kind) {
        free(r->group);
        free(r->kind);
        return AG_ENOMEM;
    }
    (*n)++;
    return 0;
}

/* One entry of a kinds list: every known kind it matches (the matcher itself decides, so
 * the two cannot disagree), or, for a custom group, the entry itself. */
static int expand(const char *pattern, ag_kind_ref **v, size_t *n, size_t *cap)
{
    size_t nk;
    const ag_kind_info *t = ag_kinds_table(&nk);
    strlist one = {(char **)&pattern, 1};
    int any = 0, rc = 0;
    for (size_t i = 0; !rc && i < nk; i++)
        if (pol_kind_matches(&one, t[i].group, t[i].kind)) {
            any = 1;
            rc = add(v, n, cap, t[i].group, t[i].kind, 1);
        }
    const char *slash = strrchr(pattern, '/');
    if (rc || any || !slash || (slash - pattern == 1 && pattern[0] == '*'))
        return rc;
    char group[256];
    size_t glen = (size_t)(slash - pattern);
    if (glen >= sizeof group)
        return 0;
    memcpy(group, pattern, glen);
    group[glen] = '\0';
    return add(v, n, cap, group, slash + 1, 0);
}

static int by_group_kind(const void *a, const void *b)
{
    const ag_kind_ref *x = a, *y = b;
    int c = strcmp(x->group, y->group);
    return c ? c : strcmp(x->kind, y->kind);
}

int ag_policy_set_kinds(const ag_policy_set *set, ag_kind_ref **out, size_t *count, ag_error *err)
{
    ag_kind_ref *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (size_t i = 0; !rc && set && i < set->n; i++) {
        const policy *p = &set->v[i];
        if (!has_validate(p) || !judges_existing(p))
            continue;
        for (size_t k = 0; !rc && k < p->match.kinds.n; k++)
            rc = expand(p->match.kinds.v[k], &v, &n, &cap);
    }
    if (rc) {
        ag_kind_refs_free(v, n);
        *out = NULL;
        *count = 0;
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    if (n)
        qsort(v, n, sizeof *v, by_group_kind);
    *out = v;
    *count = n;
    return 0;
}

void ag_kind_refs_free(ag_kind_ref *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].group);
        free(v[i].kind);
    }
    free(v);
}
