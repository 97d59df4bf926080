/* String lists and globs: the small containers every block and selector uses. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ag_glob(const char *p, const char *s)
{
    /* iterative glob with single backtrack point: linear in practice, no recursion */
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '?' || *p == *s) {
            p++, s++;
        } else if (*p == '*') {
            star = p++;
            ss = s;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int pol_strlist_has_glob(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (ag_glob(l->v[i], s ? s : ""))
            return 1;
    return 0;
}

void pol_strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void pol_kvlist_free(kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->k[i]);
        free(l->v[i]);
    }
    free(l->k);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int pol_strlist_add(strlist *l, const char *s)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    l->v = nv;
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}
