/* The Kubernetes client against the test API server (test/kubeapi/fakeapi.py) on
 * loopback: CRUD, conflicts retried on a fresh read, paged lists with selectors, watch
 * with bookmarks, a forced 410 and a dropped stream, token rotation, SubjectAccessReview,
 * a kubeconfig with embedded CA data. */
#include "agtest.h"
#include "aimguard/kube.h"
#include "fakeapi_helper.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* the test API server: fakeapi_helper.c */
static pid_t fake_pid;
static char *dir;
static char *server;
static char *token_file;

static ag_kube *client(void)
{
    ag_error err = {0};
    ag_kube *k = fake_client(5000, &err);
    CHECK(k != NULL);
    return k;
}

static void admin(ag_kube *k, const char *json)
{
    CHECK_INT(fake_admin(k, json), 0);
}

static void test_crud_and_conflicts(ag_kube *k)
{
    ag_error err = {0};
    ag_kube_status st;
    json_t *ns = json_pack("{s:{s:s, s:{s:s}}}", "metadata", "name", "team-a", "labels", "aim", "on");
    json_t *out = NULL;
    CHECK_INT(ag_kube_create(k, "/api/v1/namespaces", ns, &out, &st, &err), 0);
    CHECK_INT(st.code, 201);
    CHECK(json_string_value(json_object_get(json_object_get(out, "metadata"), "uid")) != NULL);
    json_decref(out);
    CHECK(ag_kube_create(k, "/api/v1/namespaces", ns, NULL, &st, &err) != 0);
    CHECK_INT(st.code, 409);
    CHECK_STR(st.reason, "AlreadyExists");
    json_decref(ns);
    CHECK_INT(ag_kube_get(k, "/api/v1/namespaces/nope", &out, &st, &err), AG_ENOTFOUND);
    CHECK_INT(st.code, 404);
    CHECK_STR(st.reason, "NotFound");

    /* an update from a stale read is refused; a fresh read then succeeds */
    json_t *cm = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "cfg", "data", "a", "1");
    CHECK_INT(ag_kube_create(k, "/api/v1/namespaces/team-a/configmaps", cm, NULL, &st, &err), 0);
    json_decref(cm);
    json_t *first = NULL, *second = NULL;
    ag_kube_get(k, "/api/v1/namespaces/team-a/configmaps/cfg", &first, &st, &err);
    ag_kube_get(k, "/api/v1/namespaces/team-a/configmaps/cfg", &second, &st, &err);
    json_object_set_new(json_object_get(first, "data"), "a", json_string("2"));
    CHECK_INT(ag_kube_update(k, "/api/v1/namespaces/team-a/configmaps/cfg", first, NULL, &st, &err), 0);
    json_object_set_new(json_object_get(second, "data"), "a", json_string("3"));
    CHECK(ag_kube_update(k, "/api/v1/namespaces/team-a/configmaps/cfg", second, NULL, &st, &err) != 0);
    CHECK_INT(st.code, 409);
    CHECK_STR(st.reason, "Conflict");
    json_decref(second);
    ag_kube_get(k, "/api/v1/namespaces/team-a/configmaps/cfg", &second, &st, &err);
    json_object_set_new(json_object_get(second, "data"), "a", json_string("3"));
    CHECK_INT(ag_kube_update(k, "/api/v1/namespaces/team-a/configmaps/cfg", second, &out, &st, &err), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(out, "data"), "a")), "3");
    json_decref(out);
    json_decref(first);
    json_decref(second);

    /* merge and JSON patch, status subresource, delete */
    json_t *mp = json_pack("{s:{s:s, s:n}}", "data", "b", "x", "a");
    CHECK_INT(ag_kube_merge_patch(k, "/api/v1/namespaces/team-a/configmaps/cfg", mp, &out, &st, &err), 0);
    CHECK(json_object_get(json_object_get(out, "data"), "a") == NULL);
    json_decref(out);
    json_decref(mp);
    json_t *jp = json_loads("[{\"op\":\"add\",\"path\":\"/data/c\",\"value\":\"y\"}]", 0, NULL);
    CHECK_INT(ag_kube_json_patch(k, "/api/v1/namespaces/team-a/configmaps/cfg", jp, &out, &st, &err), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(out, "data"), "c")), "y");
    json_decref(out);
    json_decref(jp);
    json_t *svc = json_pack("{s:{s:s}, s:{s:{s:s}}}", "metadata", "name", "s", "spec", "model", "name", "m");
    CHECK_INT(ag_kube_create(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimservices", svc, &out, &st, &err), 0);
    json_object_set_new(out, "status", json_pack("{s:s}", "status", "Running"));
    json_object_set_new(json_object_get(out, "spec"), "replicas", json_integer(5));
    json_t *after = NULL;
    CHECK_INT(ag_kube_update(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimservices/s/status", out, &after, &st, &err), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(after, "status"), "status")), "Running");
    CHECK(json_object_get(json_object_get(after, "spec"), "replicas") == NULL); /* /status changes only status */
    json_decref(after);
    json_decref(out);
    json_decref(svc);
    CHECK_INT(ag_kube_delete(k, "/api/v1/namespaces/team-a/configmaps/cfg", "Background", &st, &err), 0);
    CHECK_INT(ag_kube_get(k, "/api/v1/namespaces/team-a/configmaps/cfg", &out, &st, &err), AG_ENOTFOUND);
}

static void test_paged_list(ag_kube *k)
{
    ag_error err = {0};
    ag_kube_status st;
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%02d", i);
        json_t *m = json_pack("{s:{s:s, s:{s:s}}, s:{s:s}}", "metadata", "name", name, "labels", "tier",
                              i % 5 == 0 ? "gold" : "std", "spec", "image", "x:1");
        CHECK_INT(ag_kube_create(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", m, NULL, &st, &err), 0);
        json_decref(m);
    }
    json_t *items = NULL;
    char *rv = NULL;
    CHECK_INT(ag_kube_list(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", NULL, 7, &items, &rv, &st, &err), 0);
    CHECK_INT(json_array_size(items), 25);
    CHECK(rv && atoi(rv) > 100);
    json_decref(items);
    free(rv);
    CHECK_INT(ag_kube_list(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", "tier=gold", 2, &items, NULL, &st, &err), 0);
    CHECK_INT(json_array_size(items), 5);
    json_decref(items);
}

typedef struct seen {
    int added, modified, deleted, bookmarks, stop_after;
    volatile int *stop;
} seen;

static int on_event(void *ctx, const char *type, json_t *obj)
{
    seen *s = ctx;
    (void)obj;
    if (!strcmp(type, "ADDED")) s->added++;
    else if (!strcmp(type, "MODIFIED")) s->modified++;
    else if (!strcmp(type, "DELETED")) s->deleted++;
    else if (!strcmp(type, "BOOKMARK")) s->bookmarks++;
    return s->stop_after && s->added + s->modified + s->deleted + s->bookmarks >= s->stop_after;
}

static void test_watch(ag_kube *k)
{
    ag_error err = {0};
    ag_kube_status st;
    json_t *items = NULL;
    char *rv = NULL;
    ag_kube_list(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", NULL, 0, &items, &rv, &st, &err);
    json_decref(items);
    /* everything since the beginning: 25 ADDED, then a bookmark */
    seen s = {0};
    s.stop_after = 26;
    int rc = ag_kube_watch(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", "100", on_event, &s, NULL, &st, &err);
    CHECK(rc != 0 || s.added == 25); /* stopped by the consumer */
    CHECK_INT(s.added, 25);
    CHECK_INT(s.bookmarks, 1);
    /* compaction: watching from an old resourceVersion answers 410 Expired: relist */
    admin(k, "{\"compact\": true}");
    memset(&s, 0, sizeof s);
    CHECK(ag_kube_watch(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", "100", on_event, &s, NULL, &st, &err) != 0);
    CHECK_INT(st.code, 410);
    CHECK_STR(st.reason, "Expired");
    /* a stream the server drops ends cleanly: the caller re-watches from its last RV */
    if (fork() == 0) {
        usleep(500 * 1000);
        ag_kube *k2 = client();
        admin(k2, "{\"drop_watches\": true}");
        ag_kube_free(k2);
        _exit(0);
    }
    memset(&s, 0, sizeof s);
    rc = ag_kube_watch(k, "/apis/aim.eai.amd.com/v1alpha1/namespaces/team-a/aimmodels", rv, on_event, &s, NULL, &st, &err);
    CHECK_INT(rc, 0);
    CHECK_INT(st.code, 200);
    wait(NULL);
    free(rv);
    /* a cut mid-event and garbage are broken streams, not crashes */
    ag_watch_parser p;
    seen s2 = {0};
    ag_watch_parser_init(&p, on_event, &s2);
    const char *ev = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"5\"}}}\n";
    for (size_t i = 0; i < strlen(ev); i++)
        CHECK_INT(ag_watch_parser_feed(&p, ev + i, 1), 0); /* one byte at a time */
    CHECK_INT(s2.added, 1);
    CHECK_INT(ag_watch_parser_feed(&p, "{\"type\":\"ADDED\",\"obj", 19), 0); /* cut: waits for more */
    CHECK_INT(s2.added, 1);
    CHECK(ag_watch_parser_feed(&p, "\n", 1) != 0);
    CHECK_CONTAINS(p.error, "malformed");
    ag_watch_parser_clear(&p);
}

static void test_token_rotation_and_sar(ag_kube *k)
{
    ag_error err = {0};
    ag_kube_status st;
    json_t *out = NULL;
    CHECK_INT(ag_kube_get(k, "/api/v1/namespaces/team-a", &out, &st, &err), 0);
    json_decref(out);
    admin(k, "{\"token\": \"token-two\"}");
    CHECK(ag_kube_get(k, "/api/v1/namespaces/team-a", &out, &st, &err) != 0);
    CHECK_INT(st.code, 401);
    CHECK(!strstr(err.msg, "token-one")); /* never in a message */
    sleep(1); /* a new mtime for the rotated file */
    fake_write_file(token_file, "token-two\n");
    CHECK_INT(ag_kube_get(k, "/api/v1/namespaces/team-a", &out, &st, &err), 0);
    json_decref(out);
    admin(k, "{\"sar_rules\": [{\"user\": \"alice\", \"allowed\": true, \"reason\": \"RBAC: allowed by RoleBinding\"}]}");
    int allowed = -1;
    char reason[128];
    json_t *groups = json_pack("[s]", "system:authenticated");
    CHECK_INT(ag_kube_access(k, "alice", groups, "get", "aim.eai.amd.com", "aimclustermodels", "", "llama", &allowed, reason, sizeof reason, &err), 0);
    CHECK_INT(allowed, 1);
    CHECK_STR(reason, "RBAC: allowed by RoleBinding");
    CHECK_INT(ag_kube_access(k, "bob", groups, "get", "aim.eai.amd.com", "aimclustermodels", "", "llama", &allowed, reason, sizeof reason, &err), 0);
    CHECK_INT(allowed, 0);
    json_decref(groups);
    admin(k, "{\"error_500\": 1}");
    CHECK(ag_kube_get(k, "/api/v1/namespaces/team-a", &out, &st, &err) != 0);
    CHECK_INT(st.code, 500);
}

static void test_kubeconfig(void)
{
    char path[400], ca[400], cmd[1200];
    snprintf(path, sizeof path, "%s/kubeconfig", dir);
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", dir);
    snprintf(cmd, sizeof cmd, "printf 'apiVersion: v1\\nkind: Config\\ncurrent-context: dev\\ncontexts:\\n- name: dev\\n"
             "  context: {cluster: c, user: u}\\nclusters:\\n- name: c\\n  cluster:\\n    server: %s\\n"
             "    certificate-authority-data: %%s\\nusers:\\n- name: u\\n  user: {token: token-two}\\n' "
             "\"$(base64 -w0 %s)\" > %s", server, ca, path);
    CHECK_INT(system(cmd), 0);
    ag_kube_config cfg;
    ag_error err = {0};
    CHECK_INT(ag_kube_config_load(path, &cfg, &err), 0);
    CHECK_STR(cfg.server, server);
    CHECK(cfg.ca_pem && strstr(cfg.ca_pem, "BEGIN CERTIFICATE"));
    ag_kube *k = ag_kube_new(&cfg, 5000, &err);
    json_t *out = NULL;
    ag_kube_status st;
    CHECK_INT(ag_kube_get(k, "/api/v1/namespaces/team-a", &out, &st, &err), 0);
    json_decref(out);
    ag_kube_free(k);
    ag_kube_config_clear(&cfg);
    fake_write_file(path, "apiVersion: v1\nkind: Config\ncurrent-context: nope\n");
    CHECK(ag_kube_config_load(path, &cfg, &err) != 0);
    CHECK_CONTAINS(err.msg, "no current-context");
}

int main(void)
{
    if (fake_start(&fake_pid)) {
        fprintf(stderr, "cannot start the test API server\n");
        return 1;
    }
    dir = fake_dir();
    server = fake_server();
    token_file = fake_token_file();
    ag_kube *k = client();
    if (k) {
#define RUN_K(fn) do { int before = agt_failures; fn(k); \
    fprintf(stderr, "%s %s\n", agt_failures == before ? "ok  " : "FAIL", #fn); } while (0)
        RUN_K(test_crud_and_conflicts);
        RUN_K(test_paged_list);
        RUN_K(test_watch);
        RUN_K(test_token_rotation_and_sar);
        ag_kube_free(k);
    }
    RUN(test_kubeconfig);
    fake_stop(fake_pid);
    return agt_finish();
}
