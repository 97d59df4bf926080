/* validate.images: every image a pod carrier or an AIM resource will run, parsed and
 * normalised (imageref.c), then judged against the allowlist and tag rules. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/imageref.h"
#include "aimguard/podspec.h"

void images_free(images_cfg *c)
{
    image_allow *lists[1] = {&c->global};
    for (size_t k = 0; k < 1 + c->nper_ns; k++) {
        image_allow *a = k == 0 ? lists[0] : &c->per_ns[k - 1];
        strlist_free(&a->namespaces);
        strlist_free(&a->prefixes);
        regex_list_free(&a->patterns);
    }
    free(c->per_ns);
    memset(c, 0, sizeof *c);
}

/* The allowlist in force for this namespace: the first per-namespace entry that
 * matches, else the policy-wide one. */
static const image_allow *allow_for(const images_cfg *c, const char *ns)
{
    for (size_t i = 0; i < c->nper_ns; i++)
        if (strlist_has_glob(&c->per_ns[i].namespaces, ns))
            return &c->per_ns[i];
    return &c->global;
}

static int allowed(const image_allow *a, const ag_imageref *r, pcre2_match_context *mctx)
{
    if (!a->prefixes.n && !a->patterns.n)
        return 1;
    for (size_t i = 0; i < a->prefixes.n; i++)
        if (ag_imageref_under(r, a->prefixes.v[i]) == 1)
            return 1;
    char name[600];
    snprintf(name, sizeof name, "%s/%s", r->registry, r->repository);
    /* a limit hit or any matching error counts as no match: closed */
    return regex_list_any(&a->patterns, name, mctx);
}

static void judge(const policy *pol, eval_ctx *e, vlist *out, const char *who, const char *image,
                  const char *path)
{
    const images_cfg *c = &pol->images;
    char msg[900];
    ag_imageref r;
    ag_error err = {0};
    if (!image) {
        snprintf(msg, sizeof msg, "%s has no image", who);
        vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
        return;
    }
    if (ag_imageref_parse(image, &r, &err)) {
        ag_strfmt(msg, sizeof msg, "%s: %s", who, err.msg);
        vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
        return;
    }
    if (!allowed(allow_for(c, e->ns), &r, e->mctx)) {
        ag_strfmt(msg, sizeof msg, "%s uses %s, which is not under an allowed registry/repository",
                 who, r.normalized);
        vlist_add(out, pol, "images/allowlist", "images", pol->action, msg, path);
    }
    if (c->forbid_tagless && !r.tag && !r.digest) {
        ag_strfmt(msg, sizeof msg, "%s uses %s with neither a tag nor a digest (it would run :latest)",
                 who, r.normalized);
        vlist_add(out, pol, "images/tag", "images", pol->action, msg, path);
    }
    if (c->forbid_latest && r.tag && !strcmp(r.tag, "latest") && !r.digest) {
        ag_strfmt(msg, sizeof msg, "%s uses the mutable tag :latest (%s): pin a version or a digest",
                 who, r.normalized);
        vlist_add(out, pol, "images/tag", "images", pol->action, msg, path);
    }
    if (c->require_digest && !r.digest) {
        ag_strfmt(msg, sizeof msg, "%s uses %s, which is not pinned by digest (@sha256:...)", who,
                 r.normalized);
        vlist_add(out, pol, "images/digest", "images", pol->action, msg, path);
    }
    ag_imageref_clear(&r);
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

void validate_images(const policy *pol, eval_ctx *e, vlist *out)
{
    if (exception_applies(pol, e, "images"))
        return;
    for (size_t i = 0; i < e->nspecs; i++) {
        ag_container_iter it;
        ag_container_ref cr;
        ag_container_iter_init(&it, &e->specs[i]);
        while (ag_container_next(&it, &cr)) {
            char who[300], path[400];
            const char *name = ag_container_name(&cr);
            snprintf(who, sizeof who, "container \"%s\"", name ? name : "");
            ag_strfmt(path, sizeof path, "%s.image", ag_container_path(&cr));
            judge(pol, e, out, who, json_string_value(json_object_get(cr.c, "image")), path);
        }
    }
    if (strcmp(e->group ? e->group : "", "aim.eai.amd.com"))
        return;
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
        judge(pol, e, out, who, json_string_value(v), path);
    }
}
