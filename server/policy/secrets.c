/* validate.secrets: every place a pod or an AIM resource names a Secret, and every env
 * var that looks like a credential but carries its value inline. Messages name the
 * reference and the field, never a value. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

void regex_list_free(regex_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        pcre2_code_free(l->re[i]);
        free(l->text[i]);
    }
    free(l->re);
    free(l->text);
    memset(l, 0, sizeof *l);
}

void secrets_free(secrets_cfg *c)
{
    regex_list_free(&c->allow);
    regex_list_free(&c->reserved);
    regex_list_free(&c->credential_names);
    for (size_t i = 0; i < c->nper_ns; i++) {
        strlist_free(&c->per_ns[i].namespaces);
        regex_list_free(&c->per_ns[i].allow);
    }
    free(c->per_ns);
    memset(c, 0, sizeof *c);
}

int regex_list_any(const regex_list *l, const char *s, pcre2_match_context *mctx)
{
    for (size_t i = 0; s && i < l->n; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(l->re[i], NULL);
        int rc = md ? pcre2_match(l->re[i], (PCRE2_SPTR)s, strlen(s), 0, 0, md, mctx) : -1;
        pcre2_match_data_free(md);
        if (rc >= 0)
            return 1;
    }
    return 0;
}

typedef struct sctx {
    const policy *pol;
    eval_ctx *e;
    vlist *out;
    const regex_list *allow; /* NULL: any name */
} sctx;

static void secret_ref(sctx *s, const char *name, const char *where, const char *path)
{
    char msg[700];
    if (!name)
        return;
    if (regex_list_any(&s->pol->secrets.reserved, name, s->e->mctx)) {
        ag_strfmt(msg, sizeof msg, "%s references the reserved Secret \"%s\"", where, name);
        vlist_add(s->out, s->pol, "secrets/reserved", "secrets", s->pol->action, msg, path);
    } else if (s->allow && !regex_list_any(s->allow, name, s->e->mctx)) {
        ag_strfmt(msg, sizeof msg, "%s references the Secret \"%s\", which is not on the allowed list", where, name);
        vlist_add(s->out, s->pol, "secrets/allowNames", "secrets", s->pol->action, msg, path);
    }
}

/* An EnvVar list: secretKeyRef names, and literal credentials. */
static void env_list(sctx *s, json_t *env, const char *who, const char *path)
{
    size_t i;
    json_t *ev;
    json_array_foreach(env, i, ev) {
        const char *name = json_string_value(json_object_get(ev, "name"));
        char where[400], p[600];
        ag_strfmt(where, sizeof where, "%s env %s", who, name ? name : "");
        const char *sname = json_string_value(json_object_get(json_object_get(json_object_get(ev, "valueFrom"),
                                                                              "secretKeyRef"), "name"));
        ag_strfmt(p, sizeof p, "%s[%zu].valueFrom.secretKeyRef.name", path, i);
        secret_ref(s, sname, where, p);
        json_t *lit = json_object_get(ev, "value");
        if (s->pol->secrets.forbid_literal && json_is_string(lit) && json_string_length(lit) > 0 &&
            regex_list_any(&s->pol->secrets.credential_names, name, s->e->mctx)) {
            char msg[700];
            ag_strfmt(p, sizeof p, "%s[%zu].value", path, i);
            ag_strfmt(msg, sizeof msg, "%s looks like a credential but its value is written inline: "
                      "use valueFrom.secretKeyRef (the value is not shown here)", where);
            vlist_add(s->out, s->pol, "secrets/literalCredential", "secrets", s->pol->action, msg, p);
        }
    }
}

static void pull_secrets(sctx *s, json_t *list, const char *who, const char *path)
{
    size_t i;
    json_t *ps;
    json_array_foreach(list, i, ps) {
        char p[600], where[300];
        ag_strfmt(p, sizeof p, "%s[%zu].name", path, i);
        ag_strfmt(where, sizeof where, "%s imagePullSecrets", who);
        secret_ref(s, json_string_value(json_object_get(ps, "name")), where, p);
    }
}

static void pod_spec(sctx *s, const ag_podspec_ref *ref)
{
    char p[600];
    ag_strfmt(p, sizeof p, "%s.imagePullSecrets", ref->path);
    pull_secrets(s, json_object_get(ref->spec, "imagePullSecrets"), "the pod", p);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ref->spec, "volumes"), i, v) {
        const char *vn = json_string_value(json_object_get(v, "name"));
        char where[300];
        ag_strfmt(where, sizeof where, "volume \"%s\"", vn ? vn : "");
        ag_strfmt(p, sizeof p, "%s.volumes[%zu].secret.secretName", ref->path, i);
        secret_ref(s, json_string_value(json_object_get(json_object_get(v, "secret"), "secretName")), where, p);
        size_t k;
        json_t *src;
        json_array_foreach(json_object_get(json_object_get(v, "projected"), "sources"), k, src) {
            ag_strfmt(p, sizeof p, "%s.volumes[%zu].projected.sources[%zu].secret.name", ref->path, i, k);
            secret_ref(s, json_string_value(json_object_get(json_object_get(src, "secret"), "name")), where, p);
        }
    }
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, ref);
    while (ag_container_next(&it, &cr)) {
        const char *cn = ag_container_name(&cr);
        char who[300];
        ag_strfmt(who, sizeof who, "container \"%s\"", cn ? cn : "");
        ag_strfmt(p, sizeof p, "%s.env", ag_container_path(&cr));
        env_list(s, json_object_get(cr.c, "env"), who, p);
        size_t j;
        json_t *ef;
        json_array_foreach(json_object_get(cr.c, "envFrom"), j, ef) {
            ag_strfmt(p, sizeof p, "%s.envFrom[%zu].secretRef.name", ag_container_path(&cr), j);
            char where[340];
            ag_strfmt(where, sizeof where, "%s envFrom", who);
            secret_ref(s, json_string_value(json_object_get(json_object_get(ef, "secretRef"), "name")), where, p);
        }
    }
}

/* AIM resources carry EnvVar lists ("env") and pull secret lists at several depths
 * (spec.env, spec.modelSources[].env, spec.caching.env, ...): walk the spec for them. */
static void aim_walk(sctx *s, json_t *node, const char *path, int depth)
{
    if (depth > 8)
        return;
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) {
            char p[600];
            ag_strfmt(p, sizeof p, "%s.%s", path, k);
            if (!strcmp(k, "env") && json_is_array(v))
                env_list(s, v, s->e->kind, p);
            else if (!strcmp(k, "imagePullSecrets") && json_is_array(v))
                pull_secrets(s, v, s->e->kind, p);
            else
                aim_walk(s, v, p, depth + 1);
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) {
            char p[600];
            ag_strfmt(p, sizeof p, "%s[%zu]", path, i);
            aim_walk(s, v, p, depth + 1);
        }
    }
}

void validate_secrets(const policy *pol, eval_ctx *e, vlist *out)
{
    if (exception_applies(pol, e, "secrets"))
        return;
    sctx s = {pol, e, out, pol->secrets.has_allow ? &pol->secrets.allow : NULL};
    for (size_t i = 0; i < pol->secrets.nper_ns; i++)
        if (strlist_has_glob(&pol->secrets.per_ns[i].namespaces, e->ns)) {
            s.allow = &pol->secrets.per_ns[i].allow;
            break;
        }
    for (size_t i = 0; i < e->nspecs; i++)
        pod_spec(&s, &e->specs[i]);
    if (e->group && !strcmp(e->group, "aim.eai.amd.com"))
        aim_walk(&s, json_object_get(e->object, "spec"), "spec", 0);
}
