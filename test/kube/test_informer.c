/* The watch cache under load: 10,000 watch events through an informer against the test
 * API server, with every JSON allocation counted: the live allocations after the events
 * equal those before (memory stays flat), and readers see the latest object. Cached
 * objects, listed or watched, are kept without their managedFields. The process's set
 * of caches (ag_informers) gives one cache per resource, whoever asks, and tells each
 * handler of it every change. */
#include "agtest.h"
#include "aimguard/informer.h"
#include "aimguard/informers.h"
#include "fakeapi_helper.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long live;

/* plain malloc underneath: json_dumps() results are released with free() elsewhere */
static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

typedef struct seen {
    atomic_int syncs, added;
} seen;

static void count_events(void *ctx, const char *type, json_t *obj)
{
    seen *s = ctx;
    if (!strcmp(type, "SYNC"))
        atomic_fetch_add(&s->syncs, 1);
    else if (!strcmp(type, "ADDED") && !strcmp(json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                                                  "name")), "shared"))
        atomic_fetch_add(&s->added, 1);
}

/* two readers of namespaces: one cache, both handlers told, nothing added once it runs */
static void test_shared_set(const ag_kube_config *cfg, ag_kube *k)
{
    ag_error err = {0};
    ag_informers *f = ag_informers_new(cfg, &err);
    CHECK(f != NULL);
    if (!f)
        return;
    ag_informer *a = ag_informers_for(f, "", "v1", "namespaces", 0, &err);
    ag_informer *b = ag_informers_for(f, "", "v1", "namespaces", 0, &err);
    CHECK(a != NULL && a == b);
    CHECK_INT(ag_informers_count(f), 1);
    ag_view view = {0};
    CHECK_INT(ag_informers_view(f, &view, &err), 0);
    CHECK(ag_informers_lookup(f, "namespaces") == a); /* the view asked for the same cache */
    CHECK_INT(ag_informers_count(f), 4);
    seen one = {0}, two = {0};
    CHECK_INT(ag_informer_add_handler(a, count_events, &one, &err), 0);
    CHECK_INT(ag_informer_add_handler(b, count_events, &two, &err), 0);
    CHECK_INT(ag_informers_start(f, &err), 0);
    CHECK_INT(ag_informer_add_handler(a, count_events, &one, &err), AG_EINVAL);
    CHECK(ag_informers_for(f, "batch", "v1", "jobs", 1, &err) == NULL);
    for (int i = 0; i < 200 && (atomic_load(&one.syncs) < 1 || atomic_load(&two.syncs) < 1); i++)
        usleep(20000); /* listed: what comes now comes as a watch event */
    json_t *ns = json_pack("{s:{s:s}}", "metadata", "name", "shared");
    CHECK_INT(ag_kube_create(k, "/api/v1/namespaces", ns, NULL, NULL, &err), 0);
    json_decref(ns);
    json_t *got = NULL;
    for (int i = 0; i < 200 && !(got = view.get(view.ctx, "namespaces", "", "shared")); i++)
        usleep(20000);
    CHECK(got != NULL);
    json_decref(got);
    for (int i = 0; i < 100 && (atomic_load(&one.added) < 1 || atomic_load(&two.added) < 1); i++)
        usleep(20000);
    ag_informers_stop(f);
    CHECK_INT(atomic_load(&one.syncs), 1);
    CHECK_INT(atomic_load(&two.syncs), 1);
    CHECK_INT(atomic_load(&one.added), 1);
    CHECK_INT(atomic_load(&two.added), 1);
    got = ag_informers_get(f, "namespaces", NULL, "shared"); /* stopped: still readable */
    CHECK(got != NULL);
    json_decref(got);
    CHECK(ag_informers_get(f, "jobs", "team-a", "x") == NULL); /* not watched */
    ag_informers_free(f);
}

static void count_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}

static const char *label_of(ag_informer *inf)
{
    static char buf[64];
    json_t *ns = ag_informer_get(inf, "team-a");
    const char *v = json_string_value(json_object_get(json_object_get(json_object_get(ns, "metadata"), "labels"), "churn"));
    snprintf(buf, sizeof buf, "%s", v ? v : "");
    json_decref(ns);
    return buf;
}

/* creates a namespace as a real API server would send it back: labels, and server-side
 * apply bookkeeping */
static int create_with_managed_fields(ag_kube *k, const char *name)
{
    ag_error err = {0};
    json_t *ns = json_pack("{s:{s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:{s:{}}}]}}", "metadata", "name", name, "labels",
                           "owner", "ml", "managedFields", "manager", "kubectl", "operation", "Apply", "fieldsType",
                           "FieldsV1", "fieldsV1", "f:metadata");
    int rc = ag_kube_create(k, "/api/v1/namespaces", ns, NULL, NULL, &err);
    json_decref(ns);
    return rc;
}

static int kept_without_managed_fields(ag_informer *inf, const char *name)
{
    json_t *o = ag_informer_get(inf, name);
    json_t *m = json_object_get(o, "metadata");
    int ok = o && json_object_get(m, "managedFields") == NULL &&
             json_string_value(json_object_get(json_object_get(m, "labels"), "owner")) != NULL;
    json_decref(o);
    return ok;
}

int main(void)
{
    json_set_alloc_funcs(count_malloc, count_free);
    pid_t pid;
    if (fake_start(&pid)) {
        fprintf(stderr, "cannot start the test API server\n");
        return 1;
    }
    ag_error err = {0};
    ag_kube *k = fake_client(10000, &err);
    json_t *ns = json_pack("{s:{s:s}}", "metadata", "name", "team-a");
    CHECK_INT(ag_kube_create(k, "/api/v1/namespaces", ns, NULL, NULL, &err), 0);
    json_decref(ns);
    CHECK_INT(create_with_managed_fields(k, "listed"), 0);
    ag_kube_config cfg = {0};
    char ca[400];
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", fake_dir());
    cfg.server = fake_server();
    cfg.token_file = fake_token_file();
    cfg.ca_file = ca;
    ag_informer *inf = ag_informer_start(&cfg, "/api/v1/namespaces", &err);
    CHECK(inf != NULL);
    ag_informer_stats st;
    for (int i = 0; i < 200; i++) {
        ag_informer_stats_get(inf, &st);
        if (st.synced)
            break;
        usleep(20000);
    }
    CHECK(st.synced);
    CHECK(kept_without_managed_fields(inf, "listed"));
    CHECK_INT(create_with_managed_fields(k, "watched"), 0);
    json_t *w = NULL;
    for (int i = 0; i < 200 && !(w = ag_informer_get(inf, "watched")); i++)
        usleep(20000);
    json_decref(w);
    CHECK(kept_without_managed_fields(inf, "watched"));
    /* a first round of events brings every cache and buffer to its working size */
    CHECK_INT(fake_admin(k, "{\"churn\": {\"namespace\": \"team-a\", \"count\": 1000}}"), 0);
    for (int i = 0; i < 500 && strcmp(label_of(inf), "999"); i++)
        usleep(20000);
    CHECK_STR(label_of(inf), "999");
    usleep(200000);
    long before = atomic_load(&live);
    ag_informer_stats_get(inf, &st);
    uint64_t events0 = st.events;
    CHECK_INT(fake_admin(k, "{\"churn\": {\"namespace\": \"team-a\", \"count\": 10000}}"), 0);
    for (int i = 0; i < 3000 && strcmp(label_of(inf), "9999"); i++)
        usleep(10000);
    CHECK_STR(label_of(inf), "9999");
    usleep(200000);
    ag_informer_stats_get(inf, &st);
    long after = atomic_load(&live);
    fprintf(stderr, "%llu watch events: live JSON allocations %ld before, %ld after\n",
            (unsigned long long)(st.events - events0), before, after);
    CHECK(st.events - events0 >= 10000);
    CHECK(after - before < 50 && before - after < 50);
    ag_informer_stop(inf);
    test_shared_set(&cfg, k);
    ag_kube_free(k);
    fake_stop(pid);
    return agt_finish();
}
