#include "cli/args.h"

#include <string.h>

int cli_choice_arg(int argc, char **argv, const char *flag, const char *const *choices, size_t n,
                   const char **out)
{
    *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], flag) != 0) continue;
        if (i + 1 >= argc) return -1;
        for (size_t k = 0; k < n; k++)
            if (strcmp(argv[i + 1], choices[k]) == 0) *out = choices[k];
        if (!*out) return -1;
    }
    return 0;
}
