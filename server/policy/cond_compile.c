/* spec.validate.rules[]: the generic rule's condition vocabulary, compiled. A rule is a
 * path and one condition (v1alpha1), or, in v1alpha2, a tree of conditions composed with
 * all/any/not, evaluated on the object or on every element of a forEach path, joined to
 * other elements by a key (joinOn), and guarded by preconditions on the request (when).
 * A YAML vocabulary, not a language: no variables, no loops but forEach over what the
 * object holds, nesting capped at load (COND_MAX_DEPTH). Every error names
 * file:line:column; unknown keys are errors. */
#include "schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define COND_MAX_DEPTH 8
#define MAX_SEGS 16

typedef struct ccx {
    cctx *c;
    policy *p;
    generic_rule *r;
    int depth;
    int in_each; /* inside forEach: relative paths start at the element */
} ccx;

/* A field added in v1alpha2: a v1alpha1 document using it is an error naming the field
 * and the version (pol_need_version), so an older document never changes meaning. */
static void mark_v2(ccx *x, const ag_ynode *at, const char *field)
{
    x->r->v2 = 1;
    pol_need_version(x->c, at, field, 2);
}

static char *dupe(ccx *x, const ag_ynode *n, const char *s) { return pol_strdup(x->c, n, s); }

/* "spec.containers[*].ports[*].hostPort", "podSpec.allContainers[*].image",
 * "metadata.labels['app.kubernetes.io/name']", "$podSpec.securityContext", "$key" */
static int compile_path(ccx *x, const ag_ynode *n, const char *text, rpath *r)
{
    cctx *c = x->c;
    r->text = dupe(x, n, text);
    r->root = x->in_each ? ROOT_THIS : ROOT_OBJECT;
    const char *p = text;
    static const struct { const char *name; path_root root; } roots[] = {
        {"$this", ROOT_THIS}, {"$key", ROOT_KEY}, {"$podSpec", ROOT_PODSPEC}, {"$old", ROOT_OLD},
        {"$object", ROOT_OBJECT},
    };
    if (*p == '$') {
        size_t len = strcspn(p, ".[");
        int found = 0;
        for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
            if (strlen(roots[i].name) == len && !strncmp(p, roots[i].name, len)) {
                r->root = roots[i].root;
                found = 1;
            }
        if (!found) {
            pol_err(c, n, "path '%s': unknown root '%.*s' ($this, $key, $podSpec, $old or $object)",
                    text, (int)len, p);
            return -1;
        }
        if (!x->in_each && (r->root == ROOT_THIS || r->root == ROOT_KEY || r->root == ROOT_PODSPEC)) {
            pol_err(c, n, "path '%s': %.*s only exists inside forEach", text, (int)len, p);
            return -1;
        }
        if (r->root == ROOT_KEY && p[len]) {
            pol_err(c, n, "path '%s': $key is the element's key, a string: nothing follows it", text);
            return -1;
        }
        mark_v2(x, n, "a path root ($this, $key, $podSpec, $old, $object)");
        p += len;
        if (*p == '.')
            p++;
        if (!*p)
            return 0; /* the root itself */
    }
    r->segs = calloc(MAX_SEGS, sizeof *r->segs);
    if (!r->segs) {
        pol_err(c, n, "out of memory");
        return -1;
    }
    int first = 1;
    while (*p) {
        if (r->nsegs + 1 >= MAX_SEGS) {
            pol_err(c, n, "path '%s' has too many segments (max 15)", text);
            return -1;
        }
        path_seg *s = &r->segs[r->nsegs];
        if (*p == '[') {
            p++;
            if (*p == '*' && p[1] == ']') {
                s->type = SEG_ANY;
                r->many = 1;
                p += 2;
            } else if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *e = strchr(p, q);
                if (!e || e[1] != ']') {
                    pol_err(c, n, "path '%s': unterminated quoted key", text);
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
                    pol_err(c, n, "path '%s': bad index", text);
                    return -1;
                }
                p = end + 1;
            } else {
                pol_err(c, n, "path '%s': expected [*], [N] or ['key']", text);
                return -1;
            }
        } else {
            if (*p == '.') {
                if (first) {
                    pol_err(c, n, "path '%s' must not start with '.'", text);
                    return -1;
                }
                p++;
            }
            size_t len = strcspn(p, ".[");
            if (len == 0) {
                pol_err(c, n, "path '%s' has an empty segment", text);
                return -1;
            }
            s->type = SEG_KEY;
            s->key = strndup(p, len);
            if (first && r->root == ROOT_OBJECT && !strcmp(s->key, "podSpec"))
                s->type = SEG_PODSPEC, r->many = 1;
            else if (first && r->root == ROOT_OBJECT && !strcmp(s->key, "podMeta"))
                s->type = SEG_PODMETA, r->many = 1, mark_v2(x, n, "podMeta");
            else if (((r->nsegs == 1 && r->segs[0].type == SEG_PODSPEC) || (first && r->root == ROOT_PODSPEC)) &&
                     !strcmp(s->key, "allContainers"))
                s->type = SEG_ALLCONTAINERS, r->many = 1;
            p += len;
        }
        if (s->type == SEG_KEY && !s->key) {
            pol_err(c, n, "out of memory");
            return -1;
        }
        first = 0;
        r->nsegs++;
    }
    if (r->nsegs == 0) {
        pol_err(c, n, "path must not be empty");
        return -1;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].type == SEG_ALLCONTAINERS && (i + 1 >= r->nsegs || r->segs[i + 1].type != SEG_ANY)) {
            pol_err(c, n, "path '%s': allContainers must be followed by [*]", text);
            return -1;
        }
    return 0;
}

/* `aimguard check`: a path from the object root that no matched kind can hold. Judged
 * only when every kind the policy matches is a pod carrier whose shape the carrier table
 * knows (aimguard/podspec.h): a Pod has no spec.template, a Deployment no spec.containers. */
static void warn_impossible(ccx *x, const ag_ynode *n, const rpath *r)
{
    static const char *const podspec_fields[] = {"containers", "initContainers", "ephemeralContainers",
        "volumes", "hostNetwork", "hostPID", "hostIPC", "hostUsers", "securityContext", "serviceAccountName",
        "automountServiceAccountToken", "nodeSelector", "tolerations", "affinity",
        "topologySpreadConstraints", "runtimeClassName", "priorityClassName", NULL};
    const strlist *kinds = &x->p->match.kinds;
    if (r->root == ROOT_OBJECT && r->nsegs && (r->segs[0].type == SEG_PODSPEC || r->segs[0].type == SEG_PODMETA) &&
        kinds->n) {
        /* podSpec on kinds that carry no pod spec (a Service, a ConfigMap) finds nothing */
        const ag_carrier_info *ci;
        int any = 0;
        for (size_t i = 0; (ci = ag_podspec_carrier(i)) && !any; i++)
            any = pol_kind_matches(kinds, ci->group, ci->kind);
        for (size_t k = 0; k < kinds->n; k++)
            any |= strchr(kinds->v[k], '*') != NULL;
        if (!any)
            pol_warn(x->c, n, "path '%s': none of the kinds this policy matches (%s%s) carries a pod spec, so "
                     "%s finds nothing", r->text, kinds->v[0], kinds->n > 1 ? ", ..." : "",
                     r->segs[0].type == SEG_PODSPEC ? "podSpec" : "podMeta");
        return;
    }
    if (r->root != ROOT_OBJECT || r->nsegs < 2 || r->segs[0].type != SEG_KEY || r->segs[1].type != SEG_KEY ||
        strcmp(r->segs[0].key, "spec") || !kinds->n)
        return;
    const char *k1 = r->segs[1].key;
    int wants_root_spec = 0;
    for (const char *const *f = podspec_fields; *f; f++)
        wants_root_spec |= !strcmp(*f, k1);
    if (!wants_root_spec && strcmp(k1, "template") && strcmp(k1, "jobTemplate"))
        return;
    char want[64];
    snprintf(want, sizeof want, "spec.%s", k1);
    int possible = 0;
    for (size_t k = 0; k < kinds->n; k++) {
        if (strchr(kinds->v[k], '*'))
            return;
        strlist one = {&kinds->v[k], 1};
        int carrier = 0;
        const ag_carrier_info *ci;
        for (size_t i = 0; (ci = ag_podspec_carrier(i)); i++) {
            if (!pol_kind_matches(&one, ci->group, ci->kind))
                continue;
            carrier = 1;
            ag_carrier_path at[24];
            size_t np = ag_podspec_carrier_paths(i, at, 24);
            for (size_t j = 0; j < np && j < 24; j++) {
                if (wants_root_spec ? !strcmp(at[j].path, "spec")
                                    : !strncmp(at[j].path, want, strlen(want)) &&
                                      (at[j].path[strlen(want)] == '.' || !at[j].path[strlen(want)]))
                    possible = 1;
            }
        }
        if (!carrier)
            return; /* a kind whose schema the table does not know: no judgement */
    }
    if (!possible)
        pol_warn(x->c, n, "path '%s' can never exist on the kinds this policy matches (%s%s): the "
                 "condition never sees a value; a path starting with podSpec. reaches the pod spec of "
                 "every kind", r->text, kinds->v[0], kinds->n > 1 ? ", ..." : "");
}

int pol_path_reads_bookkeeping(const rpath *r)
{
    /* Paths from $this/$key are inside a forEach element (its own path is judged here);
     * a pod spec holds no bookkeeping. A state per level: the object, its metadata, the
     * annotations; a path that ends on one of them reads all of it. */
    if (r->root != ROOT_OBJECT && r->root != ROOT_OLD)
        return 0;
    enum { AT_OBJECT, AT_META, AT_ANNOTATIONS } at = AT_OBJECT;
    for (size_t i = 0; i < r->nsegs; i++) {
        const path_seg *s = &r->segs[i];
        if (s->type == SEG_ANY)
            return 1;
        if (s->type == SEG_PODSPEC || s->type == SEG_ALLCONTAINERS || s->type == SEG_INDEX)
            return 0;
        if (at == AT_OBJECT && s->type == SEG_PODMETA)
            at = AT_META; /* a Pod's pod metadata is its own */
        else if (s->type != SEG_KEY)
            return 0;
        else if (at == AT_OBJECT && !strcmp(s->key, "metadata"))
            at = AT_META;
        else if (at == AT_OBJECT)
            return !strcmp(s->key, "status");
        else if (at == AT_META && !strcmp(s->key, "annotations"))
            at = AT_ANNOTATIONS;
        else if (at == AT_META)
            return !strcmp(s->key, "managedFields");
        else
            return !strcmp(s->key, POL_LAST_APPLIED);
    }
    return 1;
}

static int compile_path_at(ccx *x, const ag_ynode *n, rpath *r, const char *what)
{
    const char *s = pol_scalar(x->c, n, what);
    if (!s || compile_path(x, n, s, r))
        return -1;
    if (pol_path_reads_bookkeeping(r))
        x->p->reads_bookkeeping = 1;
    if (r->root == ROOT_OLD)
        x->p->reads_old = 1;
    warn_impossible(x, n, r);
    return 0;
}

static const char *const leaf_conds[] = {"absent", "equals", "oneOf", "matches", "notMatches", "range",
    "contains", "keysIn", "keysMatch", "keysNotMatch", "type", "length", "lessThan", "lessOrEqual",
    "greaterThan", "greaterOrEqual", "unchanged", NULL};

static void compile_node(ccx *x, const ag_ynode *n, cnode *out);

static cnode *compile_sub(ccx *x, const ag_ynode *n)
{
    cnode *k = calloc(1, sizeof *k);
    if (!k) {
        pol_err(x->c, n, "out of memory");
        return NULL;
    }
    compile_node(x, n, k);
    return k;
}

static void compile_bounds(ccx *x, const ag_ynode *cn, const char *what, cnode *o, int integers)
{
    static const char *const rkeys[] = {"min", "max", NULL};
    if (pol_check_map(x->c, cn, what, rkeys))
        return;
    const ag_ynode *mn = ag_ynode_get(cn, "min"), *mx = ag_ynode_get(cn, "max");
    char w[64];
    long long ll;
    if (mn) {
        snprintf(w, sizeof w, "%s.min", what);
        if (integers) {
            if ((o->has_min = !pol_get_int(x->c, mn, w, 0, 1LL << 40, &ll)))
                o->min = (double)ll;
        } else {
            o->has_min = !pol_get_number(x->c, mn, w, &o->min);
        }
    }
    if (mx) {
        snprintf(w, sizeof w, "%s.max", what);
        if (integers) {
            if ((o->has_max = !pol_get_int(x->c, mx, w, 0, 1LL << 40, &ll)))
                o->max = (double)ll;
        } else {
            o->has_max = !pol_get_number(x->c, mx, w, &o->max);
        }
    }
    if (!mn && !mx)
        pol_err(x->c, cn, "%s needs min, max or both", what);
    if (o->has_min && o->has_max && o->min > o->max)
        pol_err(x->c, cn, "%s: min > max", what);
}

/* lessThan, ...: a quantity ("8Gi", 4, "500m") or {path: P}, a value of the same element */
static void compile_compare(ccx *x, const ag_ynode *cn, const char *what, cnode *o)
{
    if (cn->type == AG_YNODE_MAP) {
        static const char *const keys[] = {"path", NULL};
        if (pol_check_map(x->c, cn, what, keys))
            return;
        const ag_ynode *pn = ag_ynode_get(cn, "path");
        if (!pn) {
            pol_err(x->c, cn, "%s: path is required (or give a quantity)", what);
            return;
        }
        if (!compile_path_at(x, pn, &o->other, "path") && (o->other.many || o->other.root == ROOT_KEY))
            pol_err(x->c, pn, "%s: path '%s' must name one value (no [*], podSpec, allContainers or $key)", what,
                    o->other.text);
        return;
    }
    if (cn->type != AG_YNODE_SCALAR || pol_quantity_parse(cn->value, &o->q)) {
        pol_err(x->c, cn, "%s must be a Kubernetes quantity (4, 1.5, 500m, 2Gi, 100M, 1e3) or {path: P}", what);
        return;
    }
    o->q_text = dupe(x, cn, cn->value);
}

static void compile_leaf(ccx *x, const ag_ynode *n, cnode *o, int rule_level)
{
    cctx *c = x->c;
    const ag_ynode *pa = ag_ynode_get(n, "path"), *ef = ag_ynode_get(n, "effective");
    if (pa && ef)
        pol_err(c, ef, "give path or effective, not both");
    if (pa) {
        compile_path_at(x, pa, &o->path, "path");
    } else if (ef) {
        mark_v2(x, ef, "effective");
        if (ef->type != AG_YNODE_SEQ || ef->count < 2) {
            pol_err(c, ef, "effective must be a list of at least two paths (the first that is set wins)");
        } else if ((o->effective = calloc(ef->count, sizeof *o->effective))) {
            for (size_t i = 0; i < ef->count; i++) {
                rpath *rp = &o->effective[o->neffective++];
                if (!compile_path_at(x, ef->items[i], rp, "effective[]") && (rp->many || rp->root == ROOT_KEY))
                    pol_err(c, ef->items[i], "effective: path '%s' must name one value (no [*], podSpec, "
                            "allContainers or $key)", rp->text);
            }
            o->path = o->effective[0]; /* named in messages; owned by effective */
        }
    } else {
        pol_err(c, n, "%s: path is required", rule_level && x->r->name ? x->r->name : "condition");
    }
    const ag_ynode *req = ag_ynode_get(n, "required");
    if (req)
        pol_get_bool(c, req, "required", &o->required);
    int nconds = 0;
    const ag_ynode *cn;
    for (const char *const *k = leaf_conds; *k; k++) {
        if (!(cn = ag_ynode_get(n, *k)))
            continue;
        nconds++;
        if (k - leaf_conds >= 6)
            mark_v2(x, cn, *k);
        if (!strcmp(*k, "absent") || !strcmp(*k, "unchanged")) {
            int b = 0;
            if (!pol_get_bool(c, cn, *k, &b) && !b)
                pol_err(c, cn, "%s: false says nothing; %s", *k,
                        *k[0] == 'a' ? "use required: true" : "leave the condition out");
            o->cond = *k[0] == 'a' ? COND_ABSENT : COND_UNCHANGED;
            if (o->cond == COND_UNCHANGED)
                x->p->reads_old = 1;
            if (o->cond == COND_UNCHANGED && o->path.text && (o->path.root != ROOT_OBJECT || o->path.many))
                pol_err(c, cn, "unchanged: the path must name one value from the object root (inside "
                        "forEach, write $object.PATH); '%s' does not", o->path.text);
        } else if (!strcmp(*k, "equals") || !strcmp(*k, "contains")) {
            o->cond = *k[0] == 'e' ? COND_EQUALS : COND_CONTAINS;
            json_decref(o->value);
            o->value = pol_to_json(c, cn);
        } else if (!strcmp(*k, "oneOf")) {
            o->cond = COND_ONEOF;
            if (cn->type != AG_YNODE_SEQ || cn->count == 0) {
                pol_err(c, cn, "oneOf must be a non-empty list");
            } else {
                json_decref(o->value);
                o->value = pol_to_json(c, cn);
            }
        } else if (!strcmp(*k, "matches") || !strcmp(*k, "notMatches") || !strcmp(*k, "keysMatch") ||
                   !strcmp(*k, "keysNotMatch")) {
            o->cond = !strcmp(*k, "matches") ? COND_MATCHES : !strcmp(*k, "notMatches") ? COND_NOTMATCHES
                      : !strcmp(*k, "keysMatch") ? COND_KEYSMATCH : COND_KEYSNOTMATCH;
            const char *pat = pol_scalar(c, cn, "pattern");
            if (pat && !o->re && (o->re = pol_regex_compile(c, cn, pat)))
                o->pattern = dupe(x, cn, pat);
        } else if (!strcmp(*k, "range")) {
            o->cond = COND_RANGE;
            compile_bounds(x, cn, "range", o, 0);
        } else if (!strcmp(*k, "length")) {
            o->cond = COND_LENGTH;
            compile_bounds(x, cn, "length", o, 1);
        } else if (!strcmp(*k, "keysIn")) {
            o->cond = COND_KEYSIN;
            if (cn->type != AG_YNODE_SEQ || cn->count == 0)
                pol_err(c, cn, "keysIn must be a non-empty list of keys");
            else
                pol_get_strlist(c, cn, "keysIn", &o->keys);
        } else if (!strcmp(*k, "type")) {
            static const char *const types[] = {"object", "list", "string", "number", "integer", "boolean", NULL};
            o->cond = COND_TYPE;
            const char *t = pol_scalar(c, cn, "type");
            int found = 0;
            for (int i = 0; t && types[i]; i++)
                if (!strcmp(types[i], t))
                    o->want = (json_type_want)i, found = 1;
            char hint[96];
            if (t && !found)
                pol_err(c, cn, "type must be object, list, string, number, integer or boolean%s",
                        pol_hint(hint, sizeof hint, t, types));
        } else {
            o->cond = !strcmp(*k, "lessThan") ? COND_LT : !strcmp(*k, "lessOrEqual") ? COND_LE
                      : !strcmp(*k, "greaterThan") ? COND_GT : COND_GE;
            compile_compare(x, cn, *k, o);
        }
    }
    if (nconds == 0 && o->required)
        o->cond = COND_EXISTS; /* "the path exists", nothing more */
    else if (nconds != 1)
        pol_err(c, n, "%s%s: exactly one condition is needed (absent, equals, oneOf, matches, notMatches, "
                "range, contains, keysIn, keysMatch, keysNotMatch, type, length, lessThan, lessOrEqual, "
                "greaterThan, greaterOrEqual or unchanged)", rule_level ? "rule " : "condition",
                rule_level ? (x->r->name ? x->r->name : "") : "");
    if (o->cond == COND_ABSENT && o->required)
        pol_err(c, req, "required: true and absent: true contradict each other");
}

static void compile_list(ccx *x, const ag_ynode *v, const char *what, cnode *o)
{
    if (v->type != AG_YNODE_SEQ || v->count == 0) {
        pol_err(x->c, v, "%s must be a non-empty list of conditions", what);
        return;
    }
    if (!(o->kids = calloc(v->count, sizeof *o->kids))) {
        pol_err(x->c, v, "out of memory");
        return;
    }
    for (size_t i = 0; i < v->count; i++)
        compile_node(x, v->items[i], &o->kids[o->nkids++]);
}

static void compile_foreach(ccx *x, const ag_ynode *n, cnode *o)
{
    static const char *const keys[] = {"forEach", "where", "joinOn", "assert", NULL};
    if (pol_check_map(x->c, n, "forEach", keys))
        return;
    mark_v2(x, n, "forEach");
    compile_path_at(x, ag_ynode_get(n, "forEach"), &o->each, "forEach");
    int saved = x->in_each;
    x->in_each = 1;
    const ag_ynode *v;
    /* not "on": YAML 1.1 tools (PyYAML, go-yaml v2 behind kubectl) read that key as true */
    if ((v = ag_ynode_get(n, "joinOn"))) {
        const char *on = pol_scalar(x->c, v, "joinOn");
        if (on && !saved)
            pol_err(x->c, v, "joinOn joins to the element of an outer forEach: there is none here");
        else if (on)
            o->on = dupe(x, v, on);
    }
    if ((v = ag_ynode_get(n, "where")))
        o->where = compile_sub(x, v);
    if (!(v = ag_ynode_get(n, "assert")))
        pol_err(x->c, n, "forEach needs assert: the condition every element must meet");
    else if ((o->kids = compile_sub(x, v)))
        o->nkids = 1;
    x->in_each = saved;
}

static void compile_node(ccx *x, const ag_ynode *n, cnode *o)
{
    o->line = n->line;
    o->column = n->column;
    if (++x->depth > COND_MAX_DEPTH) {
        pol_err(x->c, n, "conditions nest deeper than %d levels: split the rule", COND_MAX_DEPTH);
        x->depth--;
        return;
    }
    if (n->type != AG_YNODE_MAP) {
        pol_err(x->c, n, "a condition must be a mapping (path and a condition, all, any, not or forEach)");
    } else if (ag_ynode_get(n, "all") || ag_ynode_get(n, "any") || ag_ynode_get(n, "not")) {
        static const char *const keys[] = {"all", "any", "not", NULL};
        mark_v2(x, n->items[0], n->items[0]->type == AG_YNODE_SCALAR ? n->items[0]->value : "all, any, not");
        if (!pol_check_map(x->c, n, "a composed condition (all, any or not, one of them alone)", keys)) {
            if (n->count != 2) {
                pol_err(x->c, n, "all, any and not each stand alone in their mapping: nest them");
            } else {
                const ag_ynode *v;
                if ((v = ag_ynode_get(n, "all"))) o->type = CN_ALL, compile_list(x, v, "all", o);
                else if ((v = ag_ynode_get(n, "any"))) o->type = CN_ANY, compile_list(x, v, "any", o);
                else if ((v = ag_ynode_get(n, "not")) && (o->kids = compile_sub(x, v))) o->type = CN_NOT, o->nkids = 1;
                else o->type = CN_NOT;
            }
        }
    } else if (ag_ynode_get(n, "forEach")) {
        o->type = CN_FOREACH;
        compile_foreach(x, n, o);
    } else {
        const char *keys[32] = {"path", "effective", "required"};
        size_t k = 3;
        for (const char *const *l = leaf_conds; *l && k < 31; l++)
            keys[k++] = *l;
        keys[k] = NULL;
        o->type = CN_LEAF;
        if (!pol_check_map(x->c, n, "a condition", keys))
            compile_leaf(x, n, o, 0);
    }
    x->depth--;
}

static void compile_when(ccx *x, const ag_ynode *n, when_cfg *w)
{
    static const char *const keys[] = {"operations", "users", "notUsers", "groups", "notGroups",
                                       "serviceAccounts", "notServiceAccounts", "dryRun", NULL};
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", NULL};
    w->dry_run = -1;
    mark_v2(x, n, "when");
    if (pol_check_map(x->c, n, "when", keys))
        return;
    w->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "operations"))) {
        pol_get_strlist(x->c, v, "when.operations", &w->operations);
        for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++) {
            const ag_ynode *o = v->items[i];
            int ok = 0;
            for (const char *const *op = ops; o->type == AG_YNODE_SCALAR && *op; op++)
                ok |= !strcmp(*op, o->value);
            char hint[96];
            if (!ok && o->type == AG_YNODE_SCALAR)
                pol_err(x->c, o, "when.operations: unknown operation '%s' (CREATE, UPDATE, DELETE or CONNECT)%s",
                        o->value, pol_hint(hint, sizeof hint, o->value, ops));
        }
    }
    struct { const char *key; strlist *l; } lists[] = {
        {"users", &w->users}, {"notUsers", &w->not_users}, {"groups", &w->groups},
        {"notGroups", &w->not_groups}, {"serviceAccounts", &w->sas}, {"notServiceAccounts", &w->not_sas},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (!(v = ag_ynode_get(n, lists[i].key)))
            continue;
        char what[64];
        snprintf(what, sizeof what, "when.%s", lists[i].key);
        pol_get_strlist(x->c, v, what, lists[i].l);
        if (lists[i].l == &w->sas || lists[i].l == &w->not_sas)
            for (size_t j = 0; v->type == AG_YNODE_SEQ && j < v->count; j++)
                if (v->items[j]->type == AG_YNODE_SCALAR && !strchr(v->items[j]->value, '/'))
                    pol_err(x->c, v->items[j], "%s: '%s' must be namespace/name (globs allowed)", what,
                            v->items[j]->value);
    }
    if ((v = ag_ynode_get(n, "dryRun")))
        pol_get_bool(x->c, v, "when.dryRun", &w->dry_run);
}

void pol_rule_compile(cctx *c, const ag_ynode *n, policy *p, generic_rule *r)
{
    const char *keys[40] = {"name", "action", "message", "when", "forEach", "where", "assert",
                            "path", "effective", "required", "severity", "category"};
    size_t nk = 12;
    for (const char *const *l = leaf_conds; *l && nk < 39; l++)
        keys[nk++] = *l;
    keys[nk] = NULL;
    ccx x = {c, p, r, 0, 0};
    r->action = -1;
    if (pol_check_map(c, n, "spec.validate.rules[]", keys))
        return;
    const ag_ynode *nm = ag_ynode_get(n, "name");
    if (!nm) pol_err(c, n, "rule: name is required");
    else if (pol_scalar(c, nm, "rule name")) r->name = dupe(&x, nm, nm->value);
    for (size_t i = 0; r->name && i < p->nrules; i++)
        if (p->rules[i].name && !strcmp(p->rules[i].name, r->name))
            pol_err(c, nm, "rule name '%s' is used twice in policy %s", r->name, p->name);
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "action"))) r->action = pol_parse_action(c, v, "rule action");
    if ((v = ag_ynode_get(n, "message")) && pol_scalar(c, v, "message")) r->message = dupe(&x, v, v->value);
    pol_parse_tags(c, n, "rule ", &r->severity, &r->category);
    r->when.dry_run = -1;
    if ((v = ag_ynode_get(n, "when"))) compile_when(&x, v, &r->when);
    if ((v = ag_ynode_get(n, "forEach"))) {
        mark_v2(&x, v, "forEach");
        compile_path_at(&x, v, &r->each, "forEach");
        x.in_each = 1;
    }
    if ((v = ag_ynode_get(n, "where"))) {
        mark_v2(&x, v, "where");
        r->where = calloc(1, sizeof *r->where);
        if (r->where) compile_node(&x, v, r->where);
    }
    const ag_ynode *as = ag_ynode_get(n, "assert");
    int leafy = 0;
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const char *k = n->items[i]->type == AG_YNODE_SCALAR ? n->items[i]->value : "";
        leafy |= !strcmp(k, "path") || !strcmp(k, "effective") || !strcmp(k, "required");
        for (const char *const *l = leaf_conds; *l; l++)
            leafy |= !strcmp(k, *l);
    }
    if (!(r->assert = calloc(1, sizeof *r->assert))) {
        pol_err(c, n, "out of memory");
        return;
    }
    if (as) {
        mark_v2(&x, as, "assert");
        if (leafy)
            pol_err(c, as, "rule %s: give assert, or a path and its condition, not both", r->name ? r->name : "");
        else
            compile_node(&x, as, r->assert);
    } else {
        r->assert->type = CN_LEAF;
        r->assert->line = n->line;
        r->assert->column = n->column;
        compile_leaf(&x, n, r->assert, 1);
    }
}

void pol_rpath_free(rpath *p)
{
    for (size_t j = 0; j < p->nsegs; j++)
        free(p->segs[j].key);
    free(p->segs);
    free(p->text);
    memset(p, 0, sizeof *p);
}

static void cnode_clear(cnode *n)
{
    if (n->effective) {
        for (size_t i = 0; i < n->neffective; i++)
            pol_rpath_free(&n->effective[i]);
        free(n->effective);
    } else {
        pol_rpath_free(&n->path);
    }
    json_decref(n->value);
    pcre2_code_free(n->re);
    free(n->pattern);
    pol_strlist_free(&n->keys);
    free(n->q_text);
    pol_rpath_free(&n->other);
    for (size_t i = 0; i < n->nkids; i++)
        cnode_clear(&n->kids[i]);
    free(n->kids);
    pol_rpath_free(&n->each);
    pol_cnode_free(n->where);
    free(n->on);
}

void pol_cnode_free(cnode *n)
{
    if (!n)
        return;
    cnode_clear(n);
    free(n);
}

void pol_when_free(when_cfg *w)
{
    pol_strlist_free(&w->operations);
    pol_strlist_free(&w->users);
    pol_strlist_free(&w->not_users);
    pol_strlist_free(&w->groups);
    pol_strlist_free(&w->not_groups);
    pol_strlist_free(&w->sas);
    pol_strlist_free(&w->not_sas);
}
