/* The blocks of a policy: spec.mutate (securityContext, gpu) and spec.validate (rules,
 * images, secrets, rbac, aim), from YAML nodes to compiled structures. */
#include "compile_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/imageref.h"

/* A volume name for a writable directory: DNS-1123 label from the path. */
static char *dir_volume_name(const char *path)
{
    char buf[64] = "aimguard-writable";
    size_t o = strlen(buf);
    int dash = 0;
    for (const char *p = path; *p && o < 62; p++) {
        char ch = (char)tolower((unsigned char)*p);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash || o == strlen("aimguard-writable"))
                buf[o++] = '-';
            dash = 0;
            if (o < 62)
                buf[o++] = ch;
        } else {
            dash = 1;
        }
    }
    buf[o] = '\0';
    return strdup(buf);
}

static void compile_dirs(cctx *c, const ag_ynode *n, harden *h)
{
    static const char *const keys[] = {"path", "medium", "sizeLimit", NULL};
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "spec.mutate.securityContext.writableDirs must be a list");
        return;
    }
    h->dirs = calloc(n->count ? n->count : 1, sizeof *h->dirs);
    if (!h->dirs)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const ag_ynode *e = n->items[i];
        /* the slot only counts (h->ndirs++, and what frees it) once the entry is
         * accepted: what a refused entry set is cleared, not left to the next one */
        writable_dir *d = &h->dirs[h->ndirs];
        const char *path = NULL;
        if (e->type == AG_YNODE_SCALAR) {
            path = e->value;
        } else if (!pc_check_map(c, e, "writableDirs entry", keys)) {
            const ag_ynode *pn = ag_ynode_get(e, "path");
            if (pn)
                path = pc_scalar(c, pn, "writableDirs[].path");
            else
                cctx_err(c, e, "writableDirs[].path is required");
            const ag_ynode *m = ag_ynode_get(e, "medium");
            if (m) {
                const char *ms = pc_scalar(c, m, "writableDirs[].medium");
                static const char *const media[] = {"Memory", NULL};
                char hint[96];
                if (ms && strcmp(ms, "Memory") && strcmp(ms, ""))
                    cctx_err(c, m, "writableDirs[].medium must be \"\" (node disk) or Memory%s",
                             pc_hint(hint, sizeof hint, ms, media));
                else if (ms)
                    d->medium = strdup(ms);
            }
            const ag_ynode *sl = ag_ynode_get(e, "sizeLimit");
            if (sl) {
                const char *ss = pc_scalar(c, sl, "writableDirs[].sizeLimit");
                if (ss)
                    d->size_limit = strdup(ss);
            }
        }
        if (path && (path[0] != '/' || strstr(path, "..") || strlen(path) > 200)) {
            cctx_err(c, e, "writableDirs: '%s' must be an absolute path without '..'", path);
            path = NULL;
        }
        if (!path) {
            free(d->medium);
            free(d->size_limit);
            memset(d, 0, sizeof *d);
            continue;
        }
        for (size_t j = 0; j < h->ndirs; j++)
            if (!strcmp(h->dirs[j].path, path))
                cctx_err(c, e, "writableDirs: '%s' is listed twice", path);
        d->path = strdup(path);
        d->volume = dir_volume_name(path);
        h->ndirs++;
    }
}

void compile_harden(cctx *c, const ag_ynode *n, harden *h)
{
    static const char *const keys[] = {
        "runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile",
        "allowPrivilegeEscalation", "dropCapabilities", "readOnlyRootFilesystem", "writableDirs",
        "automountServiceAccountToken", NULL};
    const char *w = "spec.mutate.securityContext";
    h->run_as_non_root = h->allow_priv_esc = h->read_only_root = h->automount_token = -1;
    if (pc_check_map(c, n, w, keys))
        return;
    h->present = 1;
    KEY_EACH(n, k, v) {
        const char *f = k->value;
        if (!strcmp(f, "runAsNonRoot")) pc_get_bool(c, v, "runAsNonRoot", &h->run_as_non_root);
        else if (!strcmp(f, "allowPrivilegeEscalation")) pc_get_bool(c, v, f, &h->allow_priv_esc);
        else if (!strcmp(f, "readOnlyRootFilesystem")) pc_get_bool(c, v, f, &h->read_only_root);
        else if (!strcmp(f, "automountServiceAccountToken")) pc_get_bool(c, v, f, &h->automount_token);
        else if (!strcmp(f, "runAsUser")) h->has_uid = !pc_get_int(c, v, f, 0, 2147483647, &h->uid);
        else if (!strcmp(f, "runAsGroup")) h->has_gid = !pc_get_int(c, v, f, 0, 2147483647, &h->gid);
        else if (!strcmp(f, "fsGroup")) h->has_fsgroup = !pc_get_int(c, v, f, 0, 2147483647, &h->fsgroup);
        else if (!strcmp(f, "seccompProfile")) {
            static const char *const profiles[] = {"RuntimeDefault", NULL};
            char hint[96];
            const char *s = pc_scalar(c, v, f);
            if (s && strcmp(s, "RuntimeDefault"))
                cctx_err(c, v, "seccompProfile must be RuntimeDefault (Localhost profiles are set "
                               "per workload, Unconfined is never a default)%s",
                         pc_hint(hint, sizeof hint, s, profiles));
            else if (s)
                h->seccomp = strdup(s);
        } else if (!strcmp(f, "dropCapabilities")) {
            pc_get_strlist(c, v, f, &h->drop_caps);
            for (size_t i = 0; i < h->drop_caps.n; i++)
                for (char *p = h->drop_caps.v[i]; *p; p++)
                    if (!(isupper((unsigned char)*p) || *p == '_' || isdigit((unsigned char)*p)))
                        cctx_err(c, v, "dropCapabilities: '%s' is not a capability name "
                                       "(upper case, e.g. ALL or NET_RAW)", h->drop_caps.v[i]);
        } else if (!strcmp(f, "writableDirs")) compile_dirs(c, v, h);
    }
    if (h->ndirs && h->read_only_root != 1)
        cctx_err(c, n, "writableDirs only makes sense with readOnlyRootFilesystem: true");
}

static json_t *to_json_checked(cctx *c, const ag_ynode *n)
{
    json_t *j = NULL;
    ag_error err = {0};
    if (ag_ynode_to_json(n, c->file, &j, &err)) {
        c->errors++;
        char **ni = realloc(c->diags->items, (c->diags->count + 1) * sizeof *ni);
        if (ni) {
            c->diags->items = ni;
            if ((ni[c->diags->count] = strdup(err.msg)))
                c->diags->count++;
        }
    }
    return j;
}

static json_t *compile_exprs(cctx *c, const ag_ynode *n, const char *where)
{
    static const char *const keys[] = {"key", "operator", "values", NULL};
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", NULL};
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "%s must be a list of {key, operator, values}", where);
        return NULL;
    }
    for (size_t i = 0; i < n->count; i++) {
        const ag_ynode *e = n->items[i];
        if (pc_check_map(c, e, where, keys))
            continue;
        if (!pc_scalar(c, ag_ynode_get(e, "key"), "key"))
            continue;
        const char *op = pc_scalar(c, ag_ynode_get(e, "operator"), "operator");
        int ok = 0;
        for (const char *const *o = ops; op && *o; o++)
            ok |= !strcmp(*o, op);
        char hint[96];
        if (op && !ok)
            cctx_err(c, ag_ynode_get(e, "operator"), "%s: unknown operator '%s'%s", where, op,
                     pc_hint(hint, sizeof hint, op, ops));
        const ag_ynode *vals = ag_ynode_get(e, "values");
        int needs = op && (!strcmp(op, "In") || !strcmp(op, "NotIn") || !strcmp(op, "Gt") || !strcmp(op, "Lt"));
        if (needs && (!vals || vals->type != AG_YNODE_SEQ || vals->count == 0))
            cctx_err(c, e, "%s: operator %s needs a non-empty values list", where, op);
        if (!needs && vals)
            cctx_err(c, vals, "%s: operator %s takes no values", where, op);
        if (vals) {
            strlist tmp = {0};
            pc_get_strlist(c, vals, "values", &tmp);
            strlist_free(&tmp);
        }
    }
    return to_json_checked(c, n);
}

void compile_gpu(cctx *c, const ag_ynode *n, gpu_cfg *g)
{
    static const char *const keys[] = {"resources", "nodeSelector", "nodeAffinity", "tolerations",
                                       "nonGpuPods", NULL};
    static const char *const tkeys[] = {"key", "operator", "value", "effect", "tolerationSeconds", NULL};
    static const char *const nkeys[] = {"nodeAffinity", NULL};
    if (pc_check_map(c, n, "spec.mutate.gpu", keys))
        return;
    g->present = 1;
    KEY_EACH(n, k, v) {
        const char *f = k->value;
        if (!strcmp(f, "resources")) pc_get_strlist(c, v, "gpu.resources", &g->resources);
        else if (!strcmp(f, "nodeSelector")) pc_get_kv(c, v, "gpu.nodeSelector", &g->node_selector);
        else if (!strcmp(f, "nodeAffinity")) g->match_expressions = compile_exprs(c, v, "gpu.nodeAffinity");
        else if (!strcmp(f, "nonGpuPods")) {
            if (!pc_check_map(c, v, "gpu.nonGpuPods", nkeys) && ag_ynode_get(v, "nodeAffinity"))
                g->non_gpu_expressions = compile_exprs(c, ag_ynode_get(v, "nodeAffinity"),
                                                       "gpu.nonGpuPods.nodeAffinity");
        } else if (!strcmp(f, "tolerations")) {
            if (!v || v->type != AG_YNODE_SEQ) {
                cctx_err(c, v, "gpu.tolerations must be a list");
                continue;
            }
            for (size_t i = 0; i < v->count; i++) {
                if (pc_check_map(c, v->items[i], "gpu.tolerations[]", tkeys))
                    continue;
                static const char *const topers[] = {"Equal", "Exists", NULL};
                static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
                char hint[96];
                const ag_ynode *op = ag_ynode_get(v->items[i], "operator");
                const char *ops = op ? pc_scalar(c, op, "operator") : "Equal";
                if (ops && strcmp(ops, "Equal") && strcmp(ops, "Exists"))
                    cctx_err(c, op, "gpu.tolerations[].operator must be Equal or Exists%s",
                             pc_hint(hint, sizeof hint, ops, topers));
                const ag_ynode *ef = ag_ynode_get(v->items[i], "effect");
                const char *efs = ef ? pc_scalar(c, ef, "effect") : NULL;
                if (efs && strcmp(efs, "NoSchedule") && strcmp(efs, "PreferNoSchedule") &&
                    strcmp(efs, "NoExecute") && strcmp(efs, ""))
                    cctx_err(c, ef, "gpu.tolerations[].effect must be NoSchedule, "
                                    "PreferNoSchedule or NoExecute%s", pc_hint(hint, sizeof hint, efs, effects));
            }
            g->tolerations = to_json_checked(c, v);
        }
    }
    if (g->resources.n == 0 && strlist_add(&g->resources, "amd.com/gpu"))
        cctx_err(c, n, "out of memory");
}

/* Compiles one PCRE2 pattern (UTF, JIT when available); reports errors at node. */
static pcre2_code *compile_pattern(cctx *c, const ag_ynode *node, const char *pat)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(ec, buf, sizeof buf);
        if (c)
            cctx_err(c, node, "pattern '%s': %s at offset %zu", pat, (char *)buf, (size_t)off);
        return NULL;
    }
    /* JIT when available (the interpreter is the fallback). AIMGUARD_PCRE2_JIT=0 turns it
     * off for memory checkers: valgrind cannot follow JIT-generated code and reports
     * false "uninitialised" jumps inside it */
    const char *jit = getenv("AIMGUARD_PCRE2_JIT");
    if (!jit || strcmp(jit, "0"))
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static void regex_list_push(regex_list *l, pcre2_code *re, const char *text)
{
    l->re[l->n] = re;
    l->text[l->n++] = strdup(text);
}

/* "spec.containers[*].ports[*].hostPort", "podSpec.allContainers[*].image",
 * "metadata.labels['app.kubernetes.io/name']" */
static int compile_path(cctx *c, const ag_ynode *n, generic_rule *r)
{
    const char *p = r->path_text;
    size_t cap = 16;
    r->segs = calloc(cap, sizeof *r->segs);
    if (!r->segs)
        return -1;
    int first = 1;
    while (*p) {
        if (r->nsegs + 1 >= cap) {
            cctx_err(c, n, "path '%s' has too many segments (max 15)", r->path_text);
            return -1;
        }
        path_seg *s = &r->segs[r->nsegs];
        if (*p == '[') {
            p++;
            if (*p == '*' && p[1] == ']') {
                s->type = SEG_ANY;
                p += 2;
            } else if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *e = strchr(p, q);
                if (!e || e[1] != ']') {
                    cctx_err(c, n, "path '%s': unterminated quoted key", r->path_text);
                    return -1;
                }
                s->type = SEG_KEY;
                s->key = strndup(p, (size_t)(e - p));
                p = e + 2;
            } else if (isdigit((unsigned char)*p)) {
                char *end;
                s->type = SEG_INDEX;
                s->index = strtoul(p, &end, 10);
                if (*end != ']') {
                    cctx_err(c, n, "path '%s': bad index", r->path_text);
                    return -1;
                }
                p = end + 1;
            } else {
                cctx_err(c, n, "path '%s': expected [*], [N] or ['key']", r->path_text);
                return -1;
            }
        } else {
            if (*p == '.') {
                if (first) {
                    cctx_err(c, n, "path '%s' must not start with '.'", r->path_text);
                    return -1;
                }
                p++;
            }
            size_t len = strcspn(p, ".[");
            if (len == 0) {
                cctx_err(c, n, "path '%s' has an empty segment", r->path_text);
                return -1;
            }
            s->type = SEG_KEY;
            s->key = strndup(p, len);
            if (first && !strcmp(s->key, "podSpec"))
                s->type = SEG_PODSPEC;
            else if (r->nsegs == 1 && r->segs[0].type == SEG_PODSPEC && !strcmp(s->key, "allContainers"))
                s->type = SEG_ALLCONTAINERS;
            p += len;
        }
        first = 0;
        r->nsegs++;
    }
    if (r->nsegs == 0) {
        cctx_err(c, n, "path must not be empty");
        return -1;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].type == SEG_ALLCONTAINERS && (i + 1 >= r->nsegs || r->segs[i + 1].type != SEG_ANY)) {
            cctx_err(c, n, "path '%s': allContainers must be followed by [*]", r->path_text);
            return -1;
        }
    return 0;
}

void compile_rule(cctx *c, const ag_ynode *n, policy *p, generic_rule *r)
{
    static const char *const keys[] = {"name", "action", "path", "absent", "equals", "oneOf",
                                       "matches", "notMatches", "range", "required", "message", NULL};
    r->action = -1;
    if (pc_check_map(c, n, "spec.validate.rules[]", keys))
        return;
    const ag_ynode *nm = ag_ynode_get(n, "name"), *pa = ag_ynode_get(n, "path");
    if (!nm) cctx_err(c, n, "rule: name is required");
    else if (pc_scalar(c, nm, "rule name")) r->name = strdup(nm->value);
    if (!pa) cctx_err(c, n, "rule %s: path is required", r->name ? r->name : "");
    else if (pc_scalar(c, pa, "path")) {
        r->path_text = strdup(pa->value);
        compile_path(c, pa, r);
    }
    for (size_t i = 0; r->name && i < p->nrules; i++)
        if (p->rules[i].name && !strcmp(p->rules[i].name, r->name))
            cctx_err(c, nm, "rule name '%s' is used twice in policy %s", r->name, p->name);
    const ag_ynode *a = ag_ynode_get(n, "action");
    if (a) r->action = pc_parse_action(c, a, "rule action");
    const ag_ynode *req = ag_ynode_get(n, "required");
    if (req) pc_get_bool(c, req, "required", &r->required);
    const ag_ynode *msg = ag_ynode_get(n, "message");
    if (msg && pc_scalar(c, msg, "message")) r->message = strdup(msg->value);

    int nconds = 0;
    const ag_ynode *cn;
    if ((cn = ag_ynode_get(n, "absent"))) {
        int b = 0;
        if (!pc_get_bool(c, cn, "absent", &b) && !b)
            cctx_err(c, cn, "absent: false says nothing; use required: true");
        r->cond = COND_ABSENT, nconds++;
    }
    if ((cn = ag_ynode_get(n, "equals"))) {
        r->cond = COND_EQUALS, nconds++;
        json_decref(r->value);
        r->value = to_json_checked(c, cn);
    }
    if ((cn = ag_ynode_get(n, "oneOf"))) {
        r->cond = COND_ONEOF, nconds++;
        if (cn->type != AG_YNODE_SEQ || cn->count == 0)
            cctx_err(c, cn, "oneOf must be a non-empty list");
        else {
            json_decref(r->value);
            r->value = to_json_checked(c, cn);
        }
    }
    const ag_ynode *mt = ag_ynode_get(n, "matches"), *nmt = ag_ynode_get(n, "notMatches");
    if (mt || nmt) {
        const ag_ynode *pn = mt ? mt : nmt;
        r->cond = mt ? COND_MATCHES : COND_NOTMATCHES;
        nconds += (mt != NULL) + (nmt != NULL);
        const char *pat = pc_scalar(c, pn, "pattern");
        if (pat && (r->re = compile_pattern(c, pn, pat)))
            r->pattern = strdup(pat);
    }
    if ((cn = ag_ynode_get(n, "range"))) {
        static const char *const rkeys[] = {"min", "max", NULL};
        r->cond = COND_RANGE, nconds++;
        if (!pc_check_map(c, cn, "range", rkeys)) {
            const ag_ynode *mn = ag_ynode_get(cn, "min"), *mx = ag_ynode_get(cn, "max");
            if (mn) r->has_min = !pc_get_number(c, mn, "range.min", &r->min);
            if (mx) r->has_max = !pc_get_number(c, mx, "range.max", &r->max);
            if (!mn && !mx) cctx_err(c, cn, "range needs min, max or both");
            if (r->has_min && r->has_max && r->min > r->max) cctx_err(c, cn, "range: min > max");
        }
    }
    if (nconds == 0 && r->required)
        r->cond = COND_EXISTS; /* "the path exists", nothing more */
    if (nconds != 1 && !(nconds == 0 && r->required))
        cctx_err(c, n, "rule %s: exactly one condition is needed (absent, equals, oneOf, "
                       "matches, notMatches or range)", r->name ? r->name : "");
}

/* 1 when the block writes `key` with something in it (a list entry that failed to
 * compile was reported already and still counts as said). */
static int given(const ag_ynode *n, const char *key)
{
    const ag_ynode *v = ag_ynode_get(n, key);
    return v && (v->type != AG_YNODE_SEQ || v->count > 0);
}

static void compile_allow(cctx *c, const ag_ynode *n, const char *where, image_allow *a)
{
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allow"))) {
        pc_get_strlist(c, v, "images.allow", &a->prefixes);
        ag_imageref probe;
        ag_error err = {0};
        ag_imageref_parse("docker.io/library/probe", &probe, &err);
        for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++)
            if (v->items[i]->type == AG_YNODE_SCALAR && ag_imageref_under(&probe, v->items[i]->value) < 0)
                cctx_err(c, v->items[i], "%s.allow: '%s' is not a registry[/repository path] prefix "
                         "(e.g. docker.io/amdenterpriseai/)", where, v->items[i]->value);
        ag_imageref_clear(&probe);
    }
    if ((v = ag_ynode_get(n, "allowPatterns"))) {
        char w[96];
        snprintf(w, sizeof w, "%s.allowPatterns", where);
        compile_regex_list(c, v, w, &a->patterns);
        for (size_t i = 0, ok = 0; v->type == AG_YNODE_SEQ && i < v->count; i++, ok = 0) {
            /* a pattern that did not compile has its one error already */
            for (size_t j = 0; v->items[i]->type == AG_YNODE_SCALAR && j < a->patterns.n; j++)
                ok |= a->patterns.text[j] && !strcmp(a->patterns.text[j], v->items[i]->value);
            if (ok && v->items[i]->value[0] != '^')
                cctx_err(c, v->items[i], "%s.allowPatterns: '%s' must be anchored with '^' (an "
                         "unanchored pattern lets evil.io/registry.example.com/... through)", where,
                         v->items[i]->value);
        }
    }
}

void compile_images(cctx *c, const ag_ynode *n, images_cfg *im)
{
    static const char *const keys[] = {"allow", "allowPatterns", "requireDigest", "forbidLatest",
                                       "forbidTagless", "namespaces", NULL};
    static const char *const nkeys[] = {"namespaces", "allow", "allowPatterns", NULL};
    if (pc_check_map(c, n, "spec.validate.images", keys))
        return;
    im->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "requireDigest"))) pc_get_bool(c, v, "requireDigest", &im->require_digest);
    if ((v = ag_ynode_get(n, "forbidLatest"))) pc_get_bool(c, v, "forbidLatest", &im->forbid_latest);
    if ((v = ag_ynode_get(n, "forbidTagless"))) pc_get_bool(c, v, "forbidTagless", &im->forbid_tagless);
    compile_allow(c, n, "images", &im->global);
    if ((v = ag_ynode_get(n, "namespaces"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "images.namespaces must be a list of {namespaces, allow, allowPatterns}");
            return;
        }
        im->per_ns = calloc(v->count ? v->count : 1, sizeof *im->per_ns);
        for (size_t i = 0; im->per_ns && i < v->count; i++) {
            if (pc_check_map(c, v->items[i], "images.namespaces[]", nkeys))
                continue;
            image_allow *a = &im->per_ns[im->nper_ns++];
            const ag_ynode *ns = ag_ynode_get(v->items[i], "namespaces");
            if (!ns)
                cctx_err(c, v->items[i], "images.namespaces[] needs namespaces");
            else
                pc_get_strlist(c, ns, "images.namespaces[].namespaces", &a->namespaces);
            compile_allow(c, v->items[i], "images.namespaces[]", a);
        }
    }
    /* on what was written, not what compiled: a bad pattern is one error, not two */
    if (!im->global.prefixes.n && !given(n, "allowPatterns") && !given(n, "namespaces") &&
        !im->require_digest && !im->forbid_latest && !im->forbid_tagless)
        cctx_err(c, n, "spec.validate.images says nothing: give allow, allowPatterns, "
                       "requireDigest, forbidLatest or forbidTagless");
}

void compile_regex_list(cctx *c, const ag_ynode *n, const char *where, regex_list *l)
{
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "%s must be a list of patterns", where);
        return;
    }
    l->re = calloc(n->count ? n->count : 1, sizeof *l->re);
    l->text = calloc(n->count ? n->count : 1, sizeof *l->text);
    if (!l->re || !l->text)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const char *pat = pc_scalar(c, n->items[i], where);
        pcre2_code *re = pat ? compile_pattern(c, n->items[i], pat) : NULL;
        if (re)
            regex_list_push(l, re, pat);
    }
}

/* The names that mark an env var as a credential when nothing else is configured. */
static const char *const default_credential_names[] = {
    "(?i)(^|_)(token|secret|password|passwd|pwd|apikey|api_key|access_key|private_key|credentials?)($|_)",
    "(?i)^(hf_token|hugging_face_hub_token|aws_secret_access_key|aws_session_token)$",
    "(?i)_key$", NULL};

void compile_secrets(cctx *c, const ag_ynode *n, secrets_cfg *sc)
{
    static const char *const keys[] = {"allowNames", "reserved", "forbidLiteralEnv",
                                       "credentialEnvNames", "namespaces", NULL};
    static const char *const nkeys[] = {"namespaces", "allowNames", NULL};
    if (pc_check_map(c, n, "spec.validate.secrets", keys))
        return;
    sc->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allowNames"))) {
        sc->has_allow = 1;
        compile_regex_list(c, v, "secrets.allowNames", &sc->allow);
    }
    if ((v = ag_ynode_get(n, "reserved")))
        compile_regex_list(c, v, "secrets.reserved", &sc->reserved);
    if ((v = ag_ynode_get(n, "forbidLiteralEnv")))
        pc_get_bool(c, v, "forbidLiteralEnv", &sc->forbid_literal);
    if ((v = ag_ynode_get(n, "credentialEnvNames"))) {
        compile_regex_list(c, v, "secrets.credentialEnvNames", &sc->credential_names);
    } else {
        size_t k = 0;
        while (default_credential_names[k]) k++;
        sc->credential_names.re = calloc(k, sizeof *sc->credential_names.re);
        sc->credential_names.text = calloc(k, sizeof *sc->credential_names.text);
        for (size_t i = 0; sc->credential_names.re && sc->credential_names.text && i < k; i++) {
            pcre2_code *re = compile_pattern(c, n, default_credential_names[i]);
            if (re)
                regex_list_push(&sc->credential_names, re, default_credential_names[i]);
        }
    }
    if ((v = ag_ynode_get(n, "namespaces"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "secrets.namespaces must be a list of {namespaces, allowNames}");
            return;
        }
        sc->per_ns = calloc(v->count ? v->count : 1, sizeof *sc->per_ns);
        for (size_t i = 0; sc->per_ns && i < v->count; i++) {
            if (pc_check_map(c, v->items[i], "secrets.namespaces[]", nkeys))
                continue;
            secret_ns *e = &sc->per_ns[sc->nper_ns++];
            const ag_ynode *ns = ag_ynode_get(v->items[i], "namespaces"), *an = ag_ynode_get(v->items[i], "allowNames");
            if (!ns || !an)
                cctx_err(c, v->items[i], "secrets.namespaces[] needs namespaces and allowNames");
            if (ns)
                pc_get_strlist(c, ns, "secrets.namespaces[].namespaces", &e->namespaces);
            if (an)
                compile_regex_list(c, an, "secrets.namespaces[].allowNames", &e->allow);
        }
    }
    if (!sc->has_allow && !given(n, "reserved") && !sc->forbid_literal && !given(n, "namespaces"))
        cctx_err(c, n, "spec.validate.secrets says nothing: give allowNames, reserved, "
                       "forbidLiteralEnv or namespaces");
}

/* validate.rbac.clusterReferences (evaluated in cluster_refs.c) */
static void compile_cluster_refs(cctx *c, const ag_ynode *n, cluster_refs *r)
{
    static const char *const keys[] = {"enabled", "verb", "failClosed", "references", NULL};
    static const char *const kinds[] = {"models", "templates", "runtimeConfigs", NULL};
    const char *w = "rbac.clusterReferences";
    r->enabled = r->fail_closed = 1;
    r->models = r->templates = r->runtime_configs = 1;
    r->verb = strdup("use");
    if (!r->verb)
        cctx_err(c, n, "out of memory");
    if (pc_check_map(c, n, w, keys))
        return;
    r->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "enabled"))) pc_get_bool(c, v, "rbac.clusterReferences.enabled", &r->enabled);
    if ((v = ag_ynode_get(n, "failClosed"))) pc_get_bool(c, v, "rbac.clusterReferences.failClosed", &r->fail_closed);
    if ((v = ag_ynode_get(n, "verb")) && pc_scalar(c, v, "rbac.clusterReferences.verb")) {
        size_t len = strlen(v->value);
        int ok = len > 0 && len <= 63;
        for (size_t i = 0; ok && i < len; i++)
            ok = (v->value[i] >= 'a' && v->value[i] <= 'z') || (i && v->value[i] >= 'A' && v->value[i] <= 'Z');
        if (!ok) {
            cctx_err(c, v, "rbac.clusterReferences.verb: '%s' is not a verb (letters only, e.g. use or get; "
                     "'*' would ask nothing)", v->value);
        } else {
            free(r->verb);
            if (!(r->verb = strdup(v->value)))
                cctx_err(c, v, "out of memory");
        }
    }
    if ((v = ag_ynode_get(n, "references"))) {
        r->models = r->templates = r->runtime_configs = 0;
        if (v->type != AG_YNODE_SEQ || v->count == 0) {
            cctx_err(c, v, "rbac.clusterReferences.references must be a non-empty list of models, templates, "
                     "runtimeConfigs");
            return;
        }
        for (size_t i = 0; i < v->count; i++) {
            const char *k = pc_scalar(c, v->items[i], "rbac.clusterReferences.references[]");
            if (!k)
                continue;
            if (!strcmp(k, kinds[0])) r->models = 1;
            else if (!strcmp(k, kinds[1])) r->templates = 1;
            else if (!strcmp(k, kinds[2])) r->runtime_configs = 1;
            else {
                const char *best = pc_closest(k, kinds);
                cctx_err(c, v->items[i], "rbac.clusterReferences.references: unknown reference '%s' (models, "
                         "templates or runtimeConfigs%s%s%s)", k, best ? "; did you mean '" : "",
                         best ? best : "", best ? "'?" : "");
            }
        }
    }
}

void compile_rbac(cctx *c, const ag_ynode *n, rbac_cfg *r)
{
    static const char *const keys[] = {"protectedRoles", "broadSubjects", "statusUpdaterRole",
                                       "statusUpdaterBinders", "statusUpdaterServiceAccounts",
                                       "reservedServiceAccounts", "operatorNamespace",
                                       "clusterReferences", NULL};
    if (pc_check_map(c, n, "spec.validate.rbac", keys))
        return;
    r->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "protectedRoles"))) pc_get_strlist(c, v, "rbac.protectedRoles", &r->protected_roles);
    if ((v = ag_ynode_get(n, "broadSubjects"))) {
        pc_get_strlist(c, v, "rbac.broadSubjects", &r->broad_subjects);
    } else {
        static const char *const broad[] = {"system:authenticated", "system:unauthenticated",
                                            "system:serviceaccounts", "system:serviceaccounts:*", NULL};
        for (const char *const *b = broad; *b; b++)
            if (strlist_add(&r->broad_subjects, *b))
                cctx_err(c, n, "out of memory");
    }
    if ((v = ag_ynode_get(n, "statusUpdaterRole")) && pc_scalar(c, v, "rbac.statusUpdaterRole"))
        r->status_role = strdup(v->value);
    if ((v = ag_ynode_get(n, "statusUpdaterBinders"))) pc_get_strlist(c, v, "rbac.statusUpdaterBinders", &r->status_binders);
    if (r->status_role && !r->status_binders.n)
        cctx_err(c, n, "rbac.statusUpdaterRole needs statusUpdaterBinders (the identities that may bind it)");
    if ((v = ag_ynode_get(n, "statusUpdaterServiceAccounts")))
        pc_get_strlist(c, v, "rbac.statusUpdaterServiceAccounts", &r->status_sas);
    else if (strlist_add(&r->status_sas, "default"))
        cctx_err(c, n, "out of memory");
    if ((v = ag_ynode_get(n, "reservedServiceAccounts"))) {
        pc_get_strlist(c, v, "rbac.reservedServiceAccounts", &r->reserved_sas);
        for (size_t i = 0; i < r->reserved_sas.n; i++)
            if (!strchr(r->reserved_sas.v[i], '/'))
                cctx_err(c, v, "rbac.reservedServiceAccounts: '%s' must be NAMESPACE/NAME (globs allowed)",
                         r->reserved_sas.v[i]);
    }
    v = ag_ynode_get(n, "operatorNamespace");
    r->operator_namespace = strdup(v && pc_scalar(c, v, "rbac.operatorNamespace") ? v->value : "aim-system");
    if ((v = ag_ynode_get(n, "clusterReferences")))
        compile_cluster_refs(c, v, &r->refs);
    if (!r->protected_roles.n && !r->status_role && !r->reserved_sas.n && !r->refs.present)
        cctx_err(c, n, "spec.validate.rbac says nothing: give protectedRoles, statusUpdaterRole, "
                       "reservedServiceAccounts or clusterReferences");
}

void compile_aim(cctx *c, const ag_ynode *n, aim_cfg *a)
{
    static const char *const keys[] = {"allowedResources", "allowedGateways", "maxNamespaceLength",
                                       "pathUnderNamespace", NULL};
    if (pc_check_map(c, n, "spec.validate.aim", keys))
        return;
    a->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allowedResources"))) pc_get_strlist(c, v, "aim.allowedResources", &a->allowed_resources);
    if ((v = ag_ynode_get(n, "allowedGateways"))) {
        pc_get_strlist(c, v, "aim.allowedGateways", &a->allowed_gateways);
        for (size_t i = 0; i < a->allowed_gateways.n; i++)
            if (!strchr(a->allowed_gateways.v[i], '/'))
                cctx_err(c, v, "aim.allowedGateways: '%s' must be NAMESPACE/NAME (globs allowed)",
                         a->allowed_gateways.v[i]);
    }
    if ((v = ag_ynode_get(n, "maxNamespaceLength"))) pc_get_int(c, v, "aim.maxNamespaceLength", 1, 63, &a->max_ns_len);
    if ((v = ag_ynode_get(n, "pathUnderNamespace"))) pc_get_bool(c, v, "aim.pathUnderNamespace", &a->path_under_namespace);
}

