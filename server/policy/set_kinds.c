/* The kinds a policy set can judge in objects that already exist: `aimguard audit`
 * lists them from a cluster (ag_policy_set_kinds), the background audit watches them
 * (ag_policy_audit_kinds). One rule for both: what the `match.kinds` of every policy with
 * a validate block names, expanded against the known kinds table, a wildcard only to the
 * kinds the validating webhook receives (`kinds: ["*"]` judges what admission judges, not
 * Events, Leases or Secrets); exclude.kinds given alone removes kinds. Existing objects
 * are judged as a CREATE by no user (ag_decide_existing), so a policy that matches only
 * other operations, or only some users, groups or service accounts, adds nothing. */
#include "policy_int.h"

#include "aimguard/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_validate(const policy *p)
{
    for (size_t i = 0; pol_blocks[i]; i++)
        if (pol_blocks[i]->phase == POL_VALIDATE && pol_blocks[i]->present(p))
            return 1;
    return 0;
}

static int judges_existing(const policy *p)
{
    const selector *m = &p->match;
    if (!has_validate(p) || m->users.n || m->groups.n || m->service_accounts.n)
        return 0;
    return !m->operations.n || pol_strlist_has_glob(&m->operations, "CREATE");
}

/* exclude.kinds alone (nothing else in the exclude) removes a kind outright */
static int excluded_kind(const policy *p, const ag_kind_info *k)
{
    const selector *x = &p->exclude;
    if (!x->present || !x->kinds.n || x->operations.n || x->namespaces.n || x->names.n || x->users.n ||
        x->groups.n || x->service_accounts.n || x->ns_labels.n || x->obj_labels.n)
        return 0;
    return pol_kind_matches(&x->kinds, k->group, k->kind);
}

/* Does the pattern (one entry of match.kinds) select the known kind k? The matcher itself
 * decides, so the two cannot disagree. */
static int pattern_selects(const char *pattern, const ag_kind_info *k)
{
    strlist one = {(char **)&pattern, 1};
    if (!pol_kind_matches(&one, k->group, k->kind))
        return 0;
    return strchr(pattern, '*') ? (k->sent & AG_SENT_VALIDATE) != 0 : 1;
}

/* the group of a "group/Kind" entry that names no known kind (a custom kind), or NULL */
static const char *custom_group(const char *pattern, char *group, size_t cap)
{
    const char *slash = strrchr(pattern, '/');
    if (!slash || (slash - pattern == 1 && pattern[0] == '*') || (size_t)(slash - pattern) >= cap)
        return NULL;
    snprintf(group, cap, "%.*s", (int)(slash - pattern), pattern);
    if (strchr(group, '*') || ag_kinds_find(!strcmp(group, "core") ? "" : group, slash + 1))
        return NULL;
    size_t nk;
    const ag_kind_info *t = ag_kinds_table(&nk);
    for (size_t i = 0; i < nk; i++)
        if (!strcmp(t[i].group, group))
            return NULL; /* a known group: its kinds are in the table */
    return group;
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

/* One entry of a kinds list: every known kind it selects, or, for a custom group, the
 * entry itself. */
static int expand(const policy *p, const char *pattern, ag_kind_ref **v, size_t *n, size_t *cap)
{
    size_t nk;
    const ag_kind_info *t = ag_kinds_table(&nk);
    int rc = 0;
    for (size_t i = 0; !rc && i < nk; i++)
        if (pattern_selects(pattern, &t[i]) && !excluded_kind(p, &t[i]))
            rc = add(v, n, cap, t[i].group, t[i].kind, 1);
    char group[256];
    if (!rc && custom_group(pattern, group, sizeof group))
        rc = add(v, n, cap, group, strrchr(pattern, '/') + 1, 0);
    return rc;
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
        if (!judges_existing(p))
            continue;
        for (size_t k = 0; !rc && k < p->match.kinds.n; k++)
            rc = expand(p, p->match.kinds.v[k], &v, &n, &cap);
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

size_t ag_policy_audit_kinds(const ag_policy_set *set, const ag_kind_info **out, size_t cap, ag_diags *custom)
{
    size_t nk, count = 0;
    const ag_kind_info *table = ag_kinds_table(&nk);
    for (size_t t = 0; t < nk; t++) {
        const ag_kind_info *k = &table[t];
        int want = 0;
        for (size_t i = 0; set && i < set->n && !want; i++) {
            const policy *p = &set->v[i];
            if (!judges_existing(p) || excluded_kind(p, k))
                continue;
            for (size_t j = 0; j < p->match.kinds.n && !want; j++)
                want = pattern_selects(p->match.kinds.v[j], k);
        }
        if (want) {
            if (count < cap)
                out[count] = k;
            count++;
        }
    }
    /* custom kinds: named once each, not listed */
    for (size_t i = 0; custom && set && i < set->n; i++) {
        const policy *p = &set->v[i];
        if (!judges_existing(p))
            continue;
        for (size_t j = 0; j < p->match.kinds.n; j++) {
            const char *pat = p->match.kinds.v[j];
            char group[256];
            if (!custom_group(pat, group, sizeof group))
                continue;
            int seen = 0;
            for (size_t c = 0; c < custom->count && !seen; c++)
                seen = !strcmp(custom->items[c], pat);
            if (seen)
                continue;
            char **grown = realloc(custom->items, (custom->count + 1) * sizeof *grown);
            if (!grown)
                break;
            custom->items = grown;
            if ((custom->items[custom->count] = strdup(pat)))
                custom->count++;
        }
    }
    return count;
}
