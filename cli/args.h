/* Command-line helpers shared by the subcommands (cli/): nothing here
 * prints or exits, the caller says what was wrong. */
#ifndef RAGWS_CLI_ARGS_H
#define RAGWS_CLI_ARGS_H

#include <stddef.h>

/* The value of `flag VALUE` (e.g. --status failed) when it is one of
 * choices[0..n): *out points at that choice (static), NULL when the flag
 * is absent. 0, or -1 when the flag has no value or another one. */
int cli_choice_arg(int argc, char **argv, const char *flag, const char *const *choices, size_t n,
                   const char **out);

#endif
