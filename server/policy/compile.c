/* Policy YAML -> compiled policy. Every error names file:line:column; unknown fields
 * are errors (a typo such as runAsNonroot must never be silently ignored). */
#include "compile_int.h"

#include "aimguard/kinds.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cctx_err(cctx *c, const ag_ynode *n, const char *fmt, ...)
{
    char msg[768], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s:%u:%u: %s", c->file, n ? n->line : 1, n ? n->column : 1, msg);
    c->errors++;
    char **ni = realloc(c->diags->items, (c->diags->count + 1) * sizeof *ni);
    if (!ni)
        return;
    c->diags->items = ni;
    if ((ni[c->diags->count] = strdup(line)))
        c->diags->count++;
}

/* Levenshtein distance (case-insensitive), for "did you mean" on unknown fields, kinds,
 * controls and enum values. */
size_t pc_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t x = d[i - 1][j] + 1, y = d[i][j - 1] + 1, z = d[i - 1][j - 1] + cost;
            d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
        }
    return d[la][lb];
}

/* Reports unknown keys and duplicate keys of a map; 0 when the node is a map. */
int pc_check_map(cctx *c, const ag_ynode *n, const char *where, const char *const *allowed)
{
    if (!n || n->type != AG_YNODE_MAP) {
        cctx_err(c, n, "%s must be a mapping", where);
        return -1;
    }
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const ag_ynode *k = n->items[i];
        if (k->type != AG_YNODE_SCALAR) {
            cctx_err(c, k, "%s: keys must be strings", where);
            continue;
        }
        for (size_t j = 0; j < i; j += 2)
            if (n->items[j]->type == AG_YNODE_SCALAR && !strcmp(n->items[j]->value, k->value))
                cctx_err(c, k, "%s: duplicate field '%s'", where, k->value);
        if (!allowed)
            continue;
        const char *best = NULL;
        size_t bestd = 99;
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) {
            if (!strcmp(*a, k->value)) {
                ok = 1;
                break;
            }
            size_t dd = pc_distance(*a, k->value);
            if (dd < bestd)
                bestd = dd, best = *a;
        }
        if (!ok) {
            if (best && bestd <= 3)
                cctx_err(c, k, "unknown field '%s' in %s (did you mean '%s'?)", k->value, where, best);
            else
                cctx_err(c, k, "unknown field '%s' in %s", k->value, where);
        }
    }
    return 0;
}

void cctx_warn(cctx *c, const ag_ynode *n, const char *fmt, ...)
{
    char msg[768], line[1024];
    if (!c->warnings)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s:%u:%u: warning: %s", c->file, n ? n->line : 1, n ? n->column : 1, msg);
    char **ni = realloc(c->warnings->items, (c->warnings->count + 1) * sizeof *ni);
    if (!ni)
        return;
    c->warnings->items = ni;
    if ((ni[c->warnings->count] = strdup(line)))
        c->warnings->count++;
}

const char *pc_closest(const char *s, const char *const *allowed)
{
    const char *best = NULL;
    size_t bestd = 99, len = strlen(s);
    for (const char *const *a = allowed; *a; a++) {
        size_t d = pc_distance(*a, s);
        if (d < bestd)
            bestd = d, best = *a;
    }
    /* a different case, or a few edits that leave most of the word */
    return best && bestd <= 3 && bestd * 2 <= len ? best : NULL;
}

const char *pc_hint(char *buf, size_t cap, const char *s, const char *const *allowed)
{
    const char *best = s ? pc_closest(s, allowed) : NULL;
    if (best)
        snprintf(buf, cap, " (did you mean '%s'?)", best);
    else if (cap)
        buf[0] = '\0';
    return buf;
}

const char *pc_scalar(cctx *c, const ag_ynode *n, const char *where)
{
    if (!n || n->type != AG_YNODE_SCALAR) {
        cctx_err(c, n, "%s must be a string", where);
        return NULL;
    }
    return n->value;
}

int pc_get_bool(cctx *c, const ag_ynode *n, const char *where, int *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted) {
        if (!strcmp(n->value, "true")) { *out = 1; return 0; }
        if (!strcmp(n->value, "false")) { *out = 0; return 0; }
    }
    cctx_err(c, n, "%s must be true or false", where);
    return -1;
}

int pc_get_int(cctx *c, const ag_ynode *n, const char *where, long long lo, long long hi,
                   long long *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted && n->value[0]) {
        char *end;
        long long v = strtoll(n->value, &end, 10);
        if (*end == '\0' && v >= lo && v <= hi) {
            *out = v;
            return 0;
        }
    }
    cctx_err(c, n, "%s must be an integer between %lld and %lld", where, lo, hi);
    return -1;
}

int pc_get_number(cctx *c, const ag_ynode *n, const char *where, double *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted && n->value[0]) {
        char *end;
        double v = strtod(n->value, &end);
        if (*end == '\0') {
            *out = v;
            return 0;
        }
    }
    cctx_err(c, n, "%s must be a number", where);
    return -1;
}

static char *xstrdup(cctx *c, const ag_ynode *n, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        cctx_err(c, n, "out of memory");
    return d;
}

void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void kvlist_free(kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->k[i]);
        free(l->v[i]);
    }
    free(l->k);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int strlist_add(strlist *l, const char *s)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    l->v = nv;
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

int pc_get_strlist(cctx *c, const ag_ynode *n, const char *where, strlist *out)
{
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "%s must be a list of strings", where);
        return -1;
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *s = pc_scalar(c, n->items[i], where);
        if (s && strlist_add(out, s))
            cctx_err(c, n, "out of memory");
    }
    return 0;
}

int pc_get_kv(cctx *c, const ag_ynode *n, const char *where, kvlist *out)
{
    if (pc_check_map(c, n, where, NULL))
        return -1;
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const char *k = pc_scalar(c, n->items[i], where), *v = pc_scalar(c, n->items[i + 1], where);
        if (!k || !v)
            continue;
        char **nk = realloc(out->k, (out->n + 1) * sizeof *nk);
        if (nk) out->k = nk;
        char **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
        if (nv) out->v = nv;
        if (!nk || !nv) {
            cctx_err(c, n, "out of memory");
            return -1;
        }
        out->k[out->n] = strdup(k);
        out->v[out->n] = strdup(v);
        out->n++;
    }
    return 0;
}

/* 1 when the key at items[i] already appeared earlier in the map (check_map reported
 * it; the later copy is not compiled, so nothing is built twice). */
int pc_dup_key(const ag_ynode *n, size_t i)
{
    const ag_ynode *k = n->items[i];
    for (size_t j = 0; k->type == AG_YNODE_SCALAR && j < i; j += 2)
        if (n->items[j]->type == AG_YNODE_SCALAR && !strcmp(n->items[j]->value, k->value))
            return 1;
    return k->type != AG_YNODE_SCALAR;
}


static const char *const operations[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", "*", NULL};

/* Every entry of a kinds list names a kind that exists (aimguard/kinds.h): a misspelled
 * kind would make the policy or exception silently never apply. */
static void check_kinds(cctx *c, const ag_ynode *v, const char *where)
{
    for (size_t i = 0; v && v->type == AG_YNODE_SEQ && i < v->count; i++) {
        const ag_ynode *e = v->items[i];
        char msg[512];
        unsigned sent;
        if (e->type == AG_YNODE_SCALAR && ag_kinds_check(e->value, &sent, msg, sizeof msg))
            cctx_err(c, e, "%s: %s", where, msg);
    }
}

/* A policy whose blocks only run on a webhook that never receives a kind it names can
 * never fire on that kind: a warning, since a deployment may send more than the shipped
 * webhook configurations do. */
static void warn_unsent_kinds(cctx *c, const ag_ynode *v, const policy *p)
{
    unsigned need = 0;
    if (p->hard.present || p->gpu.present)
        need |= AG_SENT_MUTATE;
    if (p->pss_level >= 0 || p->images.present || p->secrets.present || p->rbac.present ||
        p->aim.present || p->nrules)
        need |= AG_SENT_VALIDATE;
    for (size_t i = 0; need && v && v->type == AG_YNODE_SEQ && i < v->count; i++) {
        const ag_ynode *e = v->items[i];
        char msg[512];
        unsigned sent;
        if (e->type != AG_YNODE_SCALAR || ag_kinds_check(e->value, &sent, msg, sizeof msg) || (sent & need))
            continue;
        const char *to = sent ? (need == AG_SENT_MUTATE ? " to /mutate" : " to /validate") : "";
        cctx_warn(c, e, "spec.match.kinds: %s is not sent by the shipped webhook configurations%s "
                  "(deploy/base/webhooks.yaml), so this policy never sees it; to judge it, add it to "
                  "the rules of your webhook configurations", e->value, to);
    }
}

static void compile_selector(cctx *c, const ag_ynode *n, const char *where, selector *s, int is_match)
{
    static const char *const keys[] = {"kinds", "operations", "namespaces", "names",
                                       "namespaceSelector", "objectSelector", "users", "groups",
                                       "serviceAccounts", NULL};
    static const char *const label_keys[] = {"matchLabels", NULL};
    if (pc_check_map(c, n, where, keys))
        return;
    s->present = 1;
    char w[128];
    KEY_EACH(n, k, v) {
        snprintf(w, sizeof w, "%s.%s", where, k->value);
        if (!strcmp(k->value, "kinds")) {
            pc_get_strlist(c, v, w, &s->kinds);
            check_kinds(c, v, w);
        } else if (!strcmp(k->value, "operations")) {
            pc_get_strlist(c, v, w, &s->operations);
            for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++) {
                int ok = 0;
                for (const char *const *o = operations; *o; o++)
                    ok |= v->items[i]->value && !strcmp(*o, v->items[i]->value);
                const char *best = ok || !v->items[i]->value ? NULL : pc_closest(v->items[i]->value, operations);
                if (!ok)
                    cctx_err(c, v->items[i], "%s: unknown operation '%s' (CREATE, UPDATE, DELETE, "
                             "CONNECT or *%s%s%s)", w, v->items[i]->value ? v->items[i]->value : "",
                             best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
            }
        }
        else if (!strcmp(k->value, "namespaces")) pc_get_strlist(c, v, w, &s->namespaces);
        else if (!strcmp(k->value, "names")) pc_get_strlist(c, v, w, &s->names);
        else if (!strcmp(k->value, "users")) pc_get_strlist(c, v, w, &s->users);
        else if (!strcmp(k->value, "groups")) pc_get_strlist(c, v, w, &s->groups);
        else if (!strcmp(k->value, "serviceAccounts")) {
            pc_get_strlist(c, v, w, &s->service_accounts);
            for (size_t i = 0; i < s->service_accounts.n; i++)
                if (!strchr(s->service_accounts.v[i], '/'))
                    cctx_err(c, v, "%s: '%s' must be NAMESPACE/NAME (globs allowed)", w,
                             s->service_accounts.v[i]);
        } else if (!strcmp(k->value, "namespaceSelector") || !strcmp(k->value, "objectSelector")) {
            if (pc_check_map(c, v, w, label_keys))
                continue;
            const ag_ynode *ml = ag_ynode_get(v, "matchLabels");
            char w2[160];
            snprintf(w2, sizeof w2, "%s.matchLabels", w);
            if (ml)
                pc_get_kv(c, ml, w2, !strcmp(k->value, "namespaceSelector") ? &s->ns_labels : &s->obj_labels);
        }
    }
    if (is_match && s->kinds.n == 0)
        cctx_err(c, n, "%s.kinds is required (use [\"*\"] for every kind)", where);
}

int pc_parse_action(cctx *c, const ag_ynode *n, const char *where)
{
    const char *s = pc_scalar(c, n, where);
    if (!s)
        return -1;
    if (!strcmp(s, "enforce")) return AG_ACTION_ENFORCE;
    if (!strcmp(s, "warn")) return AG_ACTION_WARN;
    if (!strcmp(s, "audit")) return AG_ACTION_AUDIT;
    /* what other engines call these */
    static const char *const enforce[] = {"deny", "reject", "block", "fail", "enforced", NULL};
    static const char *const audit[] = {"log", "dryrun", "dry-run", "dryRun", NULL};
    static const char *const actions[] = {"enforce", "warn", "audit", NULL};
    const char *best = NULL;
    for (const char *const *a = enforce; *a; a++)
        if (!strcasecmp(*a, s)) best = "enforce";
    for (const char *const *a = audit; *a; a++)
        if (!strcasecmp(*a, s)) best = "audit";
    if (!best)
        best = pc_closest(s, actions);
    if (best)
        cctx_err(c, n, "%s must be enforce, warn or audit (did you mean '%s'?)", where, best);
    else
        cctx_err(c, n, "%s must be enforce, warn or audit", where);
    return -1;
}

/* "2027-03-01" (that day 00:00 UTC) or RFC 3339 "2027-03-01T12:00:00Z" */
static time_t parse_date(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end)
        return 0;
    if (*end == 'T') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (!end || strcmp(end, "Z"))
            return 0;
    } else if (*end) {
        return 0;
    }
    return timegm(&tm);
}

/* 1 when a block or rule of p reports or sets `name` (an exception naming a control the
 * policy never checks waives nothing). Mutator names count for the whole securityContext
 * block, PSS IDs for any podSecurity level but privileged (which checks nothing). */
static int control_used(const policy *p, const char *name)
{
    static const char *const mutators[] = {
        "runAsNonRoot", "seccompProfile", "runAsUser", "runAsGroup", "fsGroup",
        "allowPrivilegeEscalation", "capabilities", "readOnlyRootFilesystem",
        "automountServiceAccountToken", NULL};
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].name && control_matches(name, p->rules[i].name))
            return 1;
    for (const char *const *h = mutators; p->hard.present && *h; h++)
        if (control_matches(name, *h))
            return 1;
    for (const char *const *id = ag_pss_check_ids(); p->pss_level > AG_PSS_PRIVILEGED && *id; id++)
        if (control_matches(name, *id))
            return 1;
    return (p->gpu.present && control_matches(name, "gpuPlacement")) ||
           (p->images.present && control_matches(name, "images")) ||
           (p->secrets.present && control_matches(name, "secrets")) ||
           (p->rbac.present && control_matches(name, "rbac")) ||
           (p->rbac.refs.present && control_matches(name, "rbac_clusterReferences")) ||
           (p->aim.present && control_matches(name, "aim"));
}

/* The controls an exception may name: what the blocks of a policy check (PSS check IDs,
 * mutators, blocks) and the policy's own rule names; "capabilities" stands for every
 * capabilities_* check (control_matches). */
static void check_controls(cctx *c, const ag_ynode *v, const policy *p)
{
    static const char *const fixed[] = {
        "runAsNonRoot", "seccompProfile", "runAsUser", "runAsGroup", "fsGroup",
        "allowPrivilegeEscalation", "capabilities", "readOnlyRootFilesystem",
        "automountServiceAccountToken", "gpuPlacement", "images", "secrets", "rbac",
        "rbac_clusterReferences", "aim", NULL};
    const char *const *pss = ag_pss_check_ids();
    size_t n = 0, npss = 0, nfixed = sizeof fixed / sizeof fixed[0] - 1;
    while (pss[npss]) npss++;
    const char **all = calloc(nfixed + npss + p->nrules + 1, sizeof *all);
    if (!all) {
        cctx_err(c, v, "out of memory");
        return;
    }
    for (size_t i = 0; i < nfixed; i++) all[n++] = fixed[i];
    for (size_t i = 0; i < npss; i++) all[n++] = pss[i];
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].name) all[n++] = p->rules[i].name;
    for (size_t i = 0; v && v->type == AG_YNODE_SEQ && i < v->count; i++) {
        const ag_ynode *at = v->items[i];
        if (at->type != AG_YNODE_SCALAR)
            continue; /* reported by pc_get_strlist */
        const char *name = at->value;
        int ok = !strcmp(name, "*"); /* refused on its own below */
        for (size_t j = 0; !ok && j < n; j++)
            ok = control_matches(name, all[j]);
        if (ok && strcmp(name, "*") && !control_used(p, name))
            cctx_warn(c, at, "exceptions[].controls: '%s' waives nothing: no block or rule of policy %s "
                      "checks it", name, p->name ? p->name : "");
        if (ok)
            continue;
        const char *best = pc_closest(name, all);
        if (best)
            cctx_err(c, at, "exceptions[].controls: unknown control '%s' (did you mean '%s'?)", name, best);
        else
            cctx_err(c, at, "exceptions[].controls: unknown control '%s' (a PSS check ID, a mutator, "
                     "images, secrets, rbac, aim, gpuPlacement or a rule name of this policy)", name);
    }
    free(all);
}

static void compile_exception(cctx *c, const ag_ynode *n, const policy *p, exception_ *x)
{
    static const char *const keys[] = {"controls", "namespaces", "names", "users", "kinds",
                                       "reason", "expires", NULL};
    if (pc_check_map(c, n, "spec.exceptions[]", keys))
        return;
    char where[256];
    snprintf(where, sizeof where, "%s:%u:%u", c->file, n->line, n->column);
    x->where = strdup(where);
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "controls"))) {
        pc_get_strlist(c, v, "exceptions[].controls", &x->controls);
        check_controls(c, v, p);
    }
    if (x->controls.n == 0)
        cctx_err(c, n, "an exception must name the controls it waives");
    for (size_t i = 0; i < x->controls.n; i++)
        if (!strcmp(x->controls.v[i], "*"))
            cctx_err(c, v, "an exception cannot waive every control ('*'): narrow the policy's "
                           "match instead");
    if ((v = ag_ynode_get(n, "namespaces"))) pc_get_strlist(c, v, "exceptions[].namespaces", &x->namespaces);
    if ((v = ag_ynode_get(n, "names"))) pc_get_strlist(c, v, "exceptions[].names", &x->names);
    if ((v = ag_ynode_get(n, "users"))) pc_get_strlist(c, v, "exceptions[].users", &x->users);
    if ((v = ag_ynode_get(n, "kinds"))) {
        pc_get_strlist(c, v, "exceptions[].kinds", &x->kinds);
        check_kinds(c, v, "exceptions[].kinds");
    }
    if (!x->namespaces.n && !x->names.n && !x->users.n)
        cctx_err(c, n, "an exception must be scoped by namespaces, names or users");
    v = ag_ynode_get(n, "reason");
    const char *reason = v ? pc_scalar(c, v, "reason") : NULL;
    if (!reason || !*reason)
        cctx_err(c, v ? v : n, "an exception needs a reason");
    else
        x->reason = strdup(reason);
    if ((v = ag_ynode_get(n, "expires"))) {
        const char *e = pc_scalar(c, v, "expires");
        if (e && !(x->expires = parse_date(e)))
            cctx_err(c, v, "expires must be a date (2027-03-01) or an RFC 3339 UTC time "
                           "(2027-03-01T12:00:00Z)");
        else if (e)
            x->expires_text = strdup(e);
    } else {
        cctx_warn(c, n, "exception has no expires: it waives its controls for good (give it a date, "
                  "expires: YYYY-MM-DD, so the control comes back by itself)");
    }
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

int policy_compile(cctx *c, const ag_ynode *doc, policy *p)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    static const char *const meta[] = {"name", "annotations", "labels", NULL};
    static const char *const spec[] = {"action", "match", "exclude", "mutate", "validate",
                                       "exceptions", NULL};
    static const char *const mut[] = {"securityContext", "gpu", NULL};
    static const char *const val[] = {"podSecurity", "images", "secrets", "rbac", "aim", "rules", NULL};
    static const char *const pss[] = {"level", "version", NULL};
    int before = c->errors;
    memset(p, 0, sizeof *p);
    p->pss_level = -1;
    p->hard.run_as_non_root = p->hard.allow_priv_esc = p->hard.read_only_root =
        p->hard.automount_token = -1;
    if (pc_check_map(c, doc, "the document", top))
        return -1;
    const char *api = pc_scalar(c, ag_ynode_get(doc, "apiVersion"), "apiVersion");
    if (api && strcmp(api, "policy.aimguard.io/v1alpha1"))
        cctx_err(c, ag_ynode_get(doc, "apiVersion"), "apiVersion must be policy.aimguard.io/v1alpha1");
    const char *kind = pc_scalar(c, ag_ynode_get(doc, "kind"), "kind");
    if (kind && strcmp(kind, "AdmissionPolicy"))
        cctx_err(c, ag_ynode_get(doc, "kind"), "kind must be AdmissionPolicy");
    const ag_ynode *md = ag_ynode_get(doc, "metadata");
    if (!pc_check_map(c, md, "metadata", meta)) {
        const ag_ynode *nm = ag_ynode_get(md, "name");
        const char *name = pc_scalar(c, nm, "metadata.name");
        if (name && !valid_name(name))
            cctx_err(c, nm, "metadata.name '%s' must be a DNS label (a-z, 0-9, '-', at most 63)", name);
        p->name = xstrdup(c, nm, name);
    }
    char where[256];
    snprintf(where, sizeof where, "%s:%u:%u", c->file, doc->line, doc->column);
    p->where = strdup(where);
    const ag_ynode *sp = ag_ynode_get(doc, "spec");
    if (pc_check_map(c, sp, "spec", spec))
        return -1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(sp, "action"))) p->action = pc_parse_action(c, v, "spec.action");
    if ((v = ag_ynode_get(sp, "match"))) compile_selector(c, v, "spec.match", &p->match, 1);
    else cctx_err(c, sp, "spec.match is required");
    if ((v = ag_ynode_get(sp, "exclude"))) compile_selector(c, v, "spec.exclude", &p->exclude, 0);
    const ag_ynode *m = ag_ynode_get(sp, "mutate");
    if (m && !pc_check_map(c, m, "spec.mutate", mut)) {
        if ((v = ag_ynode_get(m, "securityContext"))) compile_harden(c, v, &p->hard);
        if ((v = ag_ynode_get(m, "gpu"))) compile_gpu(c, v, &p->gpu);
    }
    const ag_ynode *va = ag_ynode_get(sp, "validate");
    if (va && !pc_check_map(c, va, "spec.validate", val)) {
        if ((v = ag_ynode_get(va, "podSecurity")) && !pc_check_map(c, v, "spec.validate.podSecurity", pss)) {
            const ag_ynode *lv = ag_ynode_get(v, "level");
            const char *ls = pc_scalar(c, lv, "podSecurity.level");
            static const char *const levels[] = {"baseline", "restricted", "privileged", NULL};
            static const char *const versions[] = {"latest", "v1.37", NULL};
            char hint[96];
            if (ls && (p->pss_level = ag_pss_level_parse(ls)) < 0)
                cctx_err(c, lv, "podSecurity.level must be baseline, restricted or privileged%s",
                         pc_hint(hint, sizeof hint, ls, levels));
            const ag_ynode *ver = ag_ynode_get(v, "version");
            const char *vs = ver ? pc_scalar(c, ver, "podSecurity.version") : "latest";
            if (vs && strcmp(vs, "latest") && strcmp(vs, "v1.37"))
                cctx_err(c, ver, "podSecurity.version: only latest (= v1.37) is implemented%s",
                         pc_hint(hint, sizeof hint, vs, versions));
        }
        if ((v = ag_ynode_get(va, "images")))
            compile_images(c, v, &p->images);
        if ((v = ag_ynode_get(va, "secrets")))
            compile_secrets(c, v, &p->secrets);
        if ((v = ag_ynode_get(va, "rbac")))
            compile_rbac(c, v, &p->rbac);
        if ((v = ag_ynode_get(va, "aim")))
            compile_aim(c, v, &p->aim);
        if ((v = ag_ynode_get(va, "rules"))) {
            if (v->type != AG_YNODE_SEQ) {
                cctx_err(c, v, "spec.validate.rules must be a list");
            } else if ((p->rules = calloc(v->count ? v->count : 1, sizeof *p->rules))) {
                for (size_t i = 0; i < v->count; i++) {
                    compile_rule(c, v->items[i], p, &p->rules[p->nrules]);
                    p->nrules++;
                }
            }
        }
    }
    if ((v = ag_ynode_get(sp, "exceptions"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "spec.exceptions must be a list");
        } else if ((p->exc = calloc(v->count ? v->count : 1, sizeof *p->exc))) {
            for (size_t i = 0; i < v->count; i++)
                compile_exception(c, v->items[i], p, &p->exc[p->nexc++]);
        }
    }
    if (!m && !va)
        cctx_err(c, sp, "a policy needs a mutate or a validate block");
    if (c->errors == before)
        warn_unsent_kinds(c, ag_ynode_get(ag_ynode_get(sp, "match"), "kinds"), p);
    return c->errors > before ? -1 : 0;
}

static void selector_free(selector *s)
{
    strlist_free(&s->kinds);
    strlist_free(&s->operations);
    strlist_free(&s->namespaces);
    strlist_free(&s->users);
    strlist_free(&s->groups);
    strlist_free(&s->service_accounts);
    strlist_free(&s->names);
    kvlist_free(&s->ns_labels);
    kvlist_free(&s->obj_labels);
}

void policy_free(policy *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->where);
    selector_free(&p->match);
    selector_free(&p->exclude);
    free(p->hard.seccomp);
    strlist_free(&p->hard.drop_caps);
    for (size_t i = 0; i < p->hard.ndirs; i++) {
        free(p->hard.dirs[i].path);
        free(p->hard.dirs[i].medium);
        free(p->hard.dirs[i].size_limit);
        free(p->hard.dirs[i].volume);
    }
    free(p->hard.dirs);
    strlist_free(&p->gpu.resources);
    kvlist_free(&p->gpu.node_selector);
    json_decref(p->gpu.match_expressions);
    json_decref(p->gpu.tolerations);
    json_decref(p->gpu.non_gpu_expressions);
    for (size_t i = 0; i < p->nrules; i++) {
        generic_rule *r = &p->rules[i];
        free(r->name);
        free(r->path_text);
        for (size_t j = 0; j < r->nsegs; j++)
            free(r->segs[j].key);
        free(r->segs);
        json_decref(r->value);
        pcre2_code_free(r->re);
        free(r->pattern);
        free(r->message);
    }
    free(p->rules);
    images_free(&p->images);
    secrets_free(&p->secrets);
    rbac_free(&p->rbac);
    aim_free(&p->aim);
    for (size_t i = 0; i < p->nexc; i++) {
        exception_ *x = &p->exc[i];
        strlist_free(&x->controls);
        strlist_free(&x->namespaces);
        strlist_free(&x->names);
        strlist_free(&x->users);
        strlist_free(&x->kinds);
        free(x->reason);
        free(x->expires_text);
        free(x->where);
    }
    free(p->exc);
    memset(p, 0, sizeof *p);
}
