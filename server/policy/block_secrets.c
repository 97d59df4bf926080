/* spec.validate.secrets, compiled, judged and freed here: every place a pod or an AIM resource names a Secret, and every env
 * var that looks like a credential but carries its value inline. Messages name the
 * reference and the field, never a value. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

/* The names that mark an env var as a credential when nothing else is configured. */
static const char *const default_credential_names[] = {
    "(?i)(^|_)(token|secret|password|passwd|pwd|apikey|api_key|access_key|private_key|credentials?)($|_)",
    "(?i)^(hf_token|hugging_face_hub_token|aws_secret_access_key|aws_session_token)$",
    "(?i)_key$", NULL};

static void compile_secrets(cctx *c, const ag_ynode *n, secrets_cfg *sc)
{
    static const char *const keys[] = {"allowNames", "reserved", "forbidLiteralEnv",
                                       "credentialEnvNames", "namespaces", NULL};
    static const char *const nkeys[] = {"namespaces", "allowNames", NULL};
    if (pol_check_map(c, n, "spec.validate.secrets", keys))
        return;
    sc->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allowNames"))) {
        sc->has_allow = 1;
        pol_regex_list_compile(c, v, "secrets.allowNames", &sc->allow);
    }
    if ((v = ag_ynode_get(n, "reserved")))
        pol_regex_list_compile(c, v, "secrets.reserved", &sc->reserved);
    if ((v = ag_ynode_get(n, "forbidLiteralEnv")))
        pol_get_bool(c, v, "forbidLiteralEnv", &sc->forbid_literal);
    if ((v = ag_ynode_get(n, "credentialEnvNames"))) {
        pol_regex_list_compile(c, v, "secrets.credentialEnvNames", &sc->credential_names);
    } else {
        size_t k = 0;
        while (default_credential_names[k]) k++;
        sc->credential_names.re = calloc(k, sizeof *sc->credential_names.re);
        sc->credential_names.text = calloc(k, sizeof *sc->credential_names.text);
        for (size_t i = 0; sc->credential_names.re && sc->credential_names.text && i < k; i++) {
            pcre2_code *re = pol_regex_compile(c, n, default_credential_names[i]);
            if (re)
                pol_regex_list_push(&sc->credential_names, re, default_credential_names[i]);
        }
    }
    if ((v = ag_ynode_get(n, "namespaces"))) {
        if (v->type != AG_YNODE_SEQ) {
            pol_err(c, v, "secrets.namespaces must be a list of {namespaces, allowNames}");
            return;
        }
        sc->per_ns = calloc(v->count ? v->count : 1, sizeof *sc->per_ns);
        for (size_t i = 0; sc->per_ns && i < v->count; i++) {
            if (pol_check_map(c, v->items[i], "secrets.namespaces[]", nkeys))
                continue;
            secret_ns *e = &sc->per_ns[sc->nper_ns++];
            const ag_ynode *ns = ag_ynode_get(v->items[i], "namespaces"), *an = ag_ynode_get(v->items[i], "allowNames");
            if (!ns || !an)
                pol_err(c, v->items[i], "secrets.namespaces[] needs namespaces and allowNames");
            if (ns)
                pol_get_strlist(c, ns, "secrets.namespaces[].namespaces", &e->namespaces);
            if (an)
                pol_regex_list_compile(c, an, "secrets.namespaces[].allowNames", &e->allow);
        }
    }
    if (!sc->has_allow && !pol_given(n, "reserved") && !sc->forbid_literal && !pol_given(n, "namespaces"))
        pol_err(c, n, "spec.validate.secrets says nothing: give allowNames, reserved, "
                       "forbidLiteralEnv or namespaces");
}

static void secrets_free(secrets_cfg *c)
{
    pol_regex_list_free(&c->allow);
    pol_regex_list_free(&c->reserved);
    pol_regex_list_free(&c->credential_names);
    for (size_t i = 0; i < c->nper_ns; i++) {
        pol_strlist_free(&c->per_ns[i].namespaces);
        pol_regex_list_free(&c->per_ns[i].allow);
    }
    free(c->per_ns);
    memset(c, 0, sizeof *c);
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
    if (pol_regex_any(&s->pol->secrets.reserved, name, s->e->mctx)) {
        ag_strfmt(msg, sizeof msg, "%s references the reserved Secret \"%s\"", where, name);
        pol_vlist_add(s->out, s->pol, "secrets/reserved", "secrets", s->pol->action, msg, path);
    } else if (s->allow && !pol_regex_any(s->allow, name, s->e->mctx)) {
        ag_strfmt(msg, sizeof msg, "%s references the Secret \"%s\", which is not on the allowed list", where, name);
        pol_vlist_add(s->out, s->pol, "secrets/allowNames", "secrets", s->pol->action, msg, path);
    }
}

/* Who holds an EnvVar list and its path: given, or a container's, formatted only when a
 * variable is judged (most lists have nothing to judge) */
typedef struct holder {
    const char *who, *path;
    ag_container_ref *cr; /* when who is NULL */
    char whob[300], pathb[600];
} holder;

static void holder_fill(holder *h)
{
    if (h->who)
        return;
    const char *cn = ag_container_name(h->cr);
    ag_strfmt(h->whob, sizeof h->whob, "container \"%s\"", cn ? cn : "");
    ag_strfmt(h->pathb, sizeof h->pathb, "%s.env", ag_container_path(h->cr));
    h->who = h->whob;
    h->path = h->pathb;
}

/* An EnvVar list: secretKeyRef names, and literal credentials. */
static void env_list(sctx *s, json_t *env, holder *h)
{
    size_t i;
    json_t *ev;
    json_array_foreach(env, i, ev) {
        const char *name = json_string_value(json_object_get(ev, "name"));
        const char *sname = json_string_value(json_object_get(json_object_get(json_object_get(ev, "valueFrom"),
                                                                              "secretKeyRef"), "name"));
        json_t *lit = json_object_get(ev, "value");
        int literal = s->pol->secrets.forbid_literal && json_is_string(lit) && json_string_length(lit) > 0 &&
                      pol_regex_any(&s->pol->secrets.credential_names, name, s->e->mctx);
        if (!sname && !literal)
            continue; /* most variables: nothing to judge, no text to format */
        char where[400], p[600];
        holder_fill(h);
        const char *path = h->path;
        ag_strfmt(where, sizeof where, "%s env %s", h->who, name ? name : "");
        if (sname) {
            ag_strfmt(p, sizeof p, "%s[%zu].valueFrom.secretKeyRef.name", path, i);
            secret_ref(s, sname, where, p);
        }
        if (literal) {
            char msg[700];
            ag_strfmt(p, sizeof p, "%s[%zu].value", path, i);
            ag_strfmt(msg, sizeof msg, "%s looks like a credential but its value is written inline: "
                      "use valueFrom.secretKeyRef (the value is not shown here)", where);
            pol_vlist_add(s->out, s->pol, "secrets/literalCredential", "secrets", s->pol->action, msg, p);
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
        const char *sn = json_string_value(json_object_get(json_object_get(v, "secret"), "secretName"));
        json_t *sources = json_object_get(json_object_get(v, "projected"), "sources");
        if (!sn && !json_array_size(sources))
            continue; /* most volumes: no Secret, no text to format */
        const char *vn = json_string_value(json_object_get(v, "name"));
        char where[300];
        ag_strfmt(where, sizeof where, "volume \"%s\"", vn ? vn : "");
        ag_strfmt(p, sizeof p, "%s.volumes[%zu].secret.secretName", ref->path, i);
        secret_ref(s, sn, where, p);
        size_t k;
        json_t *src;
        json_array_foreach(sources, k, src) {
            ag_strfmt(p, sizeof p, "%s.volumes[%zu].projected.sources[%zu].secret.name", ref->path, i, k);
            secret_ref(s, json_string_value(json_object_get(json_object_get(src, "secret"), "name")), where, p);
        }
    }
    ag_container_iter it;
    ag_container_ref cr;
    ag_container_iter_init(&it, ref);
    while (ag_container_next(&it, &cr)) {
        holder h = {.cr = &cr};
        env_list(s, json_object_get(cr.c, "env"), &h);
        size_t j;
        json_t *ef;
        json_array_foreach(json_object_get(cr.c, "envFrom"), j, ef) {
            holder_fill(&h);
            ag_strfmt(p, sizeof p, "%s.envFrom[%zu].secretRef.name", ag_container_path(&cr), j);
            char where[340];
            ag_strfmt(where, sizeof where, "%s envFrom", h.who);
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
            if (!strcmp(k, "env") && json_is_array(v)) {
                holder h = {.who = s->e->kind, .path = p};
                env_list(s, v, &h);
            } else if (!strcmp(k, "imagePullSecrets") && json_is_array(v)) {
                pull_secrets(s, v, s->e->kind, p);
            } else {
                aim_walk(s, v, p, depth + 1);
            }
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

static void validate_secrets(const policy *pol, eval_ctx *e, vlist *out)
{
    if (pol_exception_applies(pol, e, "secrets"))
        return;
    sctx s = {pol, e, out, pol->secrets.has_allow ? &pol->secrets.allow : NULL};
    for (size_t i = 0; i < pol->secrets.nper_ns; i++)
        if (pol_strlist_has_glob(&pol->secrets.per_ns[i].namespaces, e->ns)) {
            s.allow = &pol->secrets.per_ns[i].allow;
            break;
        }
    for (size_t i = 0; i < e->nspecs; i++)
        pod_spec(&s, &e->specs[i]);
    if (e->group && !strcmp(e->group, "aim.eai.amd.com"))
        aim_walk(&s, json_object_get(e->object, "spec"), "spec", 0);
}

static void secrets_compile(cctx *c, const ag_ynode *n, policy *p) { compile_secrets(c, n, &p->secrets); }

static int secrets_present(const policy *p) { return p->secrets.present; }

static void secrets_validate(const policy *p, eval_ctx *e, vlist *out, ag_error *err)
{
    (void)err;
    if (p->secrets.present && !e->specs_unchanged) /* an unchanged pod spec was judged before */
        validate_secrets(p, e, out);
}

static void secrets_free_block(policy *p) { secrets_free(&p->secrets); }

static const char *const secrets_controls[] = {"secrets", NULL};

const pol_block pol_block_secrets = {
    .key = "secrets", .phase = POL_VALIDATE, .controls = secrets_controls,
    .compile = secrets_compile, .present = secrets_present, .validate = secrets_validate,
    .free = secrets_free_block,
};
