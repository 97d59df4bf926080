/* Starting and driving test/kubeapi/fakeapi.py from C tests (the Python tests' twin is
 * test/lib/fakeapi_client.py). */
#ifndef FAKEAPI_HELPER_H
#define FAKEAPI_HELPER_H

#include <sys/types.h>
#include "aimguard/kube.h"

/* Starts the server with fresh dev certificates and token "token-one" (also written to
 * the token file); 0 on success. */
int fake_start(pid_t *pid);
void fake_stop(pid_t pid);
char *fake_dir(void);
char *fake_server(void);       /* https://localhost:PORT */
char *fake_token_file(void);
/* A client that trusts the server's CA and reads the token file. */
ag_kube *fake_client(long timeout_ms, ag_error *err);
/* POST /_admin with a JSON command (faults, sar_rules, counters); 0 on success. */
int fake_admin(ag_kube *k, const char *json);
/* GET /_admin: {"sar_count": N, "sar_requests": [...]}; a new reference, NULL on error. */
json_t *fake_admin_state(ag_kube *k);
void fake_write_file(const char *path, const char *text);

#endif
