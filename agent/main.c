/* agent/main.c - the hale executable: process-wide set-up, then the command table. */
#include "internal.h"

#include <signal.h>
#include <sodium.h>
#include <curl/curl.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    int r;

    /* A peer that closes early must cost one write error, not the process. */
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        fprintf(stderr, "hale: cannot initialise libsodium\n");
        return HALE_EXIT_FAILURE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "hale: cannot initialise libcurl\n");
        return HALE_EXIT_FAILURE;
    }
    r = hale_cli_main(argc, argv);
    curl_global_cleanup();
    return r;
}
