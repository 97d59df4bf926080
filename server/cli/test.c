/* `aimguard test`: policy tests as files. Each aimguard-test.yaml found under the given
 * paths names policies, resources and the result each (policy, rule, resource) must come to;
 * every resource goes through the admission flow eval uses (ag_admission_run, mutate then
 * validate, per-rule results), so a test proves what the webhook would do. Output: a table
 * and a summary, JSON, or JUnit XML for CI; exit 0 all as expected, 1 any mismatch, 2 a
 * broken test or policy file. */
#include "test_int.h"

#include "aimguard/admission.h"
#include "aimguard/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEST_FILE_NAME "aimguard-test.yaml"
#define MAX_DIR_DEPTH 32
#define MAX_GROUPS 64
#define DIFF_LINES 40

static const char test_usage[] =
    "usage: aimguard test [PATH ...] [flags]\n"
    "  runs every " TEST_FILE_NAME " found below each PATH (a directory, searched recursively; a\n"
    "  file is used as is; default: the current directory): each resource is judged as the\n"
    "  webhook would (mutate, then validate) and every expected result is compared\n"
    "  -o, --output FORMAT   text (default: a table, the failures' details and a summary) or json\n"
    "  --junit FILE          also write JUnit XML to FILE (one testsuite per test file, one\n"
    "                        testcase per expectation)\n"
    "exit status: 0 all as expected, 1 any mismatch, 2 a broken test or policy file (or usage)\n";

typedef struct judged {
    int done;
    json_t *results;  /* per-rule results (owned) */
    json_t *after;    /* the object after mutation (owned) */
    char *error;      /* why the flow failed (owned), or NULL */
} judged;

typedef struct run {
    int json;
    time_t now;
    json_t *tests;    /* every test file's outcome, for json and JUnit */
    size_t files, expectations, passed, failed, broken;
} run;

/* ---- discovery ---- */

typedef struct paths {
    char **v;
    size_t n;
} paths;

static int paths_add(paths *p, const char *s)
{
    char **nv = realloc(p->v, (p->n + 1) * sizeof *nv);
    if (!nv)
        return AG_ENOMEM;
    p->v = nv;
    if (!(nv[p->n] = strdup(s)))
        return AG_ENOMEM;
    p->n++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Test files below dir, in byte order of their paths; dot entries skipped (as the policy
 * loader skips them). */
static int find_tests(const char *dir, int depth, paths *out, ag_error *err)
{
    if (depth > MAX_DIR_DEPTH)
        return ag_error_set(err, AG_EINVAL, "%s: directories nested too deeply (a symlink loop?)", dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return ag_error_set(err, AG_EIO, "%s: %s", dir, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        if (!rc && nm[0] != '.') {
            size_t need = strlen(dir) + strlen(nm) + 2;
            char *p = malloc(need);
            struct stat st;
            if (!p) {
                rc = ag_error_set(err, AG_ENOMEM, "out of memory");
            } else {
                snprintf(p, need, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", nm);
                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                    rc = find_tests(p, depth + 1, out, err);
                else if (!strcmp(nm, TEST_FILE_NAME) && paths_add(out, p))
                    rc = ag_error_set(err, AG_ENOMEM, "out of memory");
                free(p);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- judging ---- */

static void judge(const ag_policy_set *set, const tf_test *t, size_t i, judged *j)
{
    j->done = 1;
    const tf_request *q = &t->requests[i];
    json_t *obj = t->resources.v[i].obj;
    json_t *old = q->old != (size_t)-1 ? t->resources.v[q->old].obj : !strcmp(q->operation, "UPDATE") ? obj : NULL;
    int del = !strcmp(q->operation, "DELETE");
    const char *groups[MAX_GROUPS];
    size_t ng = 0;
    for (; ng < json_array_size(q->groups) && ng < MAX_GROUPS; ng++)
        groups[ng] = json_string_value(json_array_get(q->groups, ng));
    ag_request req;
    ag_error err = {0};
    if (ag_request_synthesize(&req, del ? NULL : obj, del ? obj : old, q->operation, NULL, q->user, groups, ng,
                              &err)) {
        j->error = strdup(err.msg);
        return;
    }
    ag_admission_options opt = {AG_MODE_BOTH | AG_MODE_RESULTS, t->now, 0, 1, 0, 0, 0};
    ag_admission_result res;
    if (ag_admission_run(set, t->view ? cli_view_get(t->view) : NULL, &opt, &req, &res)) {
        j->error = strdup(res.err.msg);
    } else {
        j->results = json_incref(res.decision.results);
        j->after = json_incref(res.decision.object_after ? res.decision.object_after : obj);
    }
    ag_admission_result_clear(&res);
}

static void resource_label(const json_t *obj, char *buf, size_t cap)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    ag_strfmt(buf, cap, "%s/%s%s%s", json_string_value(json_object_get(obj, "kind")), ns ? ns : "", ns ? "/" : "",
              json_string_value(json_object_get(meta, "name")));
}

/* One expectation against what the flow answered: a row {policy, rule, resource, source,
 * expected, got, ok, message, details}. */
static json_t *compare(const tf_test *t, const tf_expect *x, const judged *j)
{
    char resource[800], source[1200], expected[32], got[32];
    resource_label(t->resources.v[x->res].obj, resource, sizeof resource);
    ag_strfmt(source, sizeof source, "%s:%u:%u", t->path, x->line, x->col);
    json_t *details = json_array();
    const char *got_msg = "";
    int ok = 1;
    if (j->error) {
        ag_strfmt(got, sizeof got, "error");
        json_array_append_new(details, json_sprintf("the admission flow failed: %s", j->error));
        ok = 0;
    } else {
        const char *g = "skip";
        size_t k;
        json_t *r;
        json_array_foreach(j->results, k, r) {
            const char *p = json_string_value(json_object_get(r, "policy"));
            const char *n = json_string_value(json_object_get(r, "rule"));
            if (p && n && !strcmp(p, x->policy) && !strcmp(n, x->rule)) {
                g = json_string_value(json_object_get(r, "result"));
                got_msg = json_string_value(json_object_get(r, "message"));
                g = g ? g : "?";
                got_msg = got_msg ? got_msg : "";
                break;
            }
        }
        got[0] = '\0';
        if (x->result != TR_NONE) {
            ag_strfmt(got, sizeof got, "%s", g);
            if (strcmp(g, tr_names[x->result])) {
                ok = 0;
                json_array_append_new(details, json_sprintf("result: expected %s, got %s%s%s", tr_names[x->result], g,
                                                            *got_msg ? ": " : "", got_msg));
            }
        }
        if (x->message) {
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(x->message, NULL);
            int m = md ? pcre2_match(x->message, (PCRE2_SPTR)got_msg, strlen(got_msg), 0, 0, md, NULL) : -1;
            pcre2_match_data_free(md);
            if (m < 0) {
                ok = 0;
                json_array_append_new(details, json_sprintf("message: the pattern /%s/ does not match %s%s",
                                                            x->message_text, *got_msg ? "the message: " : "",
                                                            *got_msg ? got_msg : "an empty message (no result)"));
            }
        }
        if (x->patched) {
            char *d = tf_diff(x->patched, j->after, DIFF_LINES);
            size_t l = strlen(got);
            ag_strfmt(got + l, sizeof got - l, "%s%s", l ? ", " : "", d ? "differs" : "patched");
            if (d) {
                ok = 0;
                size_t n = strlen(d);
                if (n && d[n - 1] == '\n')
                    d[n - 1] = '\0';
                json_array_append_new(details, json_sprintf("patchedResource (%s) differs from the resource after "
                                                            "mutation:\n%s", x->patched_where, d));
            }
            free(d);
        }
    }
    ag_strfmt(expected, sizeof expected, "%s%s%s", x->result != TR_NONE ? tr_names[x->result] : "",
              x->result != TR_NONE && x->patched ? ", " : "", x->patched ? "patched" : "");
    json_t *text = json_string("");
    size_t k;
    json_t *d;
    json_array_foreach(details, k, d) {
        const char *s = json_string_value(text);
        json_t *nt = json_sprintf("%s%s%s", s, *s ? "\n" : "", json_string_value(d));
        json_decref(text);
        text = nt ? nt : json_string("");
    }
    json_decref(details);
    json_t *msg = ag_decision_text(got_msg);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o?, s:o?}", "policy", x->policy, "rule", x->rule,
                     "resource", resource, "source", source, "expected", expected, "got", got, "ok", ok, "message",
                     msg, "details", text);
}

static void broken(run *r, json_t *entry, const ag_diags *d, const char *why)
{
    r->broken++;
    json_t *errs = json_array();
    for (size_t i = 0; i < d->count; i++) {
        fprintf(stderr, "%s\n", d->items[i]);
        json_array_append_new(errs, ag_decision_text(d->items[i]));
    }
    if (!d->count) {
        fprintf(stderr, "aimguard test: %s\n", why);
        json_array_append_new(errs, ag_decision_text(why));
    }
    json_object_set_new(entry, "errors", errs);
}

static void run_file(run *r, const char *path)
{
    r->files++;
    json_t *entry = json_pack("{s:s, s:s, s:[]}", "file", path, "name", "", "results");
    if (!entry || json_array_append_new(r->tests, entry)) {
        r->broken++;
        return;
    }
    ag_diags d = {0};
    ag_error err = {0};
    tf_test *t = NULL;
    ag_policy_set *set = NULL;
    judged *js = NULL;
    if (tf_load(path, r->now, &t, &d, &err)) {
        broken(r, entry, &d, err.msg);
        goto out;
    }
    json_object_set_new(entry, "name", json_string(t->name));
    ag_load_options lo = {1, -1};
    if (ag_policy_load_paths((const char *const *)t->policies, t->npolicies, &lo, &set, &d, &err)) {
        broken(r, entry, &d, err.msg);
        goto out;
    }
    if (tf_check_names(t, &d)) {
        broken(r, entry, &d, "names in the test");
        goto out;
    }
    js = calloc(t->resources.n ? t->resources.n : 1, sizeof *js);
    if (!js) {
        broken(r, entry, &d, "out of memory");
        goto out;
    }
    json_t *rows = json_object_get(entry, "results");
    for (size_t e = 0; e < t->nex; e++) {
        const tf_expect *x = &t->ex[e];
        if (!js[x->res].done)
            judge(set, t, x->res, &js[x->res]);
        json_t *row = compare(t, x, &js[x->res]);
        r->expectations++;
        if (!row || json_array_append_new(rows, row)) {
            r->failed++;
            continue;
        }
        if (json_is_true(json_object_get(row, "ok")))
            r->passed++;
        else
            r->failed++;
    }
out:
    for (size_t i = 0; js && t && i < t->resources.n; i++) {
        json_decref(js[i].results);
        json_decref(js[i].after);
        free(js[i].error);
    }
    free(js);
    ag_diags_clear(&d);
    ag_policy_set_unref(set);
    tf_free(t);
}

/* ---- output ---- */

static const char *col(const json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s ? s : "";
}

static void print_table(const run *r)
{
    static const char *const heads[] = {"TEST", "POLICY", "RULE", "RESOURCE", "EXPECTED", "GOT", "STATUS"};
    static const char *const keys[] = {NULL, "policy", "rule", "resource", "expected", "got", NULL};
    size_t w[7];
    for (int c = 0; c < 7; c++)
        w[c] = strlen(heads[c]);
    size_t i, k;
    json_t *test, *row;
    json_array_foreach(r->tests, i, test) {
        json_array_foreach(json_object_get(test, "results"), k, row) {
            for (int c = 0; c < 6; c++) {
                size_t l = strlen(c ? col(row, keys[c]) : col(test, "file"));
                if (l > w[c])
                    w[c] = l;
            }
        }
    }
    if (!r->expectations)
        return;
    for (int c = 0; c < 7; c++)
        printf("%-*s%s", c < 6 ? (int)w[c] : 0, heads[c], c < 6 ? "  " : "\n");
    json_array_foreach(r->tests, i, test) {
        json_array_foreach(json_object_get(test, "results"), k, row) {
            for (int c = 0; c < 6; c++)
                printf("%-*s  ", (int)w[c], c ? col(row, keys[c]) : col(test, "file"));
            printf("%s\n", json_is_true(json_object_get(row, "ok")) ? "OK" : "FAIL");
        }
    }
    int header = 0;
    json_array_foreach(r->tests, i, test) {
        json_array_foreach(json_object_get(test, "results"), k, row) {
            if (json_is_true(json_object_get(row, "ok")))
                continue;
            if (!header++)
                printf("\nfailures:\n");
            printf("%s: %s %s %s:\n", col(row, "source"), col(row, "policy"), col(row, "rule"), col(row, "resource"));
            const char *d = col(row, "details");
            while (*d) {
                size_t n = strcspn(d, "\n");
                printf("    %.*s\n", (int)n, d);
                d += n + (d[n] == '\n');
            }
        }
    }
}

/* XML text or attribute value: markup escaped, and the characters XML 1.0 cannot carry
 * (control characters but tab, newline and return) replaced by '?'. */
static void xml_put(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            fputc(c < 0x20 && c != '\t' && c != '\n' && c != '\r' ? '?' : c, f);
        }
    }
}

static int write_junit(const run *r, const char *file, ag_error *err)
{
    FILE *f = fopen(file, "w");
    if (!f)
        return ag_error_set(err, AG_EIO, "--junit %s: %s", file, strerror(errno));
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"aimguard test\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"%zu\">\n", r->expectations + r->broken, r->failed, r->broken);
    size_t i, k;
    json_t *test, *row;
    json_array_foreach(r->tests, i, test) {
        json_t *rows = json_object_get(test, "results"), *errs = json_object_get(test, "errors");
        size_t fails = 0;
        json_array_foreach(rows, k, row) {
            fails += !json_is_true(json_object_get(row, "ok"));
        }
        fputs("  <testsuite name=\"", f);
        xml_put(f, col(test, "file"));
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\">\n", json_array_size(rows) + (errs != NULL),
                fails, errs != NULL);
        if (errs) {
            fputs("    <testcase classname=\"", f);
            xml_put(f, col(test, "file"));
            fputs("\" name=\"load the test and its policies\">\n      <error message=\"broken test or policy "
                  "file\">", f);
            json_array_foreach(errs, k, row) {
                xml_put(f, json_string_value(row));
                fputc('\n', f);
            }
            fputs("</error>\n    </testcase>\n", f);
        }
        json_array_foreach(rows, k, row) {
            fputs("    <testcase classname=\"", f);
            xml_put(f, *col(test, "name") ? col(test, "name") : col(test, "file"));
            fputs("\" name=\"", f);
            xml_put(f, col(row, "policy"));
            fputc('/', f);
            xml_put(f, col(row, "rule"));
            fputc(' ', f);
            xml_put(f, col(row, "resource"));
            fputs(": ", f);
            xml_put(f, col(row, "expected"));
            fputs("\" file=\"", f);
            xml_put(f, col(row, "source"));
            if (json_is_true(json_object_get(row, "ok"))) {
                fputs("\"/>\n", f);
                continue;
            }
            fputs("\">\n      <failure message=\"expected ", f);
            xml_put(f, col(row, "expected"));
            fputs(", got ", f);
            xml_put(f, col(row, "got"));
            fputs("\" type=\"mismatch\">", f);
            xml_put(f, col(row, "source"));
            fputc('\n', f);
            xml_put(f, col(row, "details"));
            fputs("</failure>\n    </testcase>\n", f);
        }
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    if (ferror(f) | fclose(f))
        return ag_error_set(err, AG_EIO, "--junit %s: write error", file);
    return 0;
}

int ag_cli_test(int argc, char **argv)
{
    const char *output = "text", *junit = NULL;
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"junit", required_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (o) {
        case 'o': output = optarg; break;
        case 'j': junit = optarg; break;
        case 'h': fputs(test_usage, stdout); return 0;
        default: fputs(test_usage, stderr); return 2;
        }
    }
    run r = {0};
    if (!strcmp(output, "json"))
        r.json = 1;
    else if (strcmp(output, "text")) {
        fprintf(stderr, "aimguard test: --output must be text or json\n");
        return 2;
    }
    r.now = time(NULL);
    paths files = {0};
    ag_error err = {0};
    int rc = 2;
    for (int i = optind; i < argc || (i == optind && i == argc); i++) {
        const char *p = i < argc ? argv[i] : ".";
        struct stat st;
        if (stat(p, &st) != 0) {
            ag_error_set(&err, AG_EIO, "%s: %s", p, strerror(errno));
            goto fail;
        }
        size_t before = files.n;
        if (S_ISDIR(st.st_mode) ? find_tests(p, 0, &files, &err) : paths_add(&files, p) ? AG_ENOMEM : 0)
            goto fail;
        if (files.n == before) {
            ag_error_set(&err, AG_EINVAL, "%s: no %s below it: nothing to test", p, TEST_FILE_NAME);
            goto fail;
        }
    }
    if (!(r.tests = json_array())) {
        ag_error_set(&err, AG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < files.n; i++)
        run_file(&r, files.v[i]);
    if (r.json) {
        json_t *doc = json_pack("{s:O, s:{s:I, s:I, s:I, s:I, s:I}}", "tests", r.tests, "summary", "files",
                                (json_int_t)r.files, "expectations", (json_int_t)r.expectations, "passed",
                                (json_int_t)r.passed, "failed", (json_int_t)r.failed, "broken", (json_int_t)r.broken);
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            printf("%s\n", text);
        else
            r.broken++;
        free(text);
        json_decref(doc);
    } else {
        print_table(&r);
        printf("%s%zu test file%s, %zu expectation%s: %zu passed, %zu failed; %zu broken test file%s\n",
               r.expectations ? "\n" : "", r.files, r.files == 1 ? "" : "s", r.expectations,
               r.expectations == 1 ? "" : "s", r.passed, r.failed, r.broken, r.broken == 1 ? "" : "s");
    }
    if (junit && write_junit(&r, junit, &err)) {
        fprintf(stderr, "aimguard test: %s\n", err.msg);
        r.broken++;
    }
    rc = r.broken ? 2 : r.failed ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "aimguard test: %s\n", err.msg);
out:
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    json_decref(r.tests);
    fflush(stdout);
    return rc;
}
