/* spec.validate.images, compiled, judged and freed here: every image a pod carrier or an AIM resource will run, parsed and
 * normalised (imageref.c), then judged against the allowlist and tag rules. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/imageref.h"
#include "aimguard/podspec.h"

static void compile_allow(cctx *c, const ag_ynode *n, const char *where, image_allow *a)
{
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allow"))) {
        pol_get_strlist(c, v, "images.allow", &a->prefixes);
        ag_imageref probe;
        ag_error err = {0};
        ag_imageref_parse("docker.io/library/probe", &probe, &err);
        for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++)
            if (v->items[i]->type == AG_YNODE_SCALAR && ag_imageref_under(&probe, v->items[i]->value) < 0)
                pol_err(c, v->items[i], "%s.allow: '%s' is not a registry[/repository path] prefix "
                         "(e.g. docker.io/amdenterpriseai/)", where, v->items[i]->value);
        ag_imageref_clear(&probe);
    }
    if ((v = ag_ynode_get(n, "allowPatterns"))) {
        char w[96];
        snprintf(w, sizeof w, "%s.allowPatterns", where);
        pol_regex_list_compile(c, v, w, &a->patterns);
        for (size_t i = 0, ok = 0; v->type == AG_YNODE_SEQ && i < v->count; i++, ok = 0) {
            /* a pattern that did not compile has its one error already */
            for (size_t j = 0; v->items[i]->type == AG_YNODE_SCALAR && j < a->patterns.n; j++)
                ok |= a->patterns.text[j] && !strcmp(a->patterns.text[j], v->items[i]->value);
            if (ok && v->items[i]->value[0] != '^')
                pol_err(c, v->items[i], "%s.allowPatterns: '%s' must be anchored with '^' (an "
                         "unanchored pattern lets evil.io/registry.example.com/... through)", where,
                         v->items[i]->value);
        }
    }
}

/* allowFrom: {namespaceAnnotation, configMap: {namespace, name, key}, failClosed} */
static void compile_from(cctx *c, const ag_ynode *n, images_from *f)
{
    static const char *const keys[] = {"namespaceAnnotation", "configMap", "failClosed", NULL};
    static const char *const cm_keys[] = {"namespace", "name", "key", NULL};
    f->fail_closed = 1;
    if (pol_check_map(c, n, "images.allowFrom", keys))
        return;
    f->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "namespaceAnnotation"))) {
        const char *a = pol_scalar(c, v, "images.allowFrom.namespaceAnnotation");
        if (a && (!*a || strlen(a) > 316 || strchr(a, ' ')))
            pol_err(c, v, "images.allowFrom.namespaceAnnotation: '%s' is not an annotation key", a);
        else if (a)
            f->ns_annotation = pol_strdup(c, v, a);
    }
    if ((v = ag_ynode_get(n, "configMap")) && !pol_check_map(c, v, "images.allowFrom.configMap", cm_keys)) {
        const char *what[3] = {"namespace", "name", "key"};
        char **dst[3] = {&f->cm_namespace, &f->cm_name, &f->cm_key};
        for (int i = 0; i < 3; i++) {
            const ag_ynode *x = ag_ynode_get(v, what[i]);
            char w[64];
            snprintf(w, sizeof w, "images.allowFrom.configMap.%s", what[i]);
            const char *s = x ? pol_scalar(c, x, w) : NULL;
            if (!x)
                pol_err(c, v, "images.allowFrom.configMap needs %s", what[i]);
            else if (s && (!*s || strlen(s) > 253 || strpbrk(s, "/ ")))
                pol_err(c, x, "%s: '%s' is not a valid %s", w, s, what[i]);
            else if (s)
                *dst[i] = pol_strdup(c, x, s);
        }
    }
    if ((v = ag_ynode_get(n, "failClosed")))
        pol_get_bool(c, v, "images.allowFrom.failClosed", &f->fail_closed);
    if (!ag_ynode_get(n, "namespaceAnnotation") && !ag_ynode_get(n, "configMap"))
        pol_err(c, n, "images.allowFrom needs namespaceAnnotation or configMap (where the allowed "
                       "registries are read)");
}

static void compile_images(cctx *c, const ag_ynode *n, images_cfg *im)
{
    static const char *const keys[] = {"allow", "allowPatterns", "requireDigest", "forbidLatest",
                                       "forbidTagless", "namespaces", "allowFrom", NULL};
    static const char *const nkeys[] = {"namespaces", "allow", "allowPatterns", NULL};
    if (pol_check_map(c, n, "spec.validate.images", keys))
        return;
    im->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "requireDigest"))) pol_get_bool(c, v, "requireDigest", &im->require_digest);
    if ((v = ag_ynode_get(n, "forbidLatest"))) pol_get_bool(c, v, "forbidLatest", &im->forbid_latest);
    if ((v = ag_ynode_get(n, "forbidTagless"))) pol_get_bool(c, v, "forbidTagless", &im->forbid_tagless);
    compile_allow(c, n, "images", &im->global);
    if ((v = ag_ynode_get(n, "allowFrom")) && !pol_need_version(c, v, "images.allowFrom", 2))
        compile_from(c, v, &im->from);
    if ((v = ag_ynode_get(n, "namespaces"))) {
        if (v->type != AG_YNODE_SEQ) {
            pol_err(c, v, "images.namespaces must be a list of {namespaces, allow, allowPatterns}");
            return;
        }
        im->per_ns = calloc(v->count ? v->count : 1, sizeof *im->per_ns);
        for (size_t i = 0; im->per_ns && i < v->count; i++) {
            if (pol_check_map(c, v->items[i], "images.namespaces[]", nkeys))
                continue;
            image_allow *a = &im->per_ns[im->nper_ns++];
            const ag_ynode *ns = ag_ynode_get(v->items[i], "namespaces");
            if (!ns)
                pol_err(c, v->items[i], "images.namespaces[] needs namespaces");
            else
                pol_get_strlist(c, ns, "images.namespaces[].namespaces", &a->namespaces);
            compile_allow(c, v->items[i], "images.namespaces[]", a);
        }
    }
    /* on what was written, not what compiled: a bad pattern is one error, not two */
    if (!im->global.prefixes.n && !pol_given(n, "allowPatterns") && !pol_given(n, "namespaces") &&
        !im->require_digest && !im->forbid_latest && !im->forbid_tagless && !ag_ynode_get(n, "allowFrom"))
        pol_err(c, n, "spec.validate.images says nothing: give allow, allowPatterns, allowFrom, "
                       "requireDigest, forbidLatest or forbidTagless");
}

static void images_free(images_cfg *c)
{
    image_allow *lists[1] = {&c->global};
    for (size_t k = 0; k < 1 + c->nper_ns; k++) {
        image_allow *a = k == 0 ? lists[0] : &c->per_ns[k - 1];
        pol_strlist_free(&a->namespaces);
        pol_strlist_free(&a->prefixes);
        pol_regex_list_free(&a->patterns);
    }
    free(c->per_ns);
    free(c->from.ns_annotation);
    free(c->from.cm_namespace);
    free(c->from.cm_name);
    free(c->from.cm_key);
    memset(c, 0, sizeof *c);
}

/* The allowlist in force for this namespace: the first per-namespace entry that
 * matches, else the policy-wide one. */
static const image_allow *allow_for(const images_cfg *c, const char *ns)
{
    for (size_t i = 0; i < c->nper_ns; i++)
        if (pol_strlist_has_glob(&c->per_ns[i].namespaces, ns))
            return &c->per_ns[i];
    return &c->global;
}

/* allowFrom read for one request: the prefixes the cluster gives, and what it could not tell */
typedef struct from_data {
    int used;           /* allowFrom configured: the allowlist exists even when empty */
    strlist prefixes;   /* valid registry[/path] prefixes read */
    char unknown[400];  /* why some source is unknown, "" when all are known */
    char bad[300];      /* entries skipped as not a registry[/path] prefix */
} from_data;

/* "a, b,c\n d" -> prefixes; entries that are no prefix are named in d->bad */
static void add_entries(from_data *d, const char *text)
{
    ag_imageref probe;
    ag_error err = {0};
    if (ag_imageref_parse("docker.io/library/probe", &probe, &err))
        return;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",\n");
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t' || p[m - 1] == '\r'))
            m--;
        if (m) {
            char entry[256];
            ag_strfmt(entry, sizeof entry, "%.*s", (int)(m < sizeof entry ? m : sizeof entry - 1), p);
            if (m >= sizeof entry || ag_imageref_under(&probe, entry) < 0) {
                size_t bl = strlen(d->bad);
                ag_strfmt(d->bad + bl, sizeof d->bad - bl, "%s'%s'", bl ? ", " : "", entry);
            } else {
                pol_strlist_add(&d->prefixes, entry);
            }
        }
        p += n;
        if (*p)
            p++;
    }
    ag_imageref_clear(&probe);
}

/* "<what> <name> is unknown to aimguard (<why>)" added to d->unknown */
static void unknown(from_data *d, const char *what, const char *name, const char *why)
{
    size_t l = strlen(d->unknown);
    ag_strfmt(d->unknown + l, sizeof d->unknown - l, "%s%s %s is unknown to aimguard (%s)", l ? "; " : "",
              what, name, why);
}

/* What the namespace's annotation and the ConfigMap say, through the cluster view. A
 * NULL answer never proves absence (aimguard/view.h): it is unknown, as namespace labels
 * are in select.c, and failClosed decides. */
static void read_from(const images_from *f, const eval_ctx *e, from_data *d)
{
    if (!f->present)
        return;
    d->used = 1;
    const ag_view *v = e->view;
    if (f->ns_annotation && *e->ns) {
        json_t *ns = v && v->get ? v->get(v->ctx, "namespaces", "", e->ns) : NULL;
        if (!ns) {
            unknown(d, "namespace", e->ns, v && v->get ? "not in the cluster view: its annotation is unknown"
                                                       : "no cluster view: its annotation is unknown");
        } else {
            const char *a = json_string_value(
                json_object_get(json_object_get(json_object_get(ns, "metadata"), "annotations"), f->ns_annotation));
            if (a)
                add_entries(d, a);
            json_decref(ns);
        }
    }
    if (f->cm_name) {
        json_t *cm = v && v->get ? v->get(v->ctx, "configmaps", f->cm_namespace, f->cm_name) : NULL;
        if (!cm) {
            char nn[520];
            ag_strfmt(nn, sizeof nn, "%s/%s", f->cm_namespace, f->cm_name);
            unknown(d, "ConfigMap", nn, v && v->get ? "not in the cluster view" : "no cluster view");
        } else {
            const char *t = json_string_value(json_object_get(json_object_get(cm, "data"), f->cm_key));
            if (t)
                add_entries(d, t);
            json_decref(cm);
        }
    }
}

static int allowed(const image_allow *a, const from_data *d, const ag_imageref *r, pcre2_match_context *mctx)
{
    if (!a->prefixes.n && !a->patterns.n && !d->used)
        return 1;
    for (size_t i = 0; i < d->prefixes.n; i++)
        if (ag_imageref_under(r, d->prefixes.v[i]) == 1)
            return 1;
    for (size_t i = 0; i < a->prefixes.n; i++)
        if (ag_imageref_under(r, a->prefixes.v[i]) == 1)
            return 1;
    char name[600];
    snprintf(name, sizeof name, "%s/%s", r->registry, r->repository);
    /* a limit hit or any matching error counts as no match: closed */
    return pol_regex_any(&a->patterns, name, mctx);
}

static void judge(const policy *pol, eval_ctx *e, vlist *out, const from_data *d, const char *who,
                  const char *image, const char *path)
{
    const images_cfg *c = &pol->images;
    char msg[900];
    ag_imageref r;
    ag_error err = {0};
    if (!image) {
        snprintf(msg, sizeof msg, "%s has no image", who);
        pol_vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
        return;
    }
    if (ag_imageref_parse(image, &r, &err)) {
        ag_strfmt(msg, sizeof msg, "%s: %s", who, err.msg);
        pol_vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
        return;
    }
    if (!allowed(allow_for(c, e->ns), d, &r, e->mctx)) {
        char more[800] = "";
        if (d->bad[0])
            ag_strfmt(more, sizeof more, "; skipped entries that are not registry[/path] prefixes: %s", d->bad);
        if (!d->unknown[0]) {
            ag_strfmt(msg, sizeof msg, "%s uses %s, which is not under an allowed registry/repository%s",
                     who, r.normalized, more);
            pol_vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
        } else if (c->from.fail_closed) {
            ag_strfmt(msg, sizeof msg, "%s uses %s, which is not under a registry known to be allowed: %s; "
                     "failClosed: true denies%s", who, r.normalized, d->unknown, more);
            pol_vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
        } else {
            ag_strfmt(msg, sizeof msg, "%s uses %s, admitted without knowing whether it is allowed: %s; "
                     "failClosed: false admits%s", who, r.normalized, d->unknown, more);
            pol_vlist_add(out, pol, "images/allowlist", "images",
                          pol->action == AG_ACTION_ENFORCE ? AG_ACTION_WARN : pol->action, msg, path);
        }
    }
    if (c->forbid_tagless && !r.tag && !r.digest) {
        ag_strfmt(msg, sizeof msg, "%s uses %s with neither a tag nor a digest (it would run :latest)",
                 who, r.normalized);
        pol_vlist_add(out, pol, "images/tag", "images", pol->action, msg, path);
    }
    if (c->forbid_latest && r.tag && !strcmp(r.tag, "latest") && !r.digest) {
        ag_strfmt(msg, sizeof msg, "%s uses the mutable tag :latest (%s): pin a version or a digest",
                 who, r.normalized);
        pol_vlist_add(out, pol, "images/tag", "images", pol->action, msg, path);
    }
    if (c->require_digest && !r.digest) {
        ag_strfmt(msg, sizeof msg, "%s uses %s, which is not pinned by digest (@sha256:...)", who,
                 r.normalized);
        pol_vlist_add(out, pol, "images/digest", "images", pol->action, msg, path);
    }
    ag_imageref_clear(&r);
}

/* judge, unless an exception scoped by this image waives `images`: then the waiver is
 * recorded only when it kept a violation out */
static void judge_waivable(const policy *pol, eval_ctx *e, vlist *out, const from_data *d, const char *who,
                           const char *image, const char *path)
{
    const exception_ *x = pol_exception_for_image(pol, e, "images", image);
    if (!x) {
        judge(pol, e, out, d, who, image, path);
        return;
    }
    vlist waived = {0};
    judge(pol, e, &waived, d, who, image, path);
    if (waived.n)
        pol_exception_record(pol, e, x, "images");
    out->oom |= waived.oom;
    pol_vlist_clear(&waived);
}

/* The AIM fields that become container images (shared/reference/aim-resources.md s.8). */
static const struct aim_image {
    const char *kind, *path[4];
} aim_images[] = {
    {"AIMService", {"spec", "model", "image", NULL}},
    {"AIMService", {"spec", "model", "custom", "baseImage"}},
    {"AIMModel", {"spec", "image", NULL, NULL}},
    {"AIMClusterModel", {"spec", "image", NULL, NULL}},
    {"AIMArtifact", {"spec", "modelDownloadImage", NULL, NULL}},
    {"AIMTemplateCache", {"spec", "downloadImage", NULL, NULL}},
};

static void validate_images(const policy *pol, eval_ctx *e, vlist *out)
{
    if (pol_exception_applies(pol, e, "images"))
        return;
    from_data d = {0};
    read_from(&pol->images.from, e, &d);
    for (size_t i = 0; i < e->nspecs; i++) {
        ag_container_iter it;
        ag_container_ref cr;
        ag_container_iter_init(&it, &e->specs[i]);
        while (ag_container_next(&it, &cr)) {
            char who[300], path[400];
            const char *name = ag_container_name(&cr);
            snprintf(who, sizeof who, "container \"%s\"", name ? name : "");
            ag_strfmt(path, sizeof path, "%s.image", ag_container_path(&cr));
            judge_waivable(pol, e, out, &d, who, json_string_value(json_object_get(cr.c, "image")), path);
        }
    }
    if (strcmp(e->group ? e->group : "", "aim.eai.amd.com")) {
        pol_strlist_free(&d.prefixes);
        return;
    }
    for (size_t a = 0; a < sizeof aim_images / sizeof aim_images[0]; a++) {
        if (strcmp(aim_images[a].kind, e->kind))
            continue;
        json_t *v = e->object;
        char path[200] = "";
        for (int s = 0; s < 4 && aim_images[a].path[s] && v; s++) {
            v = json_object_get(v, aim_images[a].path[s]);
            ag_strfmt(path + strlen(path), sizeof path - strlen(path), "%s%s", s ? "." : "",
                      aim_images[a].path[s]);
        }
        if (!json_is_string(v))
            continue;
        char who[260];
        snprintf(who, sizeof who, "%s %s", e->kind, path);
        judge_waivable(pol, e, out, &d, who, json_string_value(v), path);
    }
    pol_strlist_free(&d.prefixes);
}

static void images_compile(cctx *c, const ag_ynode *n, policy *p) { compile_images(c, n, &p->images); }

static int images_present(const policy *p) { return p->images.present; }

static void images_validate(const policy *p, eval_ctx *e, vlist *out, ag_error *err)
{
    (void)err;
    if (p->images.present && !e->specs_unchanged) /* an unchanged pod spec was judged before */
        validate_images(p, e, out);
}

static void images_free_block(policy *p) { images_free(&p->images); }

static const char *const images_controls[] = {"images", NULL};

const pol_block pol_block_images = {
    .key = "images", .phase = POL_VALIDATE, .controls = images_controls,
    .compile = images_compile, .present = images_present, .validate = images_validate,
    .free = images_free_block,
};
