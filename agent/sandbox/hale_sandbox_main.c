/* agent/sandbox/hale_sandbox_main.c - main() of the hale-sandbox executable (CMake builds it
 * apart from hale_core's glob): a small binary linking only what the launcher uses, so the
 * cost and attack surface of each sandboxed run stay small. */
#include "internal.h"

#include "sandbox/sandbox_int.h"

int main(int argc, char **argv)
{
    return hale__sandbox_launcher_main(argc, argv);
}
