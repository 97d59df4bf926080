/* `aimguard explain`: which policies and rules apply to each kind and operation. */
#include "policy_int.h"

#include "aimguard/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *action_name(int a)
{
    return a == AG_ACTION_WARN ? "warn" : a == AG_ACTION_AUDIT ? "audit" : "enforce";
}

static int ops_has(const selector *s, const char *op)
{
    if (!s->operations.n)
        return !strcmp(op, "CREATE") || !strcmp(op, "UPDATE");
    return strlist_has_glob(&s->operations, op);
}

static void list(ag_buf *o, const char *title, const strlist *l)
{
    if (!l->n)
        return;
    ag_buf_printf(o, "      %s:", title);
    for (size_t i = 0; i < l->n; i++)
        ag_buf_printf(o, " %s", l->v[i]);
    ag_buf_printf(o, "\n");
}

static void describe_policy(ag_buf *o, const policy *p)
{
    ag_buf_printf(o, "    %s (%s, %s)\n", p->name, action_name(p->action), p->where);
    list(o, "namespaces", &p->match.namespaces);
    if (p->exclude.present) {
        list(o, "excluded namespaces", &p->exclude.namespaces);
        list(o, "excluded users", &p->exclude.users);
        list(o, "excluded groups", &p->exclude.groups);
        list(o, "excluded service accounts", &p->exclude.service_accounts);
    }
    if (p->hard.present) {
        ag_buf_printf(o, "      mutate securityContext:");
        if (p->hard.run_as_non_root == 1) ag_buf_printf(o, " runAsNonRoot");
        if (p->hard.seccomp) ag_buf_printf(o, " seccompProfile=%s", p->hard.seccomp);
        if (p->hard.allow_priv_esc == 0) ag_buf_printf(o, " allowPrivilegeEscalation=false");
        if (p->hard.drop_caps.n) ag_buf_printf(o, " capabilities.drop");
        if (p->hard.read_only_root == 1) ag_buf_printf(o, " readOnlyRootFilesystem");
        for (size_t i = 0; i < p->hard.ndirs; i++) ag_buf_printf(o, " emptyDir:%s", p->hard.dirs[i].path);
        if (p->hard.has_uid) ag_buf_printf(o, " runAsUser=%lld", p->hard.uid);
        if (p->hard.automount_token == 0) ag_buf_printf(o, " automountServiceAccountToken=false");
        ag_buf_printf(o, "\n");
    }
    if (p->gpu.present)
        ag_buf_printf(o, "      mutate gpu placement for:%s%s\n", p->gpu.resources.n ? " " : "",
                      p->gpu.resources.n ? p->gpu.resources.v[0] : "");
    if (p->pss_level > 0)
        ag_buf_printf(o, "      validate podSecurity: %s (v1.37)\n", ag_pss_level_name((ag_pss_level)p->pss_level));
    for (size_t i = 0; i < p->nrules; i++)
        ag_buf_printf(o, "      validate rule %s: %s (%s)\n", p->rules[i].name, p->rules[i].path_text,
                      action_name(p->rules[i].action >= 0 ? p->rules[i].action : p->action));
    for (size_t i = 0; i < p->nexc; i++) {
        const exception_ *x = &p->exc[i];
        ag_buf_printf(o, "      exception:");
        for (size_t j = 0; j < x->controls.n; j++) ag_buf_printf(o, " %s", x->controls.v[j]);
        ag_buf_printf(o, " in");
        for (size_t j = 0; j < x->namespaces.n; j++) ag_buf_printf(o, " %s", x->namespaces.v[j]);
        ag_buf_printf(o, "%s%s (%s)\n", x->expires_text ? " until " : "", x->expires_text ? x->expires_text : "",
                      x->reason);
    }
}

char *ag_policy_explain(const ag_policy_set *set)
{
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};
    ag_buf o = {0};
    ag_buf_printf(&o, "Policies are evaluated in this order (files sorted by path, documents in file order):\n");
    for (size_t i = 0; i < set->n; i++)
        ag_buf_printf(&o, "  %zu. %s (%s)\n", i + 1, set->v[i].name, set->v[i].where);
    /* every kind named anywhere, in first-seen order */
    strlist kinds = {0};
    for (size_t i = 0; i < set->n; i++)
        for (size_t k = 0; k < set->v[i].match.kinds.n; k++) {
            const char *kind = set->v[i].match.kinds.v[k];
            int seen = 0;
            for (size_t j = 0; j < kinds.n; j++)
                seen |= !strcmp(kinds.v[j], kind);
            if (!seen) {
                char **nv = realloc(kinds.v, (kinds.n + 1) * sizeof *nv);
                if (!nv)
                    break;
                kinds.v = nv;
                kinds.v[kinds.n++] = (char *)kind;
            }
        }
    for (size_t k = 0; k < kinds.n; k++) {
        for (int op = 0; op < 4; op++) {
            int header = 0;
            for (size_t i = 0; i < set->n; i++) {
                const policy *p = &set->v[i];
                strlist one = {&kinds.v[k], 1};
                const char *slash = strrchr(kinds.v[k], '/');
                const char *kname = slash ? slash + 1 : kinds.v[k];
                char group[128] = "";
                if (slash)
                    snprintf(group, sizeof group, "%.*s", (int)(slash - kinds.v[k]), kinds.v[k]);
                if (!strcmp(group, "core"))
                    group[0] = '\0';
                int applies = !strcmp(kinds.v[k], "*") ? kind_matches(&p->match.kinds, "*", "*") &&
                                                              strlist_has_glob(&p->match.kinds, "*")
                                                        : kind_matches(&p->match.kinds, group, kname);
                (void)one;
                if (!applies || !ops_has(&p->match, ops[op]))
                    continue;
                if (!header++)
                    ag_buf_printf(&o, "\n%s %s:\n", kinds.v[k], ops[op]);
                describe_policy(&o, p);
            }
        }
    }
    free(kinds.v);
    return ag_buf_take(&o);
}

void ag_policy_cluster_needs(const ag_policy_set *set, const char **ns_labels, const char **refs)
{
    *ns_labels = *refs = NULL;
    for (size_t i = 0; set && i < set->n; i++) {
        const policy *p = &set->v[i];
        if (!*ns_labels && (p->match.ns_labels.n || (p->exclude.present && p->exclude.ns_labels.n)))
            *ns_labels = p->name;
        if (!*refs && p->rbac.refs.present && p->rbac.refs.enabled)
            *refs = p->name;
    }
}
