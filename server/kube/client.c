/* Kubernetes API client on libcurl (see include/aimguard/kube.h). */
#include "aimguard/kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "aimguard/yaml.h"

struct ag_kube {
    CURL *curl;
    ag_kube_config cfg;
    long timeout_ms;
    struct stat token_st; /* of token_file when last read */
    unsigned seed;        /* jitter of watch timeouts */
};

/* ---------------- configuration ---------------- */

int ag_kube_config_copy(ag_kube_config *dst, const ag_kube_config *src)
{
    memset(dst, 0, sizeof *dst);
    int bad = 0;
#define DUP(f) bad |= src->f && !(dst->f = strdup(src->f))
    DUP(server); DUP(token); DUP(token_file); DUP(ca_file); DUP(ca_pem);
    DUP(client_cert_pem); DUP(client_key_pem);
#undef DUP
    dst->watch_timeout_s = src->watch_timeout_s;
    if (bad)
        ag_kube_config_clear(dst);
    return bad ? AG_ENOMEM : 0;
}

void ag_kube_config_clear(ag_kube_config *c)
{
    if (!c)
        return;
    free(c->server);
    if (c->token)
        memset(c->token, 0, strlen(c->token)); /* do not leave the token in freed memory */
    free(c->token);
    free(c->token_file);
    free(c->ca_file);
    free(c->ca_pem);
    free(c->client_cert_pem);
    if (c->client_key_pem)
        memset(c->client_key_pem, 0, strlen(c->client_key_pem));
    free(c->client_key_pem);
    memset(c, 0, sizeof *c);
}

static char *b64decode(const char *s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' || s[i] == '\n' || s[i] == '\r' || s[i] == ' ')
            continue;
        const char *p = strchr(tbl, s[i]);
        if (!p || !s[i]) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static const char *ystr(const ag_ynode *m, const char *k)
{
    const ag_ynode *v = ag_ynode_get(m, k);
    return v && v->type == AG_YNODE_SCALAR ? v->value : NULL;
}

/* The entry named `name` of a kubeconfig list (clusters, users, contexts). */
static const ag_ynode *named(const ag_ynode *root, const char *list, const char *name, const char *inner)
{
    const ag_ynode *l = ag_ynode_get(root, list);
    for (size_t i = 0; l && l->type == AG_YNODE_SEQ && i < l->count; i++) {
        const char *n = ystr(l->items[i], "name");
        if (n && name && !strcmp(n, name))
            return ag_ynode_get(l->items[i], inner);
    }
    return NULL;
}

/* A PEM from "<key>-data" (base64) or "<key>" (a file path). */
static int pem_field(const ag_ynode *m, const char *key, char **out, ag_error *err)
{
    char k[64];
    snprintf(k, sizeof k, "%s-data", key);
    const char *data = ystr(m, k), *path = ystr(m, key);
    if (data) {
        if (!(*out = b64decode(data)))
            return ag_error_set(err, AG_EINVAL, "kubeconfig: %s is not base64", k);
    } else if (path) {
        if (!(*out = read_file(path)))
            return ag_error_set(err, AG_EIO, "kubeconfig: cannot read %s %s", key, path);
    }
    return 0;
}

int ag_kube_config_load(const char *path, ag_kube_config *out, ag_error *err)
{
    memset(out, 0, sizeof *out);
    ag_ydocs *docs = NULL;
    int rc = ag_yaml_parse_file(path, &docs, err);
    if (rc)
        return rc;
    const ag_ynode *root = docs->count ? docs->docs[0] : NULL;
    const char *ctx = ystr(root, "current-context");
    const ag_ynode *context = named(root, "contexts", ctx, "context");
    if (!context) {
        ag_ydocs_free(docs);
        return ag_error_set(err, AG_EINVAL, "%s: no current-context (or it names no context)", path);
    }
    const ag_ynode *cluster = named(root, "clusters", ystr(context, "cluster"), "cluster");
    const ag_ynode *user = named(root, "users", ystr(context, "user"), "user");
    const char *server = ystr(cluster, "server");
    if (!server || strncmp(server, "https://", 8)) {
        ag_ydocs_free(docs);
        return ag_error_set(err, AG_EINVAL, "%s: the cluster needs an https:// server", path);
    }
    out->server = strdup(server);
    const char *tok = ystr(user, "token"), *tokfile = ystr(user, "tokenFile");
    if (tok)
        out->token = strdup(tok);
    if (tokfile)
        out->token_file = strdup(tokfile);
    rc = pem_field(cluster, "certificate-authority", &out->ca_pem, err);
    if (!rc)
        rc = pem_field(user, "client-certificate", &out->client_cert_pem, err);
    if (!rc)
        rc = pem_field(user, "client-key", &out->client_key_pem, err);
    ag_ydocs_free(docs);
    if (!rc && !out->token && !out->token_file && !out->client_cert_pem)
        rc = ag_error_set(err, AG_EINVAL, "%s: the user has no token, tokenFile or client certificate", path);
    if (rc)
        ag_kube_config_clear(out);
    return rc;
}

int ag_kube_config_in_cluster(const char *dir, ag_kube_config *out, ag_error *err)
{
    memset(out, 0, sizeof *out);
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host)
        return ag_error_set(err, AG_ENOTFOUND, "not in a pod (KUBERNETES_SERVICE_HOST is not set)");
    const char *d = dir ? dir : "/var/run/secrets/kubernetes.io/serviceaccount";
    char server[512], tok[512], ca[512];
    snprintf(server, sizeof server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
             port && *port ? port : "443");
    snprintf(tok, sizeof tok, "%s/token", d);
    snprintf(ca, sizeof ca, "%s/ca.crt", d);
    out->server = strdup(server);
    out->token_file = strdup(tok);
    out->ca_file = strdup(ca);
    return 0;
}

/* ---------------- transport ---------------- */

ag_kube *ag_kube_new(const ag_kube_config *cfg, long timeout_ms, ag_error *err)
{
    ag_kube *k = calloc(1, sizeof *k);
    if (!k || !(k->curl = curl_easy_init())) {
        free(k);
        ag_error_set(err, AG_ENOMEM, "cannot create a libcurl handle");
        return NULL;
    }
#define DUP(f) k->cfg.f = cfg->f ? strdup(cfg->f) : NULL
    DUP(server);
    DUP(token);
    DUP(token_file);
    DUP(ca_file);
    DUP(ca_pem);
    DUP(client_cert_pem);
    DUP(client_key_pem);
#undef DUP
    k->cfg.watch_timeout_s = cfg->watch_timeout_s;
    k->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)k;
    k->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    return k;
}

void ag_kube_free(ag_kube *k)
{
    if (!k)
        return;
    curl_easy_cleanup(k->curl);
    ag_kube_config_clear(&k->cfg);
    free(k);
}

/* The service account token is rotated by kubelet: read it again when the file changed. */
static void refresh_token(ag_kube *k)
{
    if (!k->cfg.token_file)
        return;
    struct stat st;
    if (stat(k->cfg.token_file, &st) != 0)
        return;
    if (k->cfg.token && st.st_ino == k->token_st.st_ino && st.st_mtim.tv_sec == k->token_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == k->token_st.st_mtim.tv_nsec && st.st_size == k->token_st.st_size)
        return;
    char *t = read_file(k->cfg.token_file);
    if (!t)
        return;
    size_t n = strlen(t);
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        t[--n] = '\0';
    if (k->cfg.token) {
        memset(k->cfg.token, 0, strlen(k->cfg.token));
        free(k->cfg.token);
    }
    k->cfg.token = t;
    k->token_st = st;
}

typedef struct body {
    char *p;
    size_t len, cap;
    ag_watch_parser *watch; /* when streaming */
    CURL *curl;
    int stream_error;
} body;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body *b = ud;
    size_t n = size * nmemb;
    long code = 0;
    if (b->watch)
        curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &code);
    /* a 200 watch answer is a stream of events; anything else is a Status body */
    if (b->watch && code == 200) {
        if (ag_watch_parser_feed(b->watch, ptr, n)) {
            b->stream_error = 1;
            return 0; /* abort the transfer */
        }
        return n;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 16384;
        while (nc < b->len + n + 1)
            nc *= 2;
        if (nc > (64u << 20))
            return 0;
        char *np = realloc(b->p, nc);
        if (!np)
            return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, ptr, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static void fill_status(ag_kube_status *st, long code, const char *text)
{
    memset(st, 0, sizeof *st);
    st->code = code;
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    snprintf(st->reason, sizeof st->reason, "%s", json_string_value(json_object_get(j, "reason")) ? json_string_value(json_object_get(j, "reason")) : "");
    snprintf(st->message, sizeof st->message, "%s", json_string_value(json_object_get(j, "message")) ? json_string_value(json_object_get(j, "message")) : "");
    json_decref(j);
}

/* Sets up the handle for one call; returns the header list to free. */
static struct curl_slist *prepare(ag_kube *k, const char *method, const char *url, const char *ctype,
                                  const char *payload, body *b, int streaming)
{
    CURL *c = k->curl;
    curl_easy_reset(c);
    refresh_token(k);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms);
    if (!streaming)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    if (k->cfg.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, k->cfg.ca_file);
    if (k->cfg.ca_pem) {
        struct curl_blob blob = {k->cfg.ca_pem, strlen(k->cfg.ca_pem), CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (k->cfg.client_cert_pem && k->cfg.client_key_pem) {
        struct curl_blob cert = {k->cfg.client_cert_pem, strlen(k->cfg.client_cert_pem), CURL_BLOB_COPY};
        struct curl_blob key = {k->cfg.client_key_pem, strlen(k->cfg.client_key_pem), CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    }
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Accept: application/json");
    if (k->cfg.token) {
        size_t n = strlen(k->cfg.token) + 32;
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", k->cfg.token);
            h = curl_slist_append(h, auth);
            memset(auth, 0, n);
            free(auth);
        }
    }
    if (payload) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    return h;
}

int ag_kube_call(ag_kube *k, const char *method, const char *path, const char *content_type,
                 const json_t *obj, json_t **out, ag_kube_status *st, ag_error *err)
{
    ag_kube_status local;
    if (!st)
        st = &local;
    if (out)
        *out = NULL;
    memset(st, 0, sizeof *st);
    char url[2048];
    if (ag_strfmt(url, sizeof url, "%s%s", k->cfg.server, path))
        return ag_error_set(err, AG_EINVAL, "request path too long");
    char *payload = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    body b = {0};
    struct curl_slist *h = prepare(k, method, url, content_type, payload, &b, 0);
    CURLcode cc = curl_easy_perform(k->curl);
    curl_slist_free_all(h);
    free(payload);
    long code = 0;
    curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code);
    int rc = 0;
    if (cc != CURLE_OK) {
        st->code = 0;
        rc = ag_error_set(err, AG_EIO, "%s %s: %s", method, path, curl_easy_strerror(cc));
    } else if (code < 200 || code > 299) {
        fill_status(st, code, b.p);
        rc = ag_error_set(err, code == 404 ? AG_ENOTFOUND : AG_ERR, "%s %s: %ld %s: %s", method, path, code,
                          st->reason, st->message);
    } else {
        st->code = code;
        if (out && b.p && b.len) {
            json_error_t je;
            *out = json_loadb(b.p, b.len, 0, &je);
            if (!*out)
                rc = ag_error_set(err, AG_EIO, "%s %s: the API answered with malformed JSON", method, path);
        }
    }
    free(b.p);
    return rc;
}

int ag_kube_get(ag_kube *k, const char *path, json_t **out, ag_kube_status *st, ag_error *err)
{
    return ag_kube_call(k, "GET", path, NULL, NULL, out, st, err);
}

static int url_escape_into(ag_kube *k, char *dst, size_t cap, const char *s)
{
    char *e = curl_easy_escape(k->curl, s, 0);
    if (!e)
        return -1;
    int rc = ag_strfmt(dst, cap, "%s", e);
    curl_free(e);
    return rc;
}

int ag_kube_list(ag_kube *k, const char *path, const char *label_selector, long page_size,
                 json_t **items, char **resource_version, ag_kube_status *st, ag_error *err)
{
    *items = json_array();
    if (resource_version)
        *resource_version = NULL;
    char cont[1024] = "";
    for (int pages = 0; pages < 100000; pages++) {
        char sel[600] = "", ce[1100] = "", lim[32] = "", full[2048];
        if (label_selector && url_escape_into(k, sel, sizeof sel, label_selector))
            return ag_error_set(err, AG_EINVAL, "label selector too long");
        if (*cont && url_escape_into(k, ce, sizeof ce, cont))
            return ag_error_set(err, AG_EINVAL, "continue token too long");
        if (page_size > 0)
            snprintf(lim, sizeof lim, "%ld", page_size);
        /* only the parameters that have a value */
        char sep = strchr(path, '?') ? '&' : '?';
        int bad = ag_strfmt(full, sizeof full, "%s", path);
        if (*lim && !bad)
            bad = ag_strfmt(full + strlen(full), sizeof full - strlen(full), "%climit=%s", sep, lim), sep = '&';
        if (*sel && !bad)
            bad = ag_strfmt(full + strlen(full), sizeof full - strlen(full), "%clabelSelector=%s", sep, sel), sep = '&';
        if (*ce && !bad)
            bad = ag_strfmt(full + strlen(full), sizeof full - strlen(full), "%ccontinue=%s", sep, ce);
        if (bad)
            return ag_error_set(err, AG_EINVAL, "list path too long");
        json_t *page = NULL;
        int rc = ag_kube_get(k, full, &page, st, err);
        if (rc) {
            json_decref(*items);
            *items = NULL;
            return rc;
        }
        json_array_extend(*items, json_object_get(page, "items"));
        json_t *meta = json_object_get(page, "metadata");
        if (resource_version && !*resource_version && json_string_value(json_object_get(meta, "resourceVersion")))
            *resource_version = strdup(json_string_value(json_object_get(meta, "resourceVersion")));
        const char *next = json_string_value(json_object_get(meta, "continue"));
        snprintf(cont, sizeof cont, "%s", next ? next : "");
        json_decref(page);
        if (!*cont)
            return 0;
    }
    return ag_error_set(err, AG_ERR, "list %s: too many pages", path);
}

int ag_kube_create(ag_kube *k, const char *path, const json_t *obj, json_t **out, ag_kube_status *st,
                   ag_error *err)
{
    return ag_kube_call(k, "POST", path, NULL, obj, out, st, err);
}

int ag_kube_update(ag_kube *k, const char *path, const json_t *obj, json_t **out, ag_kube_status *st,
                   ag_error *err)
{
    return ag_kube_call(k, "PUT", path, NULL, obj, out, st, err);
}

int ag_kube_merge_patch(ag_kube *k, const char *path, const json_t *patch, json_t **out,
                        ag_kube_status *st, ag_error *err)
{
    return ag_kube_call(k, "PATCH", path, "application/merge-patch+json", patch, out, st, err);
}

int ag_kube_json_patch(ag_kube *k, const char *path, const json_t *ops, json_t **out,
                       ag_kube_status *st, ag_error *err)
{
    return ag_kube_call(k, "PATCH", path, "application/json-patch+json", ops, out, st, err);
}

int ag_kube_delete(ag_kube *k, const char *path, const char *propagation, ag_kube_status *st,
                   ag_error *err)
{
    json_t *opts = propagation ? json_pack("{s:s, s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions",
                                           "propagationPolicy", propagation) : NULL;
    int rc = ag_kube_call(k, "DELETE", path, NULL, opts, NULL, st, err);
    json_decref(opts);
    return rc;
}

int ag_kube_access(ag_kube *k, const char *user, const json_t *groups, const char *verb,
                   const char *group, const char *resource, const char *ns, const char *name,
                   int *allowed, char *reason, size_t reason_cap, ag_error *err)
{
    *allowed = 0;
    json_t *sar = json_pack("{s:s, s:s, s:{s:s, s:O?, s:{s:s, s:s, s:s, s:s, s:s}}}", "apiVersion",
                            "authorization.k8s.io/v1", "kind", "SubjectAccessReview", "spec", "user", user,
                            "groups", groups, "resourceAttributes", "verb", verb, "group", group ? group : "",
                            "resource", resource, "namespace", ns ? ns : "", "name", name ? name : "");
    if (!sar)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    json_t *out = NULL;
    ag_kube_status st;
    int rc = ag_kube_create(k, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, &out, &st, err);
    json_decref(sar);
    if (rc)
        return rc;
    json_t *status = json_object_get(out, "status");
    *allowed = json_is_true(json_object_get(status, "allowed"));
    if (reason && reason_cap)
        snprintf(reason, reason_cap, "%s", json_string_value(json_object_get(status, "reason"))
                                                 ? json_string_value(json_object_get(status, "reason")) : "");
    json_decref(out);
    return 0;
}

typedef struct watch_ctx {
    atomic_int *stop;
    ag_watch_event_fn fn;
    void *ctx;
    long error_code;      /* from an ERROR event (410 Expired: relist) */
    char reason[64];
} watch_ctx;

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    watch_ctx *w = ud;
    return w->stop && *w->stop ? 1 : 0;
}

/* ERROR events end the watch with their Status; the rest go to the consumer. */
static int on_event(void *ud, const char *type, json_t *obj)
{
    watch_ctx *w = ud;
    if (!strcmp(type, "ERROR")) {
        w->error_code = (long)json_integer_value(json_object_get(obj, "code"));
        const char *r = json_string_value(json_object_get(obj, "reason"));
        snprintf(w->reason, sizeof w->reason, "%s", r ? r : "");
        return 1;
    }
    return w->fn ? w->fn(w->ctx, type, obj) : 0;
}

int ag_kube_watch(ag_kube *k, const char *path, const char *resource_version, ag_watch_event_fn fn,
                  void *ctx, atomic_int *stop, ag_kube_status *st, ag_error *err)
{
    ag_kube_status local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    char url[2048];
    long base = k->cfg.watch_timeout_s > 0 ? k->cfg.watch_timeout_s : 300;
    long timeout_s = base + (long)((double)base * rand_r(&k->seed) / ((double)RAND_MAX + 1));
    if (ag_strfmt(url, sizeof url, "%s%s%swatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld%s%s",
                  k->cfg.server, path, strchr(path, '?') ? "&" : "?", timeout_s,
                  resource_version && *resource_version ? "&resourceVersion=" : "",
                  resource_version ? resource_version : ""))
        return ag_error_set(err, AG_EINVAL, "watch path too long");
    watch_ctx w = {stop, fn, ctx, 0, ""};
    ag_watch_parser parser;
    ag_watch_parser_init(&parser, on_event, &w);
    body b = {0};
    b.watch = &parser;
    b.curl = k->curl;
    struct curl_slist *h = prepare(k, "GET", url, NULL, NULL, &b, 1);
    curl_easy_setopt(k->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(k->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(k->curl, CURLOPT_XFERINFODATA, &w);
    /* silence is healthy until the server's promised end; a stream still silent a
     * minute after it is broken */
    curl_easy_setopt(k->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(k->curl, CURLOPT_LOW_SPEED_TIME, timeout_s + 60);
    CURLcode cc = curl_easy_perform(k->curl);
    long code = 0;
    curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    int rc = 0;
    if (code && code != 200) {
        fill_status(st, code, b.p);
        rc = ag_error_set(err, AG_ERR, "watch %s: %ld %s", path, code, st->reason);
    } else if (w.error_code) {
        st->code = w.error_code;
        snprintf(st->reason, sizeof st->reason, "%s", w.reason);
        rc = ag_error_set(err, AG_ERR, "watch %s: ERROR event %ld %s", path, w.error_code, w.reason);
    } else if (b.stream_error) {
        st->code = code;
        rc = ag_error_set(err, AG_EIO, "watch %s: %s", path, parser.error);
    } else if (cc != CURLE_OK && !(stop && *stop)) {
        st->code = code;
        rc = ag_error_set(err, AG_EIO, "watch %s: %s", path, curl_easy_strerror(cc));
    } else {
        st->code = code;
    }
    ag_watch_parser_clear(&parser);
    free(b.p);
    return rc;
}
