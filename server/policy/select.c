/* spec.match and spec.exclude: compile a selector, and match it against a request. */
#include "schema.h"

#include "aimguard/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const operations[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", "*", NULL};

/* Every entry of a kinds list names a kind that exists (aimguard/kinds.h): a misspelled
 * kind would make the policy or exception silently never apply. */
void pol_check_kinds(cctx *c, const ag_ynode *v, const char *where)
{
    for (size_t i = 0; v && v->type == AG_YNODE_SEQ && i < v->count; i++) {
        const ag_ynode *e = v->items[i];
        char msg[512];
        unsigned sent;
        if (e->type == AG_YNODE_SCALAR && ag_kinds_check(e->value, &sent, msg, sizeof msg))
            pol_err(c, e, "%s: %s", where, msg);
    }
}

void pol_selector_compile(cctx *c, const ag_ynode *n, const char *where, selector *s, int is_match)
{
    static const char *const keys[] = {"kinds", "operations", "namespaces", "names",
                                       "namespaceSelector", "objectSelector", "users", "groups",
                                       "serviceAccounts", NULL};
    static const char *const label_keys[] = {"matchLabels", NULL};
    if (pol_check_map(c, n, where, keys))
        return;
    s->present = 1;
    char w[128];
    KEY_EACH(n, k, v) {
        snprintf(w, sizeof w, "%s.%s", where, k->value);
        if (!strcmp(k->value, "kinds")) {
            pol_get_strlist(c, v, w, &s->kinds);
            pol_check_kinds(c, v, w);
        } else if (!strcmp(k->value, "operations")) {
            pol_get_strlist(c, v, w, &s->operations);
            for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++) {
                int ok = 0;
                for (const char *const *o = operations; *o; o++)
                    ok |= v->items[i]->value && !strcmp(*o, v->items[i]->value);
                const char *best = ok || !v->items[i]->value ? NULL : pol_closest(v->items[i]->value, operations);
                if (!ok)
                    pol_err(c, v->items[i], "%s: unknown operation '%s' (CREATE, UPDATE, DELETE, "
                             "CONNECT or *%s%s%s)", w, v->items[i]->value ? v->items[i]->value : "",
                             best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
            }
        }
        else if (!strcmp(k->value, "namespaces")) pol_get_strlist(c, v, w, &s->namespaces);
        else if (!strcmp(k->value, "names")) pol_get_strlist(c, v, w, &s->names);
        else if (!strcmp(k->value, "users")) pol_get_strlist(c, v, w, &s->users);
        else if (!strcmp(k->value, "groups")) pol_get_strlist(c, v, w, &s->groups);
        else if (!strcmp(k->value, "serviceAccounts")) {
            pol_get_strlist(c, v, w, &s->service_accounts);
            for (size_t i = 0; i < s->service_accounts.n; i++)
                if (!strchr(s->service_accounts.v[i], '/'))
                    pol_err(c, v, "%s: '%s' must be NAMESPACE/NAME (globs allowed)", w,
                             s->service_accounts.v[i]);
        } else if (!strcmp(k->value, "namespaceSelector") || !strcmp(k->value, "objectSelector")) {
            if (pol_check_map(c, v, w, label_keys))
                continue;
            const ag_ynode *ml = ag_ynode_get(v, "matchLabels");
            char w2[160];
            snprintf(w2, sizeof w2, "%s.matchLabels", w);
            if (ml)
                pol_get_kv(c, ml, w2, !strcmp(k->value, "namespaceSelector") ? &s->ns_labels : &s->obj_labels);
        }
    }
    if (is_match && s->kinds.n == 0)
        pol_err(c, n, "%s.kinds is required (use [\"*\"] for every kind)", where);
}

void pol_selector_free(selector *s)
{
    pol_strlist_free(&s->kinds);
    pol_strlist_free(&s->operations);
    pol_strlist_free(&s->namespaces);
    pol_strlist_free(&s->users);
    pol_strlist_free(&s->groups);
    pol_strlist_free(&s->service_accounts);
    pol_strlist_free(&s->names);
    pol_kvlist_free(&s->ns_labels);
    pol_kvlist_free(&s->obj_labels);
}

int pol_kind_matches(const strlist *kinds, const char *group, const char *kind)
{
    for (size_t i = 0; i < kinds->n; i++) {
        const char *k = kinds->v[i];
        if (!strcmp(k, "*"))
            return 1;
        const char *slash = strrchr(k, '/');
        if (!slash) {
            if (!strcmp(k, kind))
                return 1;
            continue;
        }
        size_t glen = (size_t)(slash - k);
        const char *g = group ? group : "";
        int gm = (glen == 4 && !strncmp(k, "core", 4) && !*g) ||
                 (strlen(g) == glen && !strncmp(k, g, glen)) || (glen == 1 && k[0] == '*');
        if (gm && (!strcmp(slash + 1, kind) || !strcmp(slash + 1, "*")))
            return 1;
    }
    return 0;
}

static int labels_match(const kvlist *want, json_t *labels)
{
    for (size_t i = 0; i < want->n; i++) {
        const char *v = json_string_value(json_object_get(labels, want->k[i]));
        if (!v || strcmp(v, want->v[i]))
            return 0;
    }
    return 1;
}

/* The request's service account as "namespace/name", or NULL. */
int pol_request_sa(const char *user, char *out, size_t cap)
{
    const char *pfx = "system:serviceaccount:";
    if (!user || strncmp(user, pfx, strlen(pfx)))
        return 0;
    const char *rest = user + strlen(pfx), *colon = strchr(rest, ':');
    if (!colon)
        return 0;
    snprintf(out, cap, "%.*s/%s", (int)(colon - rest), rest, colon + 1);
    return 1;
}

/* 1 when every field the selector sets matches. *unknown is set when the answer
 * depended on namespace labels that the cluster view could not provide. */
int pol_selector_matches(const selector *s, const eval_ctx *e, const ag_view *view,
                            int is_match, int *unknown)
{
    if (s->kinds.n && !pol_kind_matches(&s->kinds, e->group, e->kind))
        return 0;
    if (s->operations.n) {
        if (!pol_strlist_has_glob(&s->operations, e->operation))
            return 0;
    } else if (is_match && strcmp(e->operation, "CREATE") && strcmp(e->operation, "UPDATE")) {
        return 0; /* match defaults to CREATE and UPDATE */
    }
    if (s->namespaces.n && !pol_strlist_has_glob(&s->namespaces, e->ns))
        return 0;
    if (s->names.n && !pol_strlist_has_glob(&s->names, e->name))
        return 0;
    if (s->users.n && !pol_strlist_has_glob(&s->users, e->req->username))
        return 0;
    if (s->groups.n) {
        int any = 0;
        for (size_t i = 0; !any && i < json_array_size(e->req->groups); i++)
            any = pol_strlist_has_glob(&s->groups, json_string_value(json_array_get(e->req->groups, i)));
        if (!any)
            return 0;
    }
    if (s->service_accounts.n) {
        char sa[512];
        if (!pol_request_sa(e->req->username, sa, sizeof sa) || !pol_strlist_has_glob(&s->service_accounts, sa))
            return 0;
    }
    if (s->obj_labels.n &&
        !labels_match(&s->obj_labels, json_object_get(json_object_get(e->object, "metadata"), "labels")))
        return 0;
    if (s->ns_labels.n) {
        json_t *nsobj = view && view->get && *e->ns ? view->get(view->ctx, "namespaces", "", e->ns) : NULL;
        if (!nsobj) {
            *unknown = 1;
            return is_match; /* unknown labels: a match applies, an exclusion does not */
        }
        int ok = labels_match(&s->ns_labels, json_object_get(json_object_get(nsobj, "metadata"), "labels"));
        json_decref(nsobj);
        if (!ok)
            return 0;
    }
    return 1;
}
