/* The policy compiler's YAML schema helpers (schema.c, regex.c, select.c): what every
 * block's compile uses. Not public. */
#ifndef AIMGUARD_POLICY_SCHEMA_H
#define AIMGUARD_POLICY_SCHEMA_H

#include "policy_int.h"

int pol_check_map(cctx *c, const ag_ynode *n, const char *where, const char *const *allowed);
const char *pol_scalar(cctx *c, const ag_ynode *n, const char *where);
int pol_get_bool(cctx *c, const ag_ynode *n, const char *where, int *out);
int pol_get_int(cctx *c, const ag_ynode *n, const char *where, long long lo, long long hi, long long *out);
int pol_get_number(cctx *c, const ag_ynode *n, const char *where, double *out);
int pol_get_strlist(cctx *c, const ag_ynode *n, const char *where, strlist *out);
int pol_get_kv(cctx *c, const ag_ynode *n, const char *where, kvlist *out);
int pol_dup_key(const ag_ynode *n, size_t i);
int pol_parse_action(cctx *c, const ag_ynode *n, const char *where);
/* 0 when the document's apiVersion is at least policy.aimguard.io/v1alpha<version>;
 * else reports "<field> needs apiVersion ..." at n and returns -1. Every field added after
 * v1alpha1 calls it, so an older document never silently changes meaning. */
int pol_need_version(cctx *c, const ag_ynode *n, const char *field, int version);
/* `severity` (low|medium|high|critical -> 1..4) and `category` (free text, 1..63) of a
 * policy's spec or of a rule, when given (v1alpha2); where prefixes the field names. */
void pol_parse_tags(cctx *c, const ag_ynode *owner, const char *where, int *severity, char **category);
/* Case-insensitive edit distance between two words (99 when either is over 40). */
size_t pol_distance(const char *a, const char *b);
/* The entry of the NULL-terminated `allowed` closest to s, when close enough to be the
 * word meant (another case, or a few edits), else NULL. */
const char *pol_closest(const char *s, const char *const *allowed);
/* " (did you mean 'X'?)" for the closest entry, or "" — written into buf, returned. */
const char *pol_hint(char *buf, size_t cap, const char *s, const char *const *allowed);

/* Visits the entries of a map once each (a duplicate key, already reported, is skipped). */
#define KEY_EACH(n, k, v) \
    for (size_t i_ = 0; (n) && (n)->type == AG_YNODE_MAP && i_ + 1 < (n)->count; i_ += 2) \
        if (!pol_dup_key((n), i_)) \
            for (const ag_ynode *k = (n)->items[i_], *v = (n)->items[i_ + 1]; k; k = NULL)

void pol_err(cctx *c, const ag_ynode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A problem that does not refuse the policy (it cannot fire as written). */
void pol_warn(cctx *c, const ag_ynode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* strdup of s (NULL: NULL); out of memory is reported at n */
char *pol_strdup(cctx *c, const ag_ynode *n, const char *s);
/* The node as JSON (NULL, reported, when it cannot be) */
json_t *pol_to_json(cctx *c, const ag_ynode *n);
/* 1 when key is set to something other than an empty list */
int pol_given(const ag_ynode *n, const char *key);
/* A list of image patterns (ag_imageref_match), each checked, at least one */
void pol_image_patterns_compile(cctx *c, const ag_ynode *v, const char *where, strlist *out);

/* regex.c: one PCRE2 pattern (UTF, JIT when available); errors reported at node when c */
pcre2_code *pol_regex_compile(cctx *c, const ag_ynode *node, const char *pat);
/* Appends re and a copy of text; l has room (sized by the caller) */
void pol_regex_list_push(regex_list *l, pcre2_code *re, const char *text);
/* compiles a list of PCRE2 patterns into l; errors to c */
void pol_regex_list_compile(cctx *c, const ag_ynode *n, const char *where, regex_list *l);

/* select.c */
void pol_selector_compile(cctx *c, const ag_ynode *n, const char *where, selector *s, int is_match);
/* Every entry of a kinds list names a kind that exists (aimguard/kinds.h) */
void pol_check_kinds(cctx *c, const ag_ynode *v, const char *where);

#endif
