/* The YAML schema helpers of the policy compiler: typed getters that report
 * file:line:column, unknown-key checks with did-you-mean. Every block compiles with them. */
#include "schema.h"

#include "aimguard/imageref.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pol_err(cctx *c, const ag_ynode *n, const char *fmt, ...)
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
size_t pol_distance(const char *a, const char *b)
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
int pol_check_map(cctx *c, const ag_ynode *n, const char *where, const char *const *allowed)
{
    if (!n || n->type != AG_YNODE_MAP) {
        pol_err(c, n, "%s must be a mapping", where);
        return -1;
    }
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const ag_ynode *k = n->items[i];
        if (k->type != AG_YNODE_SCALAR) {
            pol_err(c, k, "%s: keys must be strings", where);
            continue;
        }
        for (size_t j = 0; j < i; j += 2)
            if (n->items[j]->type == AG_YNODE_SCALAR && !strcmp(n->items[j]->value, k->value))
                pol_err(c, k, "%s: duplicate field '%s'", where, k->value);
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
            size_t dd = pol_distance(*a, k->value);
            if (dd < bestd)
                bestd = dd, best = *a;
        }
        if (!ok) {
            if (best && bestd <= 3)
                pol_err(c, k, "unknown field '%s' in %s (did you mean '%s'?)", k->value, where, best);
            else
                pol_err(c, k, "unknown field '%s' in %s", k->value, where);
        }
    }
    return 0;
}

void pol_warn(cctx *c, const ag_ynode *n, const char *fmt, ...)
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

const char *pol_closest(const char *s, const char *const *allowed)
{
    const char *best = NULL;
    size_t bestd = 99, len = strlen(s);
    for (const char *const *a = allowed; *a; a++) {
        size_t d = pol_distance(*a, s);
        if (d < bestd)
            bestd = d, best = *a;
    }
    /* a different case, or a few edits that leave most of the word */
    return best && bestd <= 3 && bestd * 2 <= len ? best : NULL;
}

const char *pol_hint(char *buf, size_t cap, const char *s, const char *const *allowed)
{
    const char *best = s ? pol_closest(s, allowed) : NULL;
    if (best)
        snprintf(buf, cap, " (did you mean '%s'?)", best);
    else if (cap)
        buf[0] = '\0';
    return buf;
}

const char *pol_scalar(cctx *c, const ag_ynode *n, const char *where)
{
    if (!n || n->type != AG_YNODE_SCALAR) {
        pol_err(c, n, "%s must be a string", where);
        return NULL;
    }
    return n->value;
}

int pol_get_bool(cctx *c, const ag_ynode *n, const char *where, int *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted) {
        if (!strcmp(n->value, "true")) { *out = 1; return 0; }
        if (!strcmp(n->value, "false")) { *out = 0; return 0; }
    }
    pol_err(c, n, "%s must be true or false", where);
    return -1;
}

int pol_get_int(cctx *c, const ag_ynode *n, const char *where, long long lo, long long hi,
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
    pol_err(c, n, "%s must be an integer between %lld and %lld", where, lo, hi);
    return -1;
}

int pol_get_number(cctx *c, const ag_ynode *n, const char *where, double *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted && n->value[0]) {
        char *end;
        double v = strtod(n->value, &end);
        if (*end == '\0') {
            *out = v;
            return 0;
        }
    }
    pol_err(c, n, "%s must be a number", where);
    return -1;
}

char *pol_strdup(cctx *c, const ag_ynode *n, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        pol_err(c, n, "out of memory");
    return d;
}

int pol_get_strlist(cctx *c, const ag_ynode *n, const char *where, strlist *out)
{
    if (!n || n->type != AG_YNODE_SEQ) {
        pol_err(c, n, "%s must be a list of strings", where);
        return -1;
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *s = pol_scalar(c, n->items[i], where);
        if (s && pol_strlist_add(out, s))
            pol_err(c, n, "out of memory");
    }
    return 0;
}

int pol_get_kv(cctx *c, const ag_ynode *n, const char *where, kvlist *out)
{
    if (pol_check_map(c, n, where, NULL))
        return -1;
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const char *k = pol_scalar(c, n->items[i], where), *v = pol_scalar(c, n->items[i + 1], where);
        if (!k || !v)
            continue;
        char **nk = realloc(out->k, (out->n + 1) * sizeof *nk);
        if (nk) out->k = nk;
        char **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
        if (nv) out->v = nv;
        if (!nk || !nv) {
            pol_err(c, n, "out of memory");
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
int pol_dup_key(const ag_ynode *n, size_t i)
{
    const ag_ynode *k = n->items[i];
    for (size_t j = 0; k->type == AG_YNODE_SCALAR && j < i; j += 2)
        if (n->items[j]->type == AG_YNODE_SCALAR && !strcmp(n->items[j]->value, k->value))
            return 1;
    return k->type != AG_YNODE_SCALAR;
}

int pol_need_version(cctx *c, const ag_ynode *n, const char *field, int version)
{
    if (c->version >= version)
        return 0;
    pol_err(c, n, "%s needs apiVersion: policy.aimguard.io/v1alpha%d (this document is v1alpha%d)", field,
            version, c->version);
    return -1;
}

const char *const pol_severities[] = {"", "low", "medium", "high", "critical", NULL};

void pol_parse_tags(cctx *c, const ag_ynode *owner, const char *where, int *severity, char **category)
{
    const ag_ynode *sv = ag_ynode_get(owner, "severity"), *ct = ag_ynode_get(owner, "category");
    char field[128];
    if (sv) {
        snprintf(field, sizeof field, "%sseverity", where);
        const char *s = pol_need_version(c, sv, field, 2) ? NULL : pol_scalar(c, sv, field);
        for (int i = 1; s && pol_severities[i]; i++)
            if (!strcmp(s, pol_severities[i]))
                *severity = i, s = NULL;
        if (s) {
            char hint[96];
            pol_err(c, sv, "%s must be low, medium, high or critical%s", field, pol_hint(hint, sizeof hint, s, pol_severities + 1));
        }
    }
    if (ct) {
        snprintf(field, sizeof field, "%scategory", where);
        const char *s = pol_need_version(c, ct, field, 2) ? NULL : pol_scalar(c, ct, field);
        size_t len = s ? strlen(s) : 0;
        int printable = 1;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                printable = 0;
        if (s && (len == 0 || len > 63 || !printable))
            pol_err(c, ct, "%s must be 1 to 63 printable characters", field);
        else if (s)
            *category = pol_strdup(c, ct, s);
    }
}

int pol_parse_action(cctx *c, const ag_ynode *n, const char *where)
{
    const char *s = pol_scalar(c, n, where);
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
        best = pol_closest(s, actions);
    if (best)
        pol_err(c, n, "%s must be enforce, warn or audit (did you mean '%s'?)", where, best);
    else
        pol_err(c, n, "%s must be enforce, warn or audit", where);
    return -1;
}

json_t *pol_to_json(cctx *c, const ag_ynode *n)
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

/* 1 when the block writes `key` with something in it (a list entry that failed to
 * compile was reported already and still counts as said). */
int pol_given(const ag_ynode *n, const char *key)
{
    const ag_ynode *v = ag_ynode_get(n, key);
    return v && (v->type != AG_YNODE_SEQ || v->count > 0);
}

/* An image pattern list (exempt[].images, exceptions[].images): each pattern valid */
void pol_image_patterns_compile(cctx *c, const ag_ynode *v, const char *where, strlist *out)
{
    if (pol_get_strlist(c, v, where, out))
        return;
    for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++) {
        char why[512];
        if (v->items[i]->type == AG_YNODE_SCALAR && ag_imageref_pattern_check(v->items[i]->value, why, sizeof why))
            pol_err(c, v->items[i], "%s: %s", where, why);
    }
    if (!out->n)
        pol_err(c, v, "%s must list at least one image pattern", where);
}
