/* PCRE2 patterns of policies: compiled once (JIT when available), matched under the
 * snapshot's match limits. */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiles one PCRE2 pattern (UTF, JIT when available); reports errors at node. */
pcre2_code *pol_regex_compile(cctx *c, const ag_ynode *node, const char *pat)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(ec, buf, sizeof buf);
        if (c)
            pol_err(c, node, "pattern '%s': %s at offset %zu", pat, (char *)buf, (size_t)off);
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

void pol_regex_list_push(regex_list *l, pcre2_code *re, const char *text)
{
    l->re[l->n] = re;
    l->text[l->n++] = strdup(text);
}

void pol_regex_list_compile(cctx *c, const ag_ynode *n, const char *where, regex_list *l)
{
    if (!n || n->type != AG_YNODE_SEQ) {
        pol_err(c, n, "%s must be a list of patterns", where);
        return;
    }
    l->re = calloc(n->count ? n->count : 1, sizeof *l->re);
    l->text = calloc(n->count ? n->count : 1, sizeof *l->text);
    if (!l->re || !l->text)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const char *pat = pol_scalar(c, n->items[i], where);
        pcre2_code *re = pat ? pol_regex_compile(c, n->items[i], pat) : NULL;
        if (re)
            pol_regex_list_push(l, re, pat);
    }
}

void pol_regex_list_free(regex_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        pcre2_code_free(l->re[i]);
        free(l->text[i]);
    }
    free(l->re);
    free(l->text);
    memset(l, 0, sizeof *l);
}

int pol_regex_any(const regex_list *l, const char *s, pcre2_match_context *mctx)
{
    for (size_t i = 0; s && i < l->n; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(l->re[i], NULL);
        int rc = md ? pcre2_match(l->re[i], (PCRE2_SPTR)s, strlen(s), 0, 0, md, mctx) : -1;
        pcre2_match_data_free(md);
        if (rc >= 0)
            return 1;
    }
    return 0;
}
