/* `aimguard audit`: what the policies would deny or warn among objects that already
 * exist, in a cluster (--kubeconfig) or in manifests on disk, grouped by policy, then
 * rule, then object. Every object goes through ag_decide_existing(), the judgement the
 * background audit of `serve` makes, so the terminal and the PolicyReports agree.
 * Nothing of an object but its kind, namespace and name is printed: the messages are
 * the policies' own (the same text as a denial), never a value of the object. */
#include "cli_int.h"

#include "aimguard/cli.h"
#include "aimguard/policy.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PATHS 256

static const char audit_usage[] =
    "usage: aimguard audit -p POLICIES (--kubeconfig FILE | PATH ...) [flags]\n"
    "  -p, --policies PATH       policy directory or file\n"
    "  --kubeconfig FILE         audit the objects of this cluster (its current context): every kind\n"
    "                            the policies' validate blocks match, listed in pages\n"
    "  PATH ...                  or audit manifests: files ('-' for stdin) or directories (every\n"
    "                            .yaml, .yml and .json below them); multi-document YAML and Lists\n"
    "  -f, --file PATH           the same as PATH (may repeat)\n"
    "  -n, --namespace NS        only objects in this namespace (cluster-scoped ones are skipped)\n"
    "  --cluster-objects PATH    with PATH: Namespaces (labels for namespaceSelector) standing in\n"
    "                            for the cluster, as for eval (may repeat)\n"
    "  --chunk-size N            objects per LIST page from the cluster (default 500, 1..10000)\n"
    "  -o, --output FORMAT       text (default) or json\n"
    "exit status: 0 nothing would be denied, 1 an object would be denied (a fail of an enforce\n"
    "rule), 2 usage, an unreadable policy or input, a cluster that cannot be used\n";

enum { RES_PASS, RES_FAIL, RES_WARN, RES_SKIP };

typedef struct audit_rule {
    char *name, *action;
    json_t *hits; /* fail/warn/skip results: the object's reference, message, violations */
} audit_rule;

typedef struct audit_policy {
    char *name, *source;
    size_t count[4]; /* objects by their worst result for this policy: pass, fail, warn, skip */
    audit_rule *rules;
    size_t nrules, cap;
} audit_policy;

typedef struct audit_run {
    const ag_policy_set *set;
    const ag_view *view;
    const char *ns;
    time_t now;
    int json;
    audit_policy *pols;
    size_t npols, cap;
    size_t objects, denied, warned, audited, errors;
    json_t *error_list; /* json: {"source"|"what", "error"} */
    int oom;
} audit_run;

static int result_code(const char *r)
{
    return !r ? RES_PASS : !strcmp(r, "fail") ? RES_FAIL : !strcmp(r, "warn") ? RES_WARN
           : !strcmp(r, "skip") ? RES_SKIP : RES_PASS;
}

/* worse: fail > warn > skip > pass */
static int worse(int a, int b)
{
    static const int rank[] = {0, 3, 2, 1};
    return rank[b] > rank[a] ? b : a;
}

static audit_policy *policy_of(audit_run *r, const char *name, const char *source)
{
    for (size_t i = 0; i < r->npols; i++)
        if (!strcmp(r->pols[i].name, name))
            return &r->pols[i];
    if (r->npols == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        audit_policy *nv = realloc(r->pols, nc * sizeof *nv);
        if (!nv)
            return NULL;
        r->pols = nv;
        r->cap = nc;
    }
    audit_policy *p = &r->pols[r->npols];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->source = strdup(source ? source : "");
    if (!p->name || !p->source) {
        free(p->name);
        free(p->source);
        return NULL;
    }
    r->npols++;
    return p;
}

static audit_rule *rule_of(audit_policy *p, const char *name, const char *action)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (!strcmp(p->rules[i].name, name))
            return &p->rules[i];
    if (p->nrules == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        audit_rule *nv = realloc(p->rules, nc * sizeof *nv);
        if (!nv)
            return NULL;
        p->rules = nv;
        p->cap = nc;
    }
    audit_rule *ru = &p->rules[p->nrules];
    ru->name = strdup(name);
    ru->action = strdup(action ? action : "");
    ru->hits = json_array();
    if (!ru->name || !ru->action || !ru->hits) {
        free(ru->name);
        free(ru->action);
        json_decref(ru->hits);
        return NULL;
    }
    p->nrules++;
    return ru;
}

static void add_error(audit_run *r, const char *where, const char *msg)
{
    r->errors++;
    if (!r->json) {
        printf("ERROR %s: %s\n", where, msg);
        return;
    }
    json_t *e = json_string(msg);
    json_t *o = json_pack("{s:s, s:o}", "where", where, "error", e ? e : json_string("(not valid UTF-8)"));
    if (!o || json_array_append_new(r->error_list, o))
        fprintf(stderr, "aimguard audit: %s: %s\n", where, msg);
}

/* What a hit names: the object's apiVersion, kind, namespace, name, and where on disk. */
static json_t *object_ref(json_t *obj, const eval_item *it)
{
    json_t *meta = json_object_get(obj, "metadata");
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", api ? api : "", "kind", kind ? kind : "",
                            "namespace", ns ? ns : "", "name", name ? name : "");
    if (ref && it) {
        json_t *src = json_pack("{s:s}", "file", it->file);
        if (src && it->doc)
            json_object_set_new(src, "document", json_integer((json_int_t)it->doc));
        if (src && it->item)
            json_object_set_new(src, "item", json_string(it->item));
        json_object_set_new(ref, "source", src);
    }
    return ref;
}

/* One object: judged, then each of its results filed under its policy and rule. */
static void judge(audit_run *r, json_t *obj, const eval_item *it)
{
    char where[1200] = "";
    if (it)
        cli_item_where(it, where, sizeof where);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind || !*kind || !json_string_value(json_object_get(obj, "apiVersion"))) {
        add_error(r, where, "the object has no apiVersion or kind");
        return;
    }
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    if (r->ns && strcmp(ns ? ns : "", r->ns))
        return;
    r->objects++;
    json_t *results = NULL;
    ag_error err = {0};
    if (ag_decide_existing(r->set, obj, r->view, r->now, &results, &err)) {
        const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        char who[1200];
        ag_strfmt(who, sizeof who, "%s%s%s %s%s%s", where, *where ? " " : "", kind, ns && *ns ? ns : "",
                  ns && *ns ? "/" : "", name && *name ? name : "(no name)");
        add_error(r, who, err.msg);
        return;
    }
    int denied = 0, warned = 0, audited = 0;
    json_t *ref = object_ref(obj, it);
    audit_policy *cur = NULL;
    int worst = RES_PASS;
    json_t *res;
    size_t i;
    json_array_foreach(results, i, res) {
        const char *pname = json_string_value(json_object_get(res, "policy"));
        const char *rname = json_string_value(json_object_get(res, "rule"));
        const char *action = json_string_value(json_object_get(res, "action"));
        int code = result_code(json_string_value(json_object_get(res, "result")));
        if (!pname || !rname)
            continue;
        if (!cur || strcmp(cur->name, pname)) {
            if (cur)
                cur->count[worst]++;
            worst = RES_PASS;
            if (!(cur = policy_of(r, pname, json_string_value(json_object_get(res, "source"))))) {
                r->oom = 1;
                break;
            }
        }
        worst = worse(worst, code);
        audit_rule *ru = rule_of(cur, rname, action);
        if (!ru) {
            r->oom = 1;
            break;
        }
        if (code == RES_PASS)
            continue;
        if (code == RES_FAIL && action && !strcmp(action, "enforce"))
            denied = 1;
        else if (code == RES_FAIL)
            audited = 1;
        else if (code == RES_WARN)
            warned = 1;
        json_t *hit = json_deep_copy(ref);
        static const char *const keep[] = {"result", "message", "violations", "severity", "category"};
        for (size_t k = 0; hit && k < sizeof keep / sizeof keep[0]; k++) {
            json_t *v = json_object_get(res, keep[k]);
            if (v)
                json_object_set(hit, keep[k], v);
        }
        if (!hit || json_array_append_new(ru->hits, hit))
            r->oom = 1;
    }
    if (cur)
        cur->count[worst]++;
    r->denied += denied;
    r->warned += !denied && warned;
    r->audited += !denied && !warned && audited;
    json_decref(ref);
    json_decref(results);
}

static void on_object(void *ctx, json_t *obj)
{
    judge(ctx, obj, NULL);
}

static void on_error(void *ctx, const char *what, const char *msg)
{
    add_error(ctx, what, msg);
}

/* "apps/Deployment team-a/web": the kind as policies write it, then namespace/name */
static void hit_label(json_t *hit, char *buf, size_t cap)
{
    const char *api = json_string_value(json_object_get(hit, "apiVersion"));
    const char *slash = api ? strchr(api, '/') : NULL;
    const char *ns = json_string_value(json_object_get(hit, "namespace"));
    const char *name = json_string_value(json_object_get(hit, "name"));
    ag_strfmt(buf, cap, "%.*s%s%s %s%s%s", slash ? (int)(slash - api) : 0, slash ? api : "", slash ? "/" : "",
              json_string_value(json_object_get(hit, "kind")), ns && *ns ? ns : "", ns && *ns ? "/" : "",
              name && *name ? name : "(no name)");
}

/* One object of a rule: its line, then one indented line per violation (or the message
 * when there are none to list, as for a result waived by an exception). */
static void print_hit(json_t *hit)
{
    char label[1024];
    hit_label(hit, label, sizeof label);
    const char *result = json_string_value(json_object_get(hit, "result"));
    printf("    %s %s\n", !strcmp(result, "fail") ? "FAIL" : !strcmp(result, "warn") ? "WARN" : "SKIP", label);
    json_t *vs = json_object_get(hit, "violations");
    if (!json_array_size(vs) || !strcmp(result, "skip")) {
        printf("      %s\n", json_string_value(json_object_get(hit, "message")));
        return;
    }
    json_t *v;
    size_t i;
    json_array_foreach(vs, i, v) {
        const char *path = json_string_value(json_object_get(v, "path"));
        printf("      [%s] %s%s%s%s\n", json_string_value(json_object_get(v, "rule")),
               json_string_value(json_object_get(v, "message")), path ? " (field " : "", path ? path : "",
               path ? ")" : "");
    }
}

/* Policy order (files by path, documents in file order) is the order of `source`,
 * "file:line:column": by file bytewise, then by line. Objects meet policies in another
 * order (a Namespace listed first meets only the policies matching Namespaces). */
static int by_source(const void *a, const void *b)
{
    const char *x = ((const audit_policy *)a)->source, *y = ((const audit_policy *)b)->source;
    const char *xc = strrchr(x, ':'), *yc = strrchr(y, ':');
    const char *xl = xc ? memrchr(x, ':', (size_t)(xc - x)) : NULL;
    const char *yl = yc ? memrchr(y, ':', (size_t)(yc - y)) : NULL;
    size_t xn = xl ? (size_t)(xl - x) : strlen(x), yn = yl ? (size_t)(yl - y) : strlen(y);
    int c = memcmp(x, y, xn < yn ? xn : yn);
    if (c || xn != yn)
        return c ? c : xn < yn ? -1 : 1;
    long lx = xl ? strtol(xl + 1, NULL, 10) : 0, ly = yl ? strtol(yl + 1, NULL, 10) : 0;
    return lx < ly ? -1 : lx > ly;
}

static void print_text(audit_run *r)
{
    for (size_t i = 0; i < r->npols; i++) {
        audit_policy *p = &r->pols[i];
        size_t n = p->count[0] + p->count[1] + p->count[2] + p->count[3];
        printf("policy %s (%s): %zu object%s judged, %zu fail, %zu warn, %zu pass%s", p->name, p->source, n,
               n == 1 ? "" : "s", p->count[RES_FAIL], p->count[RES_WARN], p->count[RES_PASS],
               p->count[RES_SKIP] ? "" : "\n");
        if (p->count[RES_SKIP])
            printf(", %zu waived by exceptions\n", p->count[RES_SKIP]);
        for (size_t k = 0; k < p->nrules; k++) {
            audit_rule *ru = &p->rules[k];
            if (!json_array_size(ru->hits))
                continue;
            printf("  rule %s (%s)\n", ru->name, ru->action);
            json_t *hit;
            size_t h;
            json_array_foreach(ru->hits, h, hit)
                print_hit(hit);
        }
    }
    printf("%zu object%s: %zu would be denied, %zu warned, %zu audited, %zu error%s\n", r->objects,
           r->objects == 1 ? "" : "s", r->denied, r->warned, r->audited, r->errors, r->errors == 1 ? "" : "s");
}

static void print_json(audit_run *r)
{
    json_t *pols = json_array();
    for (size_t i = 0; pols && i < r->npols; i++) {
        audit_policy *p = &r->pols[i];
        json_t *rules = json_array();
        for (size_t k = 0; rules && k < p->nrules; k++)
            json_array_append_new(rules, json_pack("{s:s, s:s, s:O}", "rule", p->rules[k].name, "action",
                                                   p->rules[k].action, "results", p->rules[k].hits));
        json_array_append_new(pols, json_pack("{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:o}", "policy", p->name,
                                              "source", p->source, "summary", "objects",
                                              (json_int_t)(p->count[0] + p->count[1] + p->count[2] + p->count[3]),
                                              "fail", (json_int_t)p->count[RES_FAIL], "warn",
                                              (json_int_t)p->count[RES_WARN], "pass", (json_int_t)p->count[RES_PASS],
                                              "skip", (json_int_t)p->count[RES_SKIP], "rules", rules));
    }
    json_t *doc = json_pack("{s:o, s:O, s:{s:I, s:I, s:I, s:I, s:I}}", "policies", pols, "errors", r->error_list,
                            "summary", "objects", (json_int_t)r->objects, "denied", (json_int_t)r->denied, "warned",
                            (json_int_t)r->warned, "audited", (json_int_t)r->audited, "errors",
                            (json_int_t)r->errors);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf("%s\n", text);
    else
        r->oom = 1;
    free(text);
    json_decref(doc);
}

static void run_free(audit_run *r)
{
    for (size_t i = 0; i < r->npols; i++) {
        for (size_t k = 0; k < r->pols[i].nrules; k++) {
            free(r->pols[i].rules[k].name);
            free(r->pols[i].rules[k].action);
            json_decref(r->pols[i].rules[k].hits);
        }
        free(r->pols[i].rules);
        free(r->pols[i].name);
        free(r->pols[i].source);
    }
    free(r->pols);
    json_decref(r->error_list);
}

static int dns_label(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int audit_files(audit_run *r, const char *const *paths, size_t npaths, ag_error *err)
{
    eval_items items = {0};
    for (size_t i = 0; i < npaths; i++)
        if (cli_collect(paths[i], &items, err)) {
            cli_items_free(&items);
            return err->code;
        }
    if (!items.n) {
        cli_items_free(&items);
        /* nothing to judge is not "nothing would be denied" (an empty kustomize build) */
        return ag_error_set(err, AG_EINVAL, "no objects found in the paths given");
    }
    for (size_t i = 0; i < items.n; i++) {
        const eval_item *it = &items.v[i];
        if (it->error) {
            char where[1200];
            cli_item_where(it, where, sizeof where);
            add_error(r, where, it->error);
        } else {
            judge(r, it->obj, it);
        }
    }
    cli_items_free(&items);
    return 0;
}

int ag_cli_audit(int argc, char **argv)
{
    const char *policies = NULL, *kubeconfig = NULL, *output = "text";
    const char *paths[MAX_PATHS], *cluster[MAX_PATHS];
    size_t npaths = 0, ncluster = 0;
    long chunk = 500;
    audit_run r = {0};
    static const struct option opts[] = {
        {"policies", required_argument, 0, 'p'},  {"kubeconfig", required_argument, 0, 'k'},
        {"namespace", required_argument, 0, 'n'}, {"output", required_argument, 0, 'o'},
        {"file", required_argument, 0, 'f'},      {"cluster-objects", required_argument, 0, 'c'},
        {"chunk-size", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "p:n:o:f:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'p': policies = optarg; break;
        case 'k': kubeconfig = optarg; break;
        case 'n': r.ns = optarg; break;
        case 'o': output = optarg; break;
        case 'f':
        case 'c':
            if ((o == 'f' ? npaths : ncluster) == MAX_PATHS) {
                fprintf(stderr, "aimguard audit: too many paths\n");
                return 2;
            }
            if (o == 'f')
                paths[npaths++] = optarg;
            else
                cluster[ncluster++] = optarg;
            break;
        case 'C':
            chunk = strtol(optarg, &end, 10);
            if (!*optarg || *end || chunk < 1 || chunk > 10000) {
                fprintf(stderr, "aimguard audit: --chunk-size must be a number from 1 to 10000\n");
                return 2;
            }
            break;
        case 'h': fputs(audit_usage, stdout); return 0;
        default: fputs(audit_usage, stderr); return 2;
        }
    }
    for (; optind < argc; optind++) {
        if (npaths == MAX_PATHS) {
            fprintf(stderr, "aimguard audit: too many paths\n");
            return 2;
        }
        paths[npaths++] = argv[optind];
    }
    if (!policies || (!kubeconfig && !npaths) || (kubeconfig && (npaths || ncluster))) {
        fprintf(stderr, "aimguard audit: %s\n%s",
                !policies ? "-p POLICIES is required"
                : kubeconfig ? "give --kubeconfig FILE or PATHs of manifests, not both (--cluster-objects goes with PATHs)"
                             : "give --kubeconfig FILE (a cluster) or PATHs of manifests",
                audit_usage);
        return 2;
    }
    if (r.ns && !dns_label(r.ns)) {
        /* it goes into the LIST path: a namespace is a DNS label, nothing else */
        fprintf(stderr, "aimguard audit: --namespace '%s' is not a namespace name (lower-case letters, digits "
                "and '-', at most 63)\n", r.ns);
        return 2;
    }
    if (strcmp(output, "text") && strcmp(output, "json")) {
        fprintf(stderr, "aimguard audit: --output must be text or json\n");
        return 2;
    }
    size_t stdin_uses = 0;
    for (size_t i = 0; i < npaths; i++)
        stdin_uses += !strcmp(paths[i], "-");
    for (size_t i = 0; i < ncluster; i++)
        stdin_uses += !strcmp(cluster[i], "-");
    if (stdin_uses > 1) {
        fprintf(stderr, "aimguard audit: stdin ('-') can be read once\n");
        return 2;
    }
    r.json = !strcmp(output, "json");
    r.now = time(NULL);

    ag_error err = {0};
    ag_policy_set *set = cli_load_policies("audit", policies);
    if (!set)
        return 2;
    r.set = set;
    int rc = 2;
    eval_view *view = NULL;
    ag_kind_ref *kinds = NULL;
    size_t nkinds = 0;
    const char *nsp = NULL, *refp = NULL;
    ag_policy_cluster_needs(set, &nsp, &refp);
    if (r.json && !(r.error_list = json_array())) {
        ag_error_set(&err, AG_ENOMEM, "out of memory");
        goto fail;
    }
    if (kubeconfig) {
        if (ag_policy_set_kinds(set, &kinds, &nkinds, &err))
            goto fail;
        if (nsp && cli_view_new(&view, -1, &err))
            goto fail;
        r.view = view ? cli_view_get(view) : NULL;
        cli_sink sink = {&r, on_object, on_error};
        if (cli_cluster_each(kubeconfig, kinds, nkinds, r.ns, chunk, view, &sink, &err))
            goto fail;
    } else {
        if (ncluster) {
            if (cli_view_new(&view, -1, &err))
                goto fail;
            for (size_t i = 0; i < ncluster; i++)
                if (cli_view_add(view, cluster[i], &err))
                    goto fail;
            r.view = cli_view_get(view);
        } else if (nsp) {
            fprintf(stderr, "aimguard audit: notice: policy %s selects namespaces by label (namespaceSelector) "
                    "and no --cluster-objects were given: such policies apply as if they matched\n", nsp);
        }
        if (audit_files(&r, paths, npaths, &err))
            goto fail;
    }
    if (r.oom) {
        ag_error_set(&err, AG_ENOMEM, "out of memory");
        goto fail;
    }
    if (r.npols)
        qsort(r.pols, r.npols, sizeof *r.pols, by_source);
    if (r.json)
        print_json(&r);
    else
        print_text(&r);
    rc = r.errors || r.oom ? 2 : r.denied ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "aimguard audit: %s\n", err.msg);
out:
    ag_kind_refs_free(kinds, nkinds);
    run_free(&r);
    cli_view_free(view);
    ag_policy_set_unref(set);
    fflush(stdout);
    return rc;
}
