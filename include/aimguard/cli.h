/* The offline commands of the aimguard binary that are more than a few lines:
 * `aimguard eval`, `aimguard test`, `aimguard audit` and `aimguard version`. main.c
 * dispatches to them.
 *
 * Each takes the command's own argv (argv[0] is the command name), prints to stdout and
 * stderr, and returns the process exit status (it never calls exit()).
 * Thread-safety: single-threaded callers only (getopt state). */
#ifndef AIMGUARD_CLI_H
#define AIMGUARD_CLI_H

/* exit status: 0 every object allowed, 1 any denied, 2 any error (usage, input, object) */
int ag_cli_eval(int argc, char **argv);
/* exit status: 0 nothing would be denied, 1 an existing object would be denied, 2 any
 * error (usage, policies, input, a cluster that cannot be used) */
int ag_cli_audit(int argc, char **argv);
/* runs the policy tests (aimguard-test.yaml) below the given paths; exit status: 0 all as
 * expected, 1 any mismatch, 2 a broken test or policy file (or a usage error) */
int ag_cli_test(int argc, char **argv);
/* prints the version, commit, build date and the libraries' versions; returns 0 */
int ag_cli_version(void);

#endif
