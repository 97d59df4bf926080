/* The serving certificate: loaded from files, checked, and swapped in place when the
 * files change (cert-manager rewrites the mounted Secret; kubelet swaps a ..data
 * symlink). A new pair that does not parse, does not match, or has expired is refused
 * and the current one keeps serving.
 *
 * GnuTLS's certificate callback carries no user pointer, so the store serving the
 * handshakes is registered once per process with ag_tls_install() (the one
 * process-wide pointer in aimguard; written before the listeners start).
 * Pairs are never freed while the process serves: a handshake may still hold the
 * previous one; ag_tls_free() releases them all at shutdown.
 * Thread-safety: ag_tls_reload() from one thread (the control loop); the callback
 * from any TLS thread. */
#ifndef AIMGUARD_TLS_H
#define AIMGUARD_TLS_H

#include <stdint.h>
#include "aimguard/error.h"

typedef struct ag_tls ag_tls;

/* The certificate pair at cert_path/key_path, loaded; NULL with err set when it cannot be
 * loaded. Free with ag_tls_free(). */
ag_tls *ag_tls_new(const char *cert_path, const char *key_path, ag_error *err);
void ag_tls_free(ag_tls *t);
/* Reloads when the files changed since the last look. *changed: 1 swapped in,
 * 0 nothing to do, -1 refused (err says why). Returns 0 unless refused. */
int ag_tls_reload(ag_tls *t, int *changed, ag_error *err);
int64_t ag_tls_not_after(const ag_tls *t);
/* Subject/serial summary of the serving certificate for logs (never key material). */
const char *ag_tls_describe(const ag_tls *t);

void ag_tls_install(ag_tls *t);
/* The gnutls_certificate_retrieve_function2 to hand to libmicrohttpd. */
void *ag_tls_callback(void);

#endif
