#include "fakeapi_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/ag-kube-XXXXXX";
static char server[64];
static char token_file[300];

char *fake_dir(void) { return dir; }
char *fake_server(void) { return server; }
char *fake_token_file(void) { return token_file; }

void fake_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

int fake_start(pid_t *pid)
{
    if (!mkdtemp(dir))
        return -1;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s/certs/gen-dev-certs.sh %s/certs >/dev/null", getenv("AG_SRC"), dir);
    if (system(cmd) != 0)
        return -1;
    int fds[2];
    if (pipe(fds))
        return -1;
    *pid = fork();
    if (*pid == 0) {
        /* the server dies with the test, and never holds the test's output open: a
         * crashed test must not leave ctest waiting on an orphan */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        close(fds[0]);
        char script[600], cert[400], key[400];
        snprintf(script, sizeof script, "%s/test/kubeapi/fakeapi.py", getenv("AG_SRC"));
        snprintf(cert, sizeof cert, "%s/certs/tls.crt", dir);
        snprintf(key, sizeof key, "%s/certs/tls.key", dir);
        execl("/usr/bin/python3", "python3", script, "--cert", cert, "--key", key, "--token", "token-one", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[128] = "";
    if (!f || !fgets(line, sizeof line, f) || strncmp(line, "PORT ", 5))
        return -1;
    snprintf(server, sizeof server, "https://localhost:%d", atoi(line + 5));
    snprintf(token_file, sizeof token_file, "%s/token", dir);
    fake_write_file(token_file, "token-one\n");
    return 0;
}

void fake_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

ag_kube *fake_client(long timeout_ms, ag_error *err)
{
    ag_kube_config cfg = {0};
    char ca[400];
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", dir);
    cfg.server = server;
    cfg.token_file = token_file;
    cfg.ca_file = ca;
    return ag_kube_new(&cfg, timeout_ms, err);
}

int fake_admin(ag_kube *k, const char *json)
{
    json_t *cmd = json_loads(json, 0, NULL);
    ag_error err = {0};
    int rc = ag_kube_call(k, "POST", "/_admin", NULL, cmd, NULL, NULL, &err);
    json_decref(cmd);
    return rc;
}

json_t *fake_admin_state(ag_kube *k)
{
    json_t *out = NULL;
    ag_error err = {0};
    if (ag_kube_get(k, "/_admin", &out, NULL, &err))
        return NULL;
    return out;
}
