/* `aimguard eval`: the offline admission decision for everything a CI job has, in one
 * process: stdin, files, directory trees, multi-document YAML, Lists; one result per
 * object, a summary, and an exit status that is the worst result. Every object goes
 * through ag_decide(), the same pure function the webhook calls. */
#include "cli_int.h"

#include "aimguard/admission.h"
#include "aimguard/cli.h"
#include "aimguard/policy.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_GROUPS 32
#define MAX_PATHS 256

static const char eval_usage[] =
    "usage: aimguard eval -p POLICIES -f PATH [-f PATH ...] [flags]\n"
    "  -p, --policies PATH       policy directory or file\n"
    "  -f, --file PATH           what to judge: a file ('-' for stdin) or a directory (every .yaml,\n"
    "                            .yml and .json below it); multi-document YAML and Lists are\n"
    "                            judged object by object; an AdmissionReview is taken as the\n"
    "                            request itself; may repeat\n"
    "  --operation OP            CREATE (default), UPDATE, DELETE or CONNECT\n"
    "  --old PATH                the old objects, for UPDATE and DELETE (paired by kind, namespace\n"
    "                            and name; one object with one old object pairs as is)\n"
    "  --namespace NS            namespace (default: each object's metadata.namespace)\n"
    "  --user U, --group G       the requesting identity (--group may repeat)\n"
    "  --mode MODE               mutate, validate or both (default both: mutate, then validate\n"
    "                            the mutated object)\n"
    "  -o, --output FORMAT       text (default: one line per object and a summary), json or yaml\n"
    "                            (every result, for machines), review (the AdmissionReview response\n"
    "                            of each object), object or object-yaml (the objects after mutation)\n"
    "  --cluster-objects PATH    Namespaces and AIM objects standing in for the cluster, for\n"
    "                            namespaceSelector and clusterReferences (file or directory; may repeat)\n"
    "  --assume-access ANSWER    allowed or denied: the answer to every SubjectAccessReview a policy\n"
    "                            asks (validate.rbac.clusterReferences); without it there is none\n"
    "exit status: 0 all allowed, 1 any denied, 2 any error (usage, input or an object)\n";

typedef enum { OUT_TEXT, OUT_JSON, OUT_YAML, OUT_REVIEW, OUT_OBJECT, OUT_OBJECT_YAML } out_fmt;
enum { R_ALLOWED, R_WARNED, R_DENIED, R_ERROR };

typedef struct eval_run {
    const ag_policy_set *set;
    const ag_view *view;
    ag_mode mode;
    out_fmt out;
    const char *operation, *ns, *user;
    const char *const *groups;
    size_t ngroups;
    time_t now;
    size_t count[4];
    json_t *results;  /* json/yaml: every result */
    json_t *objects;  /* object/object-yaml: every object after mutation */
} eval_run;

static const char *const result_names[] = {"allowed", "warned", "denied", "error"};

/* "apps/Deployment" or "Pod": a kind as policies write it */
static void kind_label(char *buf, size_t cap, const char *group, const char *kind)
{
    ag_strfmt(buf, cap, "%s%s%s", group && *group ? group : "", group && *group ? "/" : "", kind ? kind : "?");
}

static void obj_label(char *buf, size_t cap, const char *ns, const char *name)
{
    ag_strfmt(buf, cap, "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "/" : "", name && *name ? name : "(no name)");
}

/* The denial without its "aimguard denied Kind ns/name: " opening, which the line says. */
static const char *denial_text(const char *msg)
{
    if (!msg)
        return "denied by policy";
    if (!strncmp(msg, "aimguard denied ", 16)) {
        const char *c = strstr(msg, ": ");
        if (c)
            return c + 2;
    }
    return msg;
}

static void record_error(eval_run *r, const eval_item *it, const char *msg)
{
    char where[1200];
    cli_item_where(it, where, sizeof where);
    r->count[R_ERROR]++;
    if (r->out == OUT_TEXT) {
        printf("ERROR %s: %s\n", where, msg);
    } else if (r->out == OUT_JSON || r->out == OUT_YAML) {
        json_t *src = json_pack("{s:s}", "file", it->file);
        if (src && it->doc)
            json_object_set_new(src, "document", json_integer((json_int_t)it->doc));
        if (src && it->item)
            json_object_set_new(src, "item", json_string(it->item));
        json_t *e = json_string(msg);
        /* a message quoting a file name or YAML that is not UTF-8 must not lose the result */
        json_t *o = json_pack("{s:o?, s:s, s:o}", "source", src, "result", "error", "error",
                              e ? e : json_string("(the message is not valid UTF-8)"));
        if (!o || json_array_append_new(r->results, o))
            fprintf(stderr, "aimguard eval: %s: %s\n", where, msg);
    } else {
        fprintf(stderr, "aimguard eval: %s: %s\n", where, msg);
    }
}

static void record(eval_run *r, const eval_item *it, const ag_admission_result *a)
{
    const ag_request *req = &a->req;
    const ag_decision *dec = &a->decision;
    int res = !dec->allowed ? R_DENIED : json_array_size(dec->warnings) ? R_WARNED : R_ALLOWED;
    int mutated = dec->patch && json_array_size(dec->patch) > 0 && dec->allowed;
    r->count[res]++;
    json_t *obj = req->object ? req->object : req->old_object;
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!name || !*name)
        name = req->name;
    char kind[300], who[600];
    kind_label(kind, sizeof kind, req->group, req->kind);
    obj_label(who, sizeof who, req->namespace_, name);
    switch (r->out) {
    case OUT_TEXT:
        if (res == R_DENIED) {
            printf("DENY %s %s: %s\n", kind, who, denial_text(dec->message));
        } else if (res == R_WARNED) {
            printf("WARN %s %s%s: ", kind, who, mutated ? " (mutated)" : "");
            for (size_t i = 0; i < json_array_size(dec->warnings); i++)
                printf("%s%s", i ? "; " : "", json_string_value(json_array_get(dec->warnings, i)));
            printf("\n");
        } else {
            printf("ALLOW %s %s%s\n", kind, who, mutated ? " (mutated)" : "");
        }
        break;
    case OUT_JSON:
    case OUT_YAML: {
        json_t *src = json_pack("{s:s}", "file", it->file);
        if (src && it->doc)
            json_object_set_new(src, "document", json_integer((json_int_t)it->doc));
        if (src && it->item)
            json_object_set_new(src, "item", json_string(it->item));
        const char *api = json_string_value(json_object_get(obj, "apiVersion"));
        json_t *o = json_pack("{s:o?, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "source", src, "apiVersion",
                              api ? api : "", "kind", req->kind ? req->kind : "", "namespace",
                              req->namespace_ ? req->namespace_ : "", "name", name ? name : "", "operation",
                              req->operation ? req->operation : "", "result", result_names[res], "allowed",
                              dec->allowed);
        if (o && !dec->allowed)
            json_object_set_new(o, "message", json_string(dec->message ? dec->message : "denied by policy"));
        if (o && json_array_size(dec->warnings))
            json_object_set(o, "warnings", dec->warnings);
        if (o && mutated)
            json_object_set(o, "patch", dec->patch);
        if (o && json_object_size(dec->audit))
            json_object_set(o, "auditAnnotations", dec->audit);
        json_array_append_new(r->results, o);
        break;
    }
    case OUT_REVIEW:
        if (a->body)
            printf("%s\n", a->body);
        break;
    default:
        json_array_append(r->objects, dec->object_after ? dec->object_after : obj);
        break;
    }
    if (res == R_DENIED && (r->out == OUT_REVIEW || r->out == OUT_OBJECT || r->out == OUT_OBJECT_YAML))
        fprintf(stderr, "denied: %s\n", dec->message ? dec->message : "");
}

static int same_id(json_t *a, json_t *b)
{
    static const char *const keys[] = {"apiVersion", "kind"};
    for (int i = 0; i < 2; i++) {
        const char *x = json_string_value(json_object_get(a, keys[i]));
        const char *y = json_string_value(json_object_get(b, keys[i]));
        if (i == 0) { /* the group, not the version, names the resource */
            const char *xs = x ? strchr(x, '/') : NULL, *ys = y ? strchr(y, '/') : NULL;
            size_t xl = xs ? (size_t)(xs - x) : 0, yl = ys ? (size_t)(ys - y) : 0;
            if (xl != yl || (xl && strncmp(x, y, xl)))
                return 0;
            continue;
        }
        if (!x || !y || strcmp(x, y))
            return 0;
    }
    json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    const char *na = json_string_value(json_object_get(ma, "namespace"));
    const char *nb = json_string_value(json_object_get(mb, "namespace"));
    const char *a1 = json_string_value(json_object_get(ma, "name"));
    const char *b1 = json_string_value(json_object_get(mb, "name"));
    return a1 && b1 && !strcmp(a1, b1) && !strcmp(na ? na : "", nb ? nb : "");
}

static json_t *old_for(const eval_items *items, const eval_items *olds, json_t *obj)
{
    if (!olds)
        return NULL;
    if (items->n == 1 && olds->n == 1)
        return olds->v[0].obj;
    for (size_t i = 0; i < olds->n; i++)
        if (olds->v[i].obj && same_id(olds->v[i].obj, obj))
            return olds->v[i].obj;
    return NULL;
}

/* One object through the admission flow of admission/: an AdmissionReview as its bytes
 * (decode -> decide -> encode, as the webhook), any other object as a request built
 * around it (decide -> encode). The response body is made only for -o review. */
static void judge(eval_run *r, const eval_item *it, json_t *old)
{
    if (it->error) {
        record_error(r, it, it->error);
        return;
    }
    ag_error err = {0};
    ag_admission_options opt = {r->mode, r->now, 0, r->out != OUT_REVIEW, JSON_INDENT(2) | JSON_PRESERVE_ORDER, 0, 0};
    ag_admission_result res;
    int rc;
    const char *kind = json_string_value(json_object_get(it->obj, "kind"));
    if (kind && !strcmp(kind, "AdmissionReview")) {
        char *text = json_dumps(it->obj, JSON_COMPACT);
        if (!text) {
            record_error(r, it, "out of memory");
            return;
        }
        rc = ag_admission_handle(r->set, r->view, &opt, text, strlen(text), &res);
        free(text);
    } else {
        ag_request req;
        int del = !strcmp(r->operation, "DELETE");
        if (ag_request_synthesize(&req, del ? NULL : it->obj, del ? it->obj : old, r->operation, r->ns, r->user,
                                  r->groups, r->ngroups, &err)) {
            record_error(r, it, err.msg);
            return;
        }
        rc = ag_admission_run(r->set, r->view, &opt, &req, &res);
    }
    if (rc)
        record_error(r, it, res.err.msg);
    else
        record(r, it, &res);
    ag_admission_result_clear(&res);
}

static void finish(eval_run *r)
{
    size_t total = r->count[0] + r->count[1] + r->count[2] + r->count[3];
    ag_error err = {0};
    switch (r->out) {
    case OUT_TEXT:
        printf("%zu object%s: %zu allowed, %zu warned, %zu denied, %zu error%s\n", total, total == 1 ? "" : "s",
               r->count[R_ALLOWED], r->count[R_WARNED], r->count[R_DENIED], r->count[R_ERROR],
               r->count[R_ERROR] == 1 ? "" : "s");
        break;
    case OUT_JSON:
    case OUT_YAML: {
        json_t *doc = json_pack("{s:O, s:{s:I, s:I, s:I, s:I, s:I}}", "results", r->results, "summary", "objects",
                                (json_int_t)total, "allowed", (json_int_t)r->count[R_ALLOWED], "warned",
                                (json_int_t)r->count[R_WARNED], "denied", (json_int_t)r->count[R_DENIED],
                                "errors", (json_int_t)r->count[R_ERROR]);
        if (!doc) {
            fprintf(stderr, "aimguard eval: out of memory\n");
            r->count[R_ERROR]++;
        } else if (r->out == OUT_JSON) {
            char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (text)
                printf("%s\n", text);
            free(text);
        } else if (cli_yaml_print(stdout, doc, &err)) {
            fprintf(stderr, "aimguard eval: %s\n", err.msg);
        }
        json_decref(doc);
        break;
    }
    case OUT_OBJECT: {
        /* one object stays itself (as eval always printed it); several become a List */
        json_t *doc = json_array_size(r->objects) == 1
                          ? json_incref(json_array_get(r->objects, 0))
                          : json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", r->objects);
        char *text = doc && (json_array_size(r->objects) || total == 0)
                         ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                         : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(doc);
        break;
    }
    case OUT_OBJECT_YAML:
        for (size_t i = 0; i < json_array_size(r->objects); i++)
            if (cli_yaml_print(stdout, json_array_get(r->objects, i), &err))
                fprintf(stderr, "aimguard eval: %s\n", err.msg);
        break;
    default:
        break;
    }
}

static int parse_output(const char *s, out_fmt *out)
{
    static const struct {
        const char *name;
        out_fmt fmt;
    } names[] = {{"text", OUT_TEXT},     {"json", OUT_JSON},     {"yaml", OUT_YAML},
                 {"review", OUT_REVIEW}, {"object", OUT_OBJECT}, {"object-yaml", OUT_OBJECT_YAML}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].fmt;
            return 0;
        }
    return -1;
}

/* One notice when a policy reads the cluster and eval was not given what it reads:
 * the answer then differs from the webhook's, and a CI log should say why. */
static void notice_missing_cluster(const ag_policy_set *set, int have_objects, int have_access)
{
    const char *nsp = NULL, *refp = NULL;
    ag_policy_cluster_needs(set, &nsp, &refp);
    if (nsp && !have_objects)
        fprintf(stderr, "aimguard eval: notice: policy %s selects namespaces by label (namespaceSelector) and "
                "no --cluster-objects were given: namespace labels are unknown, such policies apply as if "
                "they matched and exclusions by label do not apply\n", nsp);
    const char *anp = NULL, *cmp = NULL;
    ag_policy_cluster_data(set, &anp, &cmp);
    if ((anp || cmp) && !have_objects)
        fprintf(stderr, "aimguard eval: notice: policy %s reads allowed registries from the cluster "
                "(validate.images.allowFrom) and no --cluster-objects were given: they are unknown, so "
                "its failClosed setting decides for images no static entry allows\n", anp ? anp : cmp);
    if (refp && !have_access)
        fprintf(stderr, "aimguard eval: notice: policy %s checks cluster references (validate.rbac."
                "clusterReferences) and no --assume-access was given: there is no SubjectAccessReview "
                "answer offline, so its failClosed setting decides%s\n", refp,
                have_objects ? "" : "; without --cluster-objects no namespaced AIM object shadows a cluster one");
}

int ag_cli_eval(int argc, char **argv)
{
    const char *policies = NULL, *user = "", *mode_s = "both", *output = "text", *access = NULL;
    const char *paths[MAX_PATHS], *olds[MAX_PATHS], *cluster[MAX_PATHS], *groups[MAX_GROUPS];
    size_t npaths = 0, nolds = 0, ncluster = 0, ngroups = 0;
    eval_run r = {0};
    r.operation = "CREATE";
    static const struct option opts[] = {
        {"policies", required_argument, 0, 'p'}, {"file", required_argument, 0, 'f'},
        {"operation", required_argument, 0, 'O'}, {"old", required_argument, 0, 'D'},
        {"namespace", required_argument, 0, 'n'}, {"user", required_argument, 0, 'u'},
        {"group", required_argument, 0, 'g'},   {"mode", required_argument, 0, 'm'},
        {"output", required_argument, 0, 'o'},  {"cluster-objects", required_argument, 0, 'c'},
        {"assume-access", required_argument, 0, 'a'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "p:f:o:h", opts, NULL)) != -1) {
        const char **list = o == 'f' ? paths : o == 'D' ? olds : o == 'c' ? cluster : o == 'g' ? groups : NULL;
        size_t *n = o == 'f' ? &npaths : o == 'D' ? &nolds : o == 'c' ? &ncluster : o == 'g' ? &ngroups : NULL;
        if (list) {
            if (*n == (o == 'g' ? MAX_GROUPS : MAX_PATHS)) {
                fprintf(stderr, "aimguard eval: too many %s flags\n", argv[optind - 2]);
                return 2;
            }
            list[(*n)++] = optarg;
            continue;
        }
        switch (o) {
        case 'p': policies = optarg; break;
        case 'O': r.operation = optarg; break;
        case 'n': r.ns = optarg; break;
        case 'u': user = optarg; break;
        case 'm': mode_s = optarg; break;
        case 'o': output = optarg; break;
        case 'a': access = optarg; break;
        case 'h': fputs(eval_usage, stdout); return 0;
        default: fputs(eval_usage, stderr); return 2;
        }
    }
    if (!policies || !npaths || optind < argc) {
        fprintf(stderr, "aimguard eval: -p POLICIES and -f PATH are required%s%s\n%s",
                optind < argc ? "; unexpected argument " : "", optind < argc ? argv[optind] : "", eval_usage);
        return 2;
    }
    r.mode = !strcmp(mode_s, "mutate") ? AG_MODE_MUTATE
             : !strcmp(mode_s, "validate") ? AG_MODE_VALIDATE
             : !strcmp(mode_s, "both") ? AG_MODE_BOTH : 0;
    if (!r.mode) {
        fprintf(stderr, "aimguard eval: --mode must be mutate, validate or both\n");
        return 2;
    }
    if (parse_output(output, &r.out)) {
        fprintf(stderr, "aimguard eval: --output must be text, json, yaml, review, object or object-yaml\n");
        return 2;
    }
    if (strcmp(r.operation, "CREATE") && strcmp(r.operation, "UPDATE") && strcmp(r.operation, "DELETE") &&
        strcmp(r.operation, "CONNECT")) {
        fprintf(stderr, "aimguard eval: --operation must be CREATE, UPDATE, DELETE or CONNECT\n");
        return 2;
    }
    int answer = -1;
    if (access) {
        if (!strcmp(access, "allowed"))
            answer = AG_ACCESS_ALLOWED;
        else if (!strcmp(access, "denied"))
            answer = AG_ACCESS_DENIED;
        else {
            fprintf(stderr, "aimguard eval: --assume-access must be allowed or denied\n");
            return 2;
        }
    }
    size_t stdin_uses = 0;
    for (size_t i = 0; i < npaths; i++)
        stdin_uses += !strcmp(paths[i], "-");
    for (size_t i = 0; i < nolds; i++)
        stdin_uses += !strcmp(olds[i], "-");
    for (size_t i = 0; i < ncluster; i++)
        stdin_uses += !strcmp(cluster[i], "-");
    if (stdin_uses > 1) {
        fprintf(stderr, "aimguard eval: stdin ('-') can be read once: give it to one of -f, --old, "
                "--cluster-objects\n");
        return 2;
    }
    r.user = user;
    r.groups = groups;
    r.ngroups = ngroups;
    r.now = time(NULL);

    ag_error err = {0};
    ag_policy_set *set = cli_load_policies("eval", policies);
    if (!set)
        return 2;
    r.set = set;
    int rc = 2;
    eval_view *view = NULL;
    eval_items items = {0}, old_items = {0};
    if (ncluster || answer >= 0) {
        if (cli_view_new(&view, answer, &err))
            goto fail;
        for (size_t i = 0; i < ncluster; i++)
            if (cli_view_add(view, cluster[i], &err))
                goto fail;
        r.view = cli_view_get(view);
    }
    notice_missing_cluster(set, ncluster > 0, answer >= 0);
    for (size_t i = 0; i < npaths; i++)
        if (cli_collect(paths[i], &items, &err))
            goto fail;
    for (size_t i = 0; i < nolds; i++)
        if (cli_collect(olds[i], &old_items, &err))
            goto fail;
    for (size_t i = 0; i < old_items.n; i++)
        if (old_items.v[i].error) {
            char where[1200];
            cli_item_where(&old_items.v[i], where, sizeof where);
            ag_error_set(&err, AG_EINVAL, "--old %s: %s", where, old_items.v[i].error);
            goto fail;
        }
    if ((r.out == OUT_JSON || r.out == OUT_YAML) && !(r.results = json_array()))
        goto oom;
    if ((r.out == OUT_OBJECT || r.out == OUT_OBJECT_YAML) && !(r.objects = json_array()))
        goto oom;
    if (!items.n) {
        /* nothing to judge is not "all allowed": an empty kustomize build or a wrong
         * directory must not pass a gate */
        ag_error_set(&err, AG_EINVAL, "no objects found in what -f names");
        goto fail;
    }
    for (size_t i = 0; i < items.n; i++)
        judge(&r, &items.v[i], items.v[i].obj ? old_for(&items, nolds ? &old_items : NULL, items.v[i].obj) : NULL);
    finish(&r);
    rc = r.count[R_ERROR] ? 2 : r.count[R_DENIED] ? 1 : 0;
    goto out;
oom:
    ag_error_set(&err, AG_ENOMEM, "out of memory");
fail:
    fprintf(stderr, "aimguard eval: %s\n", err.msg);
out:
    json_decref(r.results);
    json_decref(r.objects);
    cli_items_free(&items);
    cli_items_free(&old_items);
    cli_view_free(view);
    ag_policy_set_unref(set);
    fflush(stdout);
    return rc;
}
