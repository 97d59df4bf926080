/* Helpers shared by the policy compiler's files (not public). */
#ifndef AIMGUARD_COMPILE_INT_H
#define AIMGUARD_COMPILE_INT_H

#include "policy_int.h"

int pc_check_map(cctx *c, const ag_ynode *n, const char *where, const char *const *allowed);
const char *pc_scalar(cctx *c, const ag_ynode *n, const char *where);
int pc_get_bool(cctx *c, const ag_ynode *n, const char *where, int *out);
int pc_get_int(cctx *c, const ag_ynode *n, const char *where, long long lo, long long hi, long long *out);
int pc_get_number(cctx *c, const ag_ynode *n, const char *where, double *out);
int pc_get_strlist(cctx *c, const ag_ynode *n, const char *where, strlist *out);
int pc_get_kv(cctx *c, const ag_ynode *n, const char *where, kvlist *out);
int pc_dup_key(const ag_ynode *n, size_t i);
int pc_parse_action(cctx *c, const ag_ynode *n, const char *where);
/* Case-insensitive edit distance between two words (99 when either is over 40). */
size_t pc_distance(const char *a, const char *b);
/* The entry of the NULL-terminated `allowed` closest to s, when close enough to be the
 * word meant (another case, or a few edits), else NULL. */
const char *pc_closest(const char *s, const char *const *allowed);
/* " (did you mean 'X'?)" for the closest entry, or "" — written into buf, returned. */
const char *pc_hint(char *buf, size_t cap, const char *s, const char *const *allowed);

/* Visits the entries of a map once each (a duplicate key, already reported, is skipped). */
#define KEY_EACH(n, k, v) \
    for (size_t i_ = 0; (n) && (n)->type == AG_YNODE_MAP && i_ + 1 < (n)->count; i_ += 2) \
        if (!pc_dup_key((n), i_)) \
            for (const ag_ynode *k = (n)->items[i_], *v = (n)->items[i_ + 1]; k; k = NULL)

/* The blocks of spec.mutate and spec.validate (compile_blocks.c). */
void compile_harden(cctx *c, const ag_ynode *n, harden *h);
void compile_gpu(cctx *c, const ag_ynode *n, gpu_cfg *g);
void compile_rule(cctx *c, const ag_ynode *n, policy *p, generic_rule *r);
void compile_images(cctx *c, const ag_ynode *n, images_cfg *im);
void compile_secrets(cctx *c, const ag_ynode *n, secrets_cfg *sc);
void compile_rbac(cctx *c, const ag_ynode *n, rbac_cfg *r);
void compile_aim(cctx *c, const ag_ynode *n, aim_cfg *a);

#endif
