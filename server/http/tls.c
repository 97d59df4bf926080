#include "aimguard/tls.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_CHAIN 8

typedef struct pair {
    gnutls_pcert_st pcerts[MAX_CHAIN];
    unsigned int npcerts;
    gnutls_privkey_t key;
    int64_t not_after;
    char describe[256];
    struct pair *older; /* retired pairs, kept for handshakes in flight */
} pair;

typedef struct fingerprint {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} fingerprint;

struct ag_tls {
    char *cert_path, *key_path;
    _Atomic(pair *) cur;
    fingerprint fcert, fkey;
};

static _Atomic(ag_tls *) installed;

static void pair_free(pair *p)
{
    while (p) {
        pair *o = p->older;
        for (unsigned i = 0; i < p->npcerts; i++)
            gnutls_pcert_deinit(&p->pcerts[i]);
        gnutls_privkey_deinit(p->key);
        free(p);
        p = o;
    }
}

static int read_all(const char *path, gnutls_datum_t *out, ag_error *err)
{
    int rc = gnutls_load_file(path, out);
    if (rc < 0)
        return ag_error_set(err, AG_EIO, "%s: cannot read (%s)", path,
                            errno ? strerror(errno) : gnutls_strerror(rc));
    return 0;
}

static int pubkey_der(gnutls_pubkey_t k, gnutls_datum_t *out)
{
    return gnutls_pubkey_export2(k, GNUTLS_X509_FMT_DER, out);
}

static int load_pair(const char *cert_path, const char *key_path, pair **out, ag_error *err)
{
    *out = NULL;
    gnutls_datum_t cd = {0}, kd = {0};
    pair *p = calloc(1, sizeof *p);
    if (!p)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    int rc = 0;
    if ((rc = read_all(cert_path, &cd, err)) || (rc = read_all(key_path, &kd, err)))
        goto done;
    p->npcerts = MAX_CHAIN;
    int g = gnutls_pcert_list_import_x509_raw(p->pcerts, &p->npcerts, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (g < 0 || p->npcerts == 0) {
        p->npcerts = 0;
        rc = ag_error_set(err, AG_EINVAL, "%s: not a PEM certificate chain (%s)", cert_path,
                          gnutls_strerror(g));
        goto done;
    }
    if ((g = gnutls_privkey_init(&p->key)) < 0 ||
        (g = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        rc = ag_error_set(err, AG_EINVAL, "%s: not a PEM private key (%s)", key_path,
                          gnutls_strerror(g));
        goto done;
    }
    /* the key must belong to the leaf certificate: compare the public keys */
    gnutls_pubkey_t fromkey = NULL;
    gnutls_datum_t a = {0}, b = {0};
    int match = gnutls_pubkey_init(&fromkey) >= 0 &&
                gnutls_pubkey_import_privkey(fromkey, p->key, 0, 0) >= 0 &&
                pubkey_der(fromkey, &a) >= 0 && pubkey_der(p->pcerts[0].pubkey, &b) >= 0 &&
                a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(fromkey);
    if (!match) {
        rc = ag_error_set(err, AG_EINVAL, "%s does not hold the private key of %s", key_path,
                          cert_path);
        goto done;
    }
    gnutls_x509_crt_t crt = NULL;
    if (gnutls_pcert_export_x509(&p->pcerts[0], &crt) >= 0) {
        p->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
        char dn[200] = "";
        size_t dnlen = sizeof dn;
        if (gnutls_x509_crt_get_dn(crt, dn, &dnlen) < 0)
            dn[0] = '\0';
        unsigned char serial[40];
        size_t slen = sizeof serial;
        char hex[90] = "";
        if (gnutls_x509_crt_get_serial(crt, serial, &slen) >= 0)
            for (size_t i = 0; i < slen && i < 40; i++)
                snprintf(hex + 2 * i, 3, "%02x", serial[i]);
        ag_strfmt(p->describe, sizeof p->describe, "subject=%s serial=%s", dn, hex);
        gnutls_x509_crt_deinit(crt);
    }
    if (p->not_after && p->not_after < (int64_t)time(NULL)) {
        rc = ag_error_set(err, AG_EINVAL, "%s has expired", cert_path);
        goto done;
    }
done:
    gnutls_free(cd.data);
    gnutls_free(kd.data);
    if (rc)
        pair_free(p);
    else
        *out = p;
    return rc;
}

static void fp_of(const char *path, fingerprint *f)
{
    struct stat st;
    memset(f, 0, sizeof *f);
    if (stat(path, &st) == 0) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->size = st.st_size;
        f->mtime = st.st_mtim;
    }
}

static int fp_eq(const fingerprint *a, const fingerprint *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

ag_tls *ag_tls_new(const char *cert_path, const char *key_path, ag_error *err)
{
    ag_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->cert_path = strdup(cert_path)) || !(t->key_path = strdup(key_path))) {
        if (t) free(t->cert_path);
        free(t);
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    fp_of(cert_path, &t->fcert);
    fp_of(key_path, &t->fkey);
    pair *p = NULL;
    if (load_pair(cert_path, key_path, &p, err)) {
        free(t->cert_path);
        free(t->key_path);
        free(t);
        return NULL;
    }
    atomic_init(&t->cur, p);
    return t;
}

void ag_tls_free(ag_tls *t)
{
    if (!t)
        return;
    ag_tls *self = t;
    atomic_compare_exchange_strong(&installed, &self, NULL);
    pair_free(atomic_load(&t->cur));
    free(t->cert_path);
    free(t->key_path);
    free(t);
}

int ag_tls_reload(ag_tls *t, int *changed, ag_error *err)
{
    *changed = 0;
    fingerprint fc, fk;
    fp_of(t->cert_path, &fc);
    fp_of(t->key_path, &fk);
    if (fp_eq(&fc, &t->fcert) && fp_eq(&fk, &t->fkey))
        return 0;
    /* remember what was looked at, so a refused pair is not retried until it changes */
    t->fcert = fc;
    t->fkey = fk;
    pair *p = NULL;
    if (load_pair(t->cert_path, t->key_path, &p, err)) {
        *changed = -1;
        return AG_EINVAL;
    }
    p->older = atomic_load(&t->cur);
    atomic_store(&t->cur, p);
    *changed = 1;
    return 0;
}

int64_t ag_tls_not_after(const ag_tls *t)
{
    pair *p = atomic_load(&((ag_tls *)t)->cur);
    return p ? p->not_after : 0;
}

const char *ag_tls_describe(const ag_tls *t)
{
    pair *p = atomic_load(&((ag_tls *)t)->cur);
    return p ? p->describe : "";
}

void ag_tls_install(ag_tls *t) { atomic_store(&installed, t); }

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    ag_tls *t = atomic_load(&installed);
    pair *p = t ? atomic_load(&t->cur) : NULL;
    if (!p)
        return -1;
    *pcert = p->pcerts;
    *pcert_length = p->npcerts;
    *privkey = p->key;
    return 0;
}

void *ag_tls_callback(void) { return (void *)&retrieve; }
