/* Starting and driving test/kubeapi/fakeapi.py from C tests. */
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
int fake_admin(ag_kube *k, const char *json);
void fake_write_file(const char *path, const char *text);

#endif
