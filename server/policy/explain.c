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
    return pol_strlist_has_glob(&s->operations, op);
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

static void labels(ag_buf *o, const char *title, const kvlist *l)
{
    if (!l->n)
        return;
    ag_buf_printf(o, "      %s:", title);
    for (size_t i = 0; i < l->n; i++)
        ag_buf_printf(o, " %s=%s", l->k[i], l->v[i]);
    ag_buf_printf(o, "\n");
}

static void patterns(ag_buf *o, const char *title, const regex_list *l)
{
    if (!l->n)
        return;
    ag_buf_printf(o, "      %s:", title);
    for (size_t i = 0; i < l->n; i++)
        ag_buf_printf(o, " %s", l->text[i]);
    ag_buf_printf(o, "\n");
}

/* A JSON value on one line, as compact as jansson writes it. */
static void json_line(ag_buf *o, const char *title, const json_t *v)
{
    if (!v || (json_is_array(v) && !json_array_size(v)))
        return;
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    ag_buf_printf(o, "      %s: %s\n", title, t ? t : "?");
    free(t);
}

static void selector_lines(ag_buf *o, const char *prefix, const selector *s, int is_match)
{
    char t[64];
#define SEL_LIST(field, name)                                   \
    do {                                                        \
        snprintf(t, sizeof t, "%s%s", prefix, name);            \
        list(o, t, &s->field);                                  \
    } while (0)
    if (!is_match)
        SEL_LIST(kinds, "kinds");
    if (!is_match)
        SEL_LIST(operations, "operations");
    SEL_LIST(namespaces, "namespaces");
    SEL_LIST(names, "names");
    SEL_LIST(users, "users");
    SEL_LIST(groups, "groups");
    SEL_LIST(service_accounts, "service accounts");
#undef SEL_LIST
    snprintf(t, sizeof t, "%snamespaceSelector", prefix);
    labels(o, t, &s->ns_labels);
    snprintf(t, sizeof t, "%sobjectSelector", prefix);
    labels(o, t, &s->obj_labels);
}

static void describe_images(ag_buf *o, const images_cfg *im)
{
    ag_buf_printf(o, "      validate images:%s%s%s\n", im->require_digest ? " requireDigest" : "",
                  im->forbid_latest ? " forbidLatest" : "", im->forbid_tagless ? " forbidTagless" : "");
    list(o, "  allow (prefixes)", &im->global.prefixes);
    patterns(o, "  allow (patterns)", &im->global.patterns);
    for (size_t i = 0; i < im->nper_ns; i++) {
        const image_allow *a = &im->per_ns[i];
        ag_buf_printf(o, "        in");
        for (size_t j = 0; j < a->namespaces.n; j++)
            ag_buf_printf(o, " %s", a->namespaces.v[j]);
        ag_buf_printf(o, " instead:");
        for (size_t j = 0; j < a->prefixes.n; j++)
            ag_buf_printf(o, " %s", a->prefixes.v[j]);
        for (size_t j = 0; j < a->patterns.n; j++)
            ag_buf_printf(o, " %s", a->patterns.text[j]);
        ag_buf_printf(o, "\n");
    }
    const images_from *f = &im->from;
    if (f->present) {
        ag_buf_printf(o, "        also allow the registries listed in");
        if (f->ns_annotation)
            ag_buf_printf(o, " the namespace's annotation %s", f->ns_annotation);
        if (f->ns_annotation && f->cm_name)
            ag_buf_printf(o, " and");
        if (f->cm_name)
            ag_buf_printf(o, " ConfigMap %s/%s key %s", f->cm_namespace, f->cm_name, f->cm_key);
        ag_buf_printf(o, "; when the cluster view cannot tell: %s\n",
                      f->fail_closed ? "deny (failClosed)" : "admit with a warning");
    }
}

/* spec.mutate.rules in words */
static void describe_mutations(ag_buf *o, const policy *p)
{
    static const char *const targets[] = {"", "every pod spec", "the metadata of every pod",
                                          "every container and init container"};
    for (size_t i = 0; i < p->nmutations; i++) {
        const mutation_rule *m = &p->mutations[i];
        ag_buf_printf(o, "      mutate rule %s: on %s", m->name ? m->name : "",
                      m->target > 0 && m->target <= 3 ? targets[m->target] : "?");
        if (m->min_replicas)
            ag_buf_printf(o, " of objects with at least %lld replicas", m->min_replicas);
        if (m->image_digest >= 0)
            ag_buf_printf(o, " whose image is %s by digest", m->image_digest ? "pinned" : "not pinned");
        ag_buf_printf(o, "\n");
        if (m->set) {
            char *t = json_dumps(m->set, JSON_COMPACT);
            ag_buf_printf(o, "        set where absent%s: %s\n", m->overwrite ? " (and overwrite a different value)" : "",
                          t ? t : "?");
            free(t);
        }
        if (m->append) {
            char *t = json_dumps(m->append, JSON_COMPACT);
            ag_buf_printf(o, "        append unless an equal element (or one of that name) is there: %s\n", t ? t : "?");
            free(t);
        }
    }
}

/* validate.podSecurity.exempt in words */
static void describe_exempt(ag_buf *o, const policy *p)
{
    for (size_t i = 0; i < p->npss_exempt; i++) {
        const pss_exempt *x = &p->pss_exempt[i];
        ag_buf_printf(o, "        exempt from");
        for (size_t j = 0; j < x->controls.n; j++)
            ag_buf_printf(o, "%s %s", j ? "," : "", x->controls.v[j]);
        ag_buf_printf(o, ": containers");
        for (size_t j = 0; j < x->images.n; j++)
            ag_buf_printf(o, "%s%s", j ? ", " : " running ", x->images.v[j]);
        if (x->images.n && x->containers.n)
            ag_buf_printf(o, " and");
        for (size_t j = 0; j < x->containers.n; j++)
            ag_buf_printf(o, "%s%s", j ? ", " : " named ", x->containers.v[j]);
        ag_buf_printf(o, " (a pod-level field only when every container is exempt)\n");
    }
}

static void describe_secrets(ag_buf *o, const secrets_cfg *sc)
{
    ag_buf_printf(o, "      validate secrets:%s%s\n", sc->has_allow ? " references must match allowNames" : "",
                  sc->forbid_literal ? " forbidLiteralEnv" : "");
    patterns(o, "  allowNames", &sc->allow);
    patterns(o, "  reserved", &sc->reserved);
    if (sc->forbid_literal)
        patterns(o, "  credentialEnvNames", &sc->credential_names);
    for (size_t i = 0; i < sc->nper_ns; i++) {
        ag_buf_printf(o, "        in");
        for (size_t j = 0; j < sc->per_ns[i].namespaces.n; j++)
            ag_buf_printf(o, " %s", sc->per_ns[i].namespaces.v[j]);
        ag_buf_printf(o, " allowNames:");
        for (size_t j = 0; j < sc->per_ns[i].allow.n; j++)
            ag_buf_printf(o, " %s", sc->per_ns[i].allow.text[j]);
        ag_buf_printf(o, "\n");
    }
}

static void describe_rbac(ag_buf *o, const rbac_cfg *r)
{
    const cluster_refs *c = &r->refs;
    if (c->present && c->enabled)
        ag_buf_printf(o, "      validate rbac clusterReferences: verb %s on%s%s%s; API unreachable: %s "
                         "(a SubjectAccessReview per reference)\n", c->verb ? c->verb : "use",
                      c->models ? " models" : "", c->templates ? " templates" : "",
                      c->runtime_configs ? " runtimeConfigs" : "", c->fail_closed ? "deny" : "admit with a warning");
    list(o, "validate rbac protectedRoles", &r->protected_roles);
    list(o, "validate rbac broadSubjects", &r->broad_subjects);
    if (r->status_role) {
        ag_buf_printf(o, "      validate rbac statusUpdaterRole: %s\n", r->status_role);
        list(o, "  statusUpdaterBinders", &r->status_binders);
        list(o, "  statusUpdaterServiceAccounts", &r->status_sas);
    }
    list(o, "validate rbac reservedServiceAccounts", &r->reserved_sas);
    if (r->operator_namespace)
        ag_buf_printf(o, "      validate rbac operatorNamespace: %s\n", r->operator_namespace);
}

static void describe_policy(ag_buf *o, const policy *p)
{
    ag_buf_printf(o, "    %s (%s, %s)\n", p->name, action_name(p->action), p->where);
    selector_lines(o, "", &p->match, 1);
    if (p->exclude.present)
        selector_lines(o, "excluded ", &p->exclude, 0);
    if (p->hard.present) {
        ag_buf_printf(o, "      mutate securityContext:");
        if (p->hard.run_as_non_root == 1) ag_buf_printf(o, " runAsNonRoot");
        if (p->hard.seccomp) ag_buf_printf(o, " seccompProfile=%s", p->hard.seccomp);
        if (p->hard.allow_priv_esc == 0) ag_buf_printf(o, " allowPrivilegeEscalation=false");
        if (p->hard.drop_caps.n) {
            ag_buf_printf(o, " capabilities.drop=");
            for (size_t i = 0; i < p->hard.drop_caps.n; i++)
                ag_buf_printf(o, "%s%s", i ? "," : "", p->hard.drop_caps.v[i]);
        }
        if (p->hard.read_only_root == 1) ag_buf_printf(o, " readOnlyRootFilesystem");
        for (size_t i = 0; i < p->hard.ndirs; i++) ag_buf_printf(o, " emptyDir:%s", p->hard.dirs[i].path);
        if (p->hard.has_uid) ag_buf_printf(o, " runAsUser=%lld", p->hard.uid);
        if (p->hard.has_gid) ag_buf_printf(o, " runAsGroup=%lld", p->hard.gid);
        if (p->hard.has_fsgroup) ag_buf_printf(o, " fsGroup=%lld", p->hard.fsgroup);
        if (p->hard.automount_token == 0) ag_buf_printf(o, " automountServiceAccountToken=false");
        ag_buf_printf(o, "\n");
    }
    if (p->gpu.present) {
        ag_buf_printf(o, "      mutate gpu placement for pods requesting:");
        for (size_t i = 0; i < p->gpu.resources.n; i++)
            ag_buf_printf(o, " %s", p->gpu.resources.v[i]);
        ag_buf_printf(o, "\n");
        labels(o, "  nodeSelector", &p->gpu.node_selector);
        json_line(o, "  nodeAffinity", p->gpu.match_expressions);
        json_line(o, "  tolerations", p->gpu.tolerations);
        json_line(o, "  nonGpuPods avoid", p->gpu.non_gpu_expressions);
    }
    describe_mutations(o, p);
    if (p->pss_level > 0)
        ag_buf_printf(o, "      validate podSecurity: %s (v1.37)\n", ag_pss_level_name((ag_pss_level)p->pss_level));
    if (p->pss_level > 0)
        describe_exempt(o, p);
    if (p->images.present)
        describe_images(o, &p->images);
    if (p->secrets.present)
        describe_secrets(o, &p->secrets);
    if (p->rbac.present)
        describe_rbac(o, &p->rbac);
    if (p->aim.present) {
        ag_buf_printf(o, "      validate aim:");
        if (p->aim.max_ns_len) ag_buf_printf(o, " maxNamespaceLength=%lld", p->aim.max_ns_len);
        if (p->aim.path_under_namespace) ag_buf_printf(o, " pathUnderNamespace");
        ag_buf_printf(o, "\n");
        list(o, "  allowedResources", &p->aim.allowed_resources);
        list(o, "  allowedGateways", &p->aim.allowed_gateways);
    }
    for (size_t i = 0; i < p->nrules; i++) {
        const generic_rule *r = &p->rules[i];
        static const char *const conds[] = {"absent", "equals", "oneOf", "matches", "notMatches", "range"};
        ag_buf_printf(o, "      validate rule %s: %s %s", r->name, r->path_text, conds[r->cond]);
        if (r->cond == COND_EQUALS || r->cond == COND_ONEOF) {
            char *t = json_dumps(r->value, JSON_COMPACT | JSON_ENCODE_ANY);
            ag_buf_printf(o, " %s", t ? t : "?");
            free(t);
        } else if (r->cond == COND_MATCHES || r->cond == COND_NOTMATCHES) {
            ag_buf_printf(o, " %s", r->pattern ? r->pattern : "");
        } else if (r->cond == COND_RANGE) {
            if (r->has_min) ag_buf_printf(o, " min %g", r->min);
            if (r->has_max) ag_buf_printf(o, " max %g", r->max);
        }
        ag_buf_printf(o, "%s (%s)\n", r->required ? ", required" : "",
                      action_name(r->action >= 0 ? r->action : p->action));
    }
    for (size_t i = 0; i < p->nexc; i++) {
        const exception_ *x = &p->exc[i];
        ag_buf_printf(o, "      exception:");
        for (size_t j = 0; j < x->controls.n; j++) ag_buf_printf(o, " %s", x->controls.v[j]);
        if (x->namespaces.n) {
            ag_buf_printf(o, " in");
            for (size_t j = 0; j < x->namespaces.n; j++) ag_buf_printf(o, " %s", x->namespaces.v[j]);
        }
        for (size_t j = 0; j < x->kinds.n; j++) ag_buf_printf(o, "%s%s", j ? "," : " for kinds ", x->kinds.v[j]);
        for (size_t j = 0; j < x->names.n; j++) ag_buf_printf(o, "%s%s", j ? "," : " for names ", x->names.v[j]);
        for (size_t j = 0; j < x->users.n; j++) ag_buf_printf(o, "%s%s", j ? "," : " for users ", x->users.v[j]);
        for (size_t j = 0; j < x->images.n; j++)
            ag_buf_printf(o, "%s%s", j ? "," : " for containers running ", x->images.v[j]);
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
                int applies = !strcmp(kinds.v[k], "*") ? pol_kind_matches(&p->match.kinds, "*", "*") &&
                                                              pol_strlist_has_glob(&p->match.kinds, "*")
                                                        : pol_kind_matches(&p->match.kinds, group, kname);
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

void ag_policy_cluster_data(const ag_policy_set *set, const char **ns_annotations, const char **configmaps)
{
    *ns_annotations = *configmaps = NULL;
    for (size_t i = 0; set && i < set->n; i++) {
        const images_from *f = &set->v[i].images.from;
        if (!*ns_annotations && f->present && f->ns_annotation)
            *ns_annotations = set->v[i].name;
        if (!*configmaps && f->present && f->cm_name)
            *configmaps = set->v[i].name;
    }
}

size_t ag_policy_configmaps(const ag_policy_set *set, void (*fn)(void *ctx, const char *ns, const char *name),
                            void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; set && i < set->n; i++) {
        const images_from *f = &set->v[i].images.from;
        if (!f->present || !f->cm_name)
            continue;
        int seen = 0; /* each once, at its first policy */
        for (size_t j = 0; !seen && j < i; j++) {
            const images_from *g = &set->v[j].images.from;
            seen = g->present && g->cm_name && !strcmp(g->cm_name, f->cm_name) &&
                   !strcmp(g->cm_namespace, f->cm_namespace);
        }
        if (seen)
            continue;
        if (fn)
            fn(ctx, f->cm_namespace, f->cm_name);
        n++;
    }
    return n;
}
