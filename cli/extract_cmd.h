/* `ragws extract-html FILE` and `ragws extract-text FILE`: the internal
 * subcommands the extractor (worker/svc/extract.c) runs as children, so
 * parsing outside input happens in a process of its own, bounded by the
 * extractor's timeout and output limit.
 *
 * Both write the file's text as UTF-8 to stdout and exit 0; on failure
 * they write one line to stderr (the task's error, as is: "not UTF-8 text
 * (invalid byte at offset 3); ...") and exit 1; a usage error exits 2.
 * They read no configuration. extract-text streams (memory bounded by a
 * read buffer); extract-html lets libxml2's HTML parser hold the document. */
#ifndef RAGWS_CLI_EXTRACT_CMD_H
#define RAGWS_CLI_EXTRACT_CMD_H

/* 1 when name is one of these subcommands. */
int cli_is_extract_command(const char *name);
/* args[0] is the subcommand, args[1] the file; returns the exit status. */
int cli_extract_command(int n_args, char **args);

#endif
