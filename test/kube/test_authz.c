/* ag_authz against the test API server: allowed and denied answers, the cache (counted
 * by the server: GET /_admin sar_count), its TTL, what an unreachable or misbehaving
 * API server gives (errors, stalls, garbage), and many threads at once. */
#include "agtest.h"
#include "fakeapi_helper.h"
#include "aimguard/authz.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pid_t fake_pid;
static ag_kube *admin_k;
static ag_kube_config cfg;
static char ca[400];

static long sar_count(void)
{
    json_t *out = NULL;
    ag_error err = {0};
    if (ag_kube_get(admin_k, "/_admin", &out, NULL, &err))
        return -1;
    long n = (long)json_integer_value(json_object_get(out, "sar_count"));
    json_decref(out);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ask(ag_authz *a, const char *user, json_t *groups, const char *name, int *allowed, char *reason,
               ag_error *err)
{
    return ag_authz_check(a, user, groups, "use", "aim.eai.amd.com", "aimclustermodels", "", name, allowed, reason,
                          256, err);
}

static void test_answers_and_cache(void)
{
    fake_admin(admin_k, "{\"reset_counters\": true, \"sar_rules\": ["
               "{\"user\": \"alice\", \"verb\": \"use\", \"resource\": \"aimclustermodels\", \"name\": \"llama\", "
               "\"allowed\": true, \"reason\": \"RBAC: allowed by ClusterRoleBinding llama-users\"},"
               "{\"user\": \"*\", \"group\": \"ml-admins\", \"allowed\": true, \"reason\": \"admins\"}]}");
    ag_authz_options o = {1000, 400, 0, 64, 2};
    ag_error err = {0};
    ag_authz *a = ag_authz_new(&cfg, &o, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    json_t *groups = json_pack("[s]", "system:authenticated");
    json_t *admins = json_pack("[s, s]", "ml-admins", "system:authenticated");
    int allowed = -1;
    char reason[256];
    CHECK_INT(ask(a, "alice", groups, "llama", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 1);
    CHECK_STR(reason, "RBAC: allowed by ClusterRoleBinding llama-users");
    CHECK_INT(ask(a, "alice", groups, "mistral", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 0);
    CHECK_STR(reason, "no rule");
    CHECK_INT(ask(a, "bob", groups, "llama", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 0);
    CHECK_INT(ask(a, "bob", admins, "llama", &allowed, reason, &err), 0); /* the groups are sent */
    CHECK_INT(allowed, 1);
    CHECK_INT(sar_count(), 4);
    /* the same four questions again, within the TTL: no call, same answers */
    CHECK_INT(ask(a, "alice", groups, "llama", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 1);
    CHECK_STR(reason, "RBAC: allowed by ClusterRoleBinding llama-users");
    CHECK_INT(ask(a, "alice", groups, "mistral", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 0);
    CHECK_INT(ask(a, "bob", groups, "llama", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 0);
    CHECK_INT(ask(a, "bob", admins, "llama", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 1);
    CHECK_INT(sar_count(), 4);
    /* after the TTL: asked again (and a changed rule is seen) */
    fake_admin(admin_k, "{\"sar_rules\": []}");
    usleep(500 * 1000);
    CHECK_INT(ask(a, "alice", groups, "llama", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 0);
    CHECK_INT(sar_count(), 5);
    ag_authz_stats st;
    ag_authz_stats_get(a, &st);
    CHECK_INT(st.calls, 5);
    CHECK_INT(st.hits, 4);
    json_decref(groups);
    json_decref(admins);
    ag_authz_free(a);
}

/* docs/rbac.md: a RoleBinding may grant `use`. The API server sees that grant only when
 * the review names the request's namespace (issue 17, item 6). */
static void test_namespace_is_asked(void)
{
    fake_admin(admin_k, "{\"reset_counters\": true, \"sar_rules\": ["
               "{\"user\": \"alice\", \"verb\": \"use\", \"resource\": \"aimclustermodels\", \"name\": \"llama\", "
               "\"namespace\": \"team-a\", \"allowed\": true, \"reason\": \"RBAC: allowed by RoleBinding\"}]}");
    ag_authz_options o = {1000, 10000, 0, 64, 2};
    ag_error err = {0};
    ag_authz *a = ag_authz_new(&cfg, &o, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    int allowed = -1;
    char reason[256];
    CHECK_INT(ag_authz_check(a, "alice", NULL, "use", "aim.eai.amd.com", "aimclustermodels", "team-a", "llama",
                             &allowed, reason, sizeof reason, &err), 0);
    CHECK_INT(allowed, 1);
    CHECK_STR(reason, "RBAC: allowed by RoleBinding");
    /* another namespace is another question, not a cache hit */
    CHECK_INT(ag_authz_check(a, "alice", NULL, "use", "aim.eai.amd.com", "aimclustermodels", "team-b", "llama",
                             &allowed, reason, sizeof reason, &err), 0);
    CHECK_INT(allowed, 0);
    CHECK_INT(sar_count(), 2);
    ag_authz_free(a);
}

static void test_unreachable(void)
{
    fake_admin(admin_k, "{\"reset_counters\": true, \"sar_rules\": [{\"user\": \"alice\", \"allowed\": true}]}");
    ag_authz_options o = {500, 10000, 300, 64, 2};
    ag_error err = {0};
    ag_authz *a = ag_authz_new(&cfg, &o, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    int allowed = -1;
    char reason[256];
    /* a 500 */
    fake_admin(admin_k, "{\"error_500\": 1}");
    CHECK(ask(a, "alice", NULL, "a", &allowed, reason, &err) < 0);
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(err.msg, "500");
    /* garbage */
    fake_admin(admin_k, "{\"garbage\": 1}");
    CHECK(ask(a, "alice", NULL, "b", &allowed, reason, &err) < 0);
    CHECK_CONTAINS(err.msg, "malformed JSON");
    /* a stall: bounded by the timeout */
    fake_admin(admin_k, "{\"stall_seconds\": 3}");
    double t0 = now_s();
    CHECK(ask(a, "alice", NULL, "c", &allowed, reason, &err) < 0);
    double took = now_s() - t0;
    fprintf(stderr, "  stalled API server: unknown after %.2f s (timeout 0.5 s)\n", took);
    CHECK(took < 1.5);
    CHECK_CONTAINS(err.msg, "subjectaccessreviews");
    /* remembered briefly: asked again at once, the same answer without waiting */
    t0 = now_s();
    CHECK(ask(a, "alice", NULL, "c", &allowed, reason, &err) < 0);
    CHECK(now_s() - t0 < 0.1);
    CHECK_CONTAINS(err.msg, "not asked again yet");
    fake_admin(admin_k, "{\"stall_seconds\": 0}");
    /* after the short unknown TTL the recovered server is asked */
    usleep(400 * 1000);
    CHECK_INT(ask(a, "alice", NULL, "c", &allowed, reason, &err), 0);
    CHECK_INT(allowed, 1);
    CHECK(!strstr(err.msg, "token-one"));
    ag_authz_free(a);
}

typedef struct worker {
    ag_authz *a;
    int id, errors, allowed;
} worker;

static void *hammer(void *p)
{
    worker *w = p;
    json_t *groups = json_pack("[s]", "system:authenticated");
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", (i + w->id) % 10);
        int allowed = 0;
        ag_error err = {0};
        if (ag_authz_check(w->a, w->id % 2 ? "alice" : "bob", groups, "use", "aim.eai.amd.com", "aimclustermodels", "",
                           name, &allowed, NULL, 0, &err))
            w->errors++;
        w->allowed += allowed;
    }
    json_decref(groups);
    return NULL;
}

static void test_threads(void)
{
    fake_admin(admin_k, "{\"reset_counters\": true, \"sar_rules\": [{\"user\": \"alice\", \"allowed\": true}]}");
    ag_authz_options o = {2000, 10000, 0, 16, 2};
    ag_error err = {0};
    ag_authz *a = ag_authz_new(&cfg, &o, &err);
    CHECK(a != NULL);
    if (!a)
        return;
    pthread_t t[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){a, i, 0, 0};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    int errors = 0, allowed = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
        allowed += w[i].allowed;
    }
    CHECK_INT(errors, 0);
    CHECK_INT(allowed, 4 * 40); /* the four alice threads, every answer */
    ag_authz_stats st;
    ag_authz_stats_get(a, &st);
    fprintf(stderr, "  8 threads x 40 checks, 20 distinct questions, 16 cache entries: %llu calls, %llu hits, "
            "%llu evictions\n", st.calls, st.hits, st.evictions);
    CHECK_INT((long long)(st.calls + st.hits), 320);
    CHECK_INT(sar_count(), (long)st.calls);
    ag_authz_free(a);
}

int main(void)
{
    if (fake_start(&fake_pid)) {
        fprintf(stderr, "cannot start the test API server\n");
        return 1;
    }
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", fake_dir());
    cfg.server = fake_server();
    cfg.token_file = fake_token_file();
    cfg.ca_file = ca;
    ag_error err = {0};
    admin_k = fake_client(5000, &err);
    CHECK(admin_k != NULL);
    if (admin_k) {
        RUN(test_answers_and_cache);
        RUN(test_namespace_is_asked);
        RUN(test_unreachable);
        RUN(test_threads);
    }
    ag_kube_free(admin_k);
    fake_stop(fake_pid);
    return agt_finish();
}
