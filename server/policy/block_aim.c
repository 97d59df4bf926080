/* spec.validate.aim: the AIM fields the CRDs leave unchecked (resources, gateways,
 * namespace length, routing paths). */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void compile_aim(cctx *c, const ag_ynode *n, aim_cfg *a)
{
    static const char *const keys[] = {"allowedResources", "allowedGateways", "maxNamespaceLength",
                                       "pathUnderNamespace", NULL};
    if (pol_check_map(c, n, "spec.validate.aim", keys))
        return;
    a->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allowedResources"))) pol_get_strlist(c, v, "aim.allowedResources", &a->allowed_resources);
    if ((v = ag_ynode_get(n, "allowedGateways"))) {
        pol_get_strlist(c, v, "aim.allowedGateways", &a->allowed_gateways);
        for (size_t i = 0; i < a->allowed_gateways.n; i++)
            if (!strchr(a->allowed_gateways.v[i], '/'))
                pol_err(c, v, "aim.allowedGateways: '%s' must be NAMESPACE/NAME (globs allowed)",
                         a->allowed_gateways.v[i]);
    }
    if ((v = ag_ynode_get(n, "maxNamespaceLength"))) pol_get_int(c, v, "aim.maxNamespaceLength", 1, 63, &a->max_ns_len);
    if ((v = ag_ynode_get(n, "pathUnderNamespace"))) pol_get_bool(c, v, "aim.pathUnderNamespace", &a->path_under_namespace);
}

static void aim_free(aim_cfg *c)
{
    pol_strlist_free(&c->allowed_resources);
    pol_strlist_free(&c->allowed_gateways);
    memset(c, 0, sizeof *c);
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int is_aim(const eval_ctx *e) { return e->group && !strcmp(e->group, "aim.eai.amd.com"); }

/* Renders the few JSONPath pieces a pathTemplate uses; others stay as written. */
static void render_path(const char *tpl, json_t *obj, char *out, size_t cap)
{
    json_t *meta = json_object_get(obj, "metadata");
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < cap;) {
        const char *sub = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{.metadata.namespace}", 21)) sub = str(meta, "namespace"), skip = 21;
        else if (!strncmp(p, "{.metadata.name}", 16)) sub = str(meta, "name"), skip = 16;
        if (skip) {
            int w = snprintf(out + o, cap - o, "%s", sub ? sub : "");
            o += w > 0 ? (size_t)w : 0;
            if (o >= cap) o = cap - 1;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void validate_aim(const policy *pol, eval_ctx *e, vlist *out)
{
    const aim_cfg *a = &pol->aim;
    if (!is_aim(e) || pol_exception_applies(pol, e, "aim"))
        return;
    json_t *spec = json_object_get(e->object, "spec");
    char msg[800];
    if (a->allowed_resources.n) {
        static const char *const lists[] = {"limits", "requests"};
        for (int l = 0; l < 2; l++) {
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(json_object_get(spec, "resources"), lists[l]), k, v) {
                if (pol_strlist_has_glob(&a->allowed_resources, k))
                    continue;
                char path[300];
                ag_strfmt(path, sizeof path, "spec.resources.%s['%s']", lists[l], k);
                ag_strfmt(msg, sizeof msg, "%s asks for the resource \"%s\", which is not on the allowed list",
                          e->kind, k);
                pol_vlist_add(out, pol, "aim/resources", "aim", pol->action, msg, path);
            }
        }
        const char *rn = str(json_object_get(json_object_get(spec, "hardware"), "gpu"), "resourceName");
        if (rn && !pol_strlist_has_glob(&a->allowed_resources, rn)) {
            ag_strfmt(msg, sizeof msg, "%s names the GPU resource \"%s\", which is not on the allowed list", e->kind, rn);
            pol_vlist_add(out, pol, "aim/resources", "aim", pol->action, msg, "spec.hardware.gpu.resourceName");
        }
    }
    if (strcmp(e->kind, "AIMService"))
        return;
    json_t *routing = json_object_get(spec, "routing");
    json_t *gw = json_object_get(routing, "gatewayRef");
    if (a->allowed_gateways.n && gw) {
        const char *gns = str(gw, "namespace"), *gname = str(gw, "name");
        char full[512];
        snprintf(full, sizeof full, "%s/%s", gns && *gns ? gns : e->ns, gname ? gname : "");
        if (!pol_strlist_has_glob(&a->allowed_gateways, full)) {
            ag_strfmt(msg, sizeof msg, "AIMService routes through the Gateway %s, which is not on the allowed list", full);
            pol_vlist_add(out, pol, "aim/gateway", "aim", pol->action, msg, "spec.routing.gatewayRef");
        }
    }
    const char *tpl = str(routing, "pathTemplate");
    if (a->path_under_namespace && tpl && *e->ns) {
        char path[512];
        render_path(tpl, e->object, path, sizeof path);
        size_t nl = strlen(e->ns);
        int ok = path[0] == '/' && !strncmp(path + 1, e->ns, nl) && (path[1 + nl] == '/' || path[1 + nl] == '\0') &&
                 !strstr(path, "/../") && !strstr(path, "//");
        if (!ok) {
            ag_strfmt(msg, sizeof msg, "AIMService pathTemplate renders \"%s\": a route must stay under "
                      "/%s/ on a shared gateway", path, e->ns);
            pol_vlist_add(out, pol, "aim/pathTemplate", "aim", pol->action, msg, "spec.routing.pathTemplate");
        }
    }
    if (a->max_ns_len && (long long)strlen(e->ns) > a->max_ns_len && !strcmp(e->operation, "CREATE")) {
        ag_strfmt(msg, sizeof msg, "the namespace name \"%s\" has %zu characters; AIMServices need at most %lld "
                  "(the operator fails later on longer ones)", e->ns, strlen(e->ns), a->max_ns_len);
        pol_vlist_add(out, pol, "aim/namespaceLength", "aim", pol->action, msg, "metadata.namespace");
    }
}

static void aim_compile(cctx *c, const ag_ynode *n, policy *p) { compile_aim(c, n, &p->aim); }

static int aim_present(const policy *p) { return p->aim.present; }

static void aim_validate(const policy *p, eval_ctx *e, vlist *out, ag_error *err)
{
    (void)err;
    if (p->aim.present)
        validate_aim(p, e, out);
}

static void aim_free_block(policy *p) { aim_free(&p->aim); }

static const char *const aim_controls[] = {"aim", NULL};

const pol_block pol_block_aim = {
    .key = "aim", .phase = POL_VALIDATE, .controls = aim_controls,
    .compile = aim_compile, .present = aim_present, .validate = aim_validate,
    .free = aim_free_block,
};
