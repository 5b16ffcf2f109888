/* agent/cli/cli_daemon.h - the CLI's client of a running controller's HTTP API, for commands
 * whose effect the controller must make and audit itself (pause, resume, approve, deny). */
#pragma once
#include <jansson.h>

typedef struct hale_cli_daemon {
    char base[300]; /* "http://127.0.0.1:8080" */
    char *token;    /* the bearer token, owned, wiped on release */
    long pid;       /* the controller holding the data_dir lock */
} hale_cli_daemon;

/* Find the controller of --config's data_dir and read the token (token_file, else HALE_TOKEN).
 * Prints why and returns an exit code (1: no controller runs; 2: no token, bad config) on
 * failure; 0 on success, then release *ret with hale_cli_daemon_release. what names the
 * change in the messages ("pause"). */
int hale_cli_daemon_open(const char *config, const char *token_file, const char *what,
                         hale_cli_daemon *ret);
/* The same for commands that only read what the controller holds in memory (forecasts): the
 * token is optional (token NULL: requests carry none), what names the data in messages. */
int hale_cli_daemon_open_reader(const char *config, const char *token_file, const char *what,
                                hale_cli_daemon *ret);
void hale_cli_daemon_release(hale_cli_daemon *d);

/* One request; body (may be NULL) is sent as JSON. On an answer returns 0 with the status in
 * *ret_status and the body in *ret_answer (a new reference, NULL when not JSON); on transport
 * failure prints why and returns HALE_EXIT_FAILURE. */
int hale_cli_daemon_call(hale_cli_daemon *d, const char *method, const char *path,
                         const json_t *body, long *ret_status, json_t **ret_answer);

/* The message of an error answer {"error": {"message"}}; borrowed, never NULL. */
const char *hale_cli_daemon_error(const json_t *answer);
