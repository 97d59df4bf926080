/* The kinds a policy set can judge in a background audit (ag_policy_audit_kinds,
 * aimguard/policy.h): the audit lists and watches exactly these. */
#include "policy_int.h"

#include "aimguard/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_validate_block(const policy *p)
{
    for (const pol_block *const *b = pol_blocks; *b; b++)
        if ((*b)->phase == POL_VALIDATE && (*b)->present(p))
            return 1;
    return 0;
}

/* An existing object is judged as a CREATE by no user (ag_decide_existing): a policy
 * whose match leaves CREATE out, or names users, groups or service accounts, never
 * judges one (set_kinds.c, for `aimguard audit`, uses the same rule; it differs in
 * expanding a wildcard to every known kind, which a command may list once but a server
 * should not watch). */
static int judges_create(const policy *p)
{
    const selector *m = &p->match;
    if (m->users.n || m->groups.n || m->service_accounts.n)
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

/* Does the pattern (one entry of match.kinds) select k for an audit? */
static int pattern_selects(const char *pattern, const ag_kind_info *k)
{
    char *v[1] = {(char *)pattern};
    strlist one = {v, 1};
    if (!pol_kind_matches(&one, k->group, k->kind))
        return 0;
    /* a wildcard judges what the validating webhook would send: not Events, Leases, ... */
    return strchr(pattern, '*') ? (k->sent & AG_SENT_VALIDATE) != 0 : 1;
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
            if (!has_validate_block(p) || !judges_create(p) || excluded_kind(p, k))
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
    /* custom kinds (a group with a dot that the table does not know): named, not listed */
    for (size_t i = 0; custom && set && i < set->n; i++) {
        const policy *p = &set->v[i];
        if (!has_validate_block(p) || !judges_create(p))
            continue;
        for (size_t j = 0; j < p->match.kinds.n; j++) {
            const char *pat = p->match.kinds.v[j];
            const char *slash = strrchr(pat, '/');
            if (strchr(pat, '*') || !slash)
                continue;
            char group[256];
            snprintf(group, sizeof group, "%.*s", (int)(slash - pat), pat);
            if (ag_kinds_find(!strcmp(group, "core") ? "" : group, slash + 1))
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
