#include "cli/publish.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/json_msg.h"

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    fwrite(p, size, n, (FILE *)ud);
    return size * n;
}

static int post_admin(const ragws_config_t *cfg, const char *path, const char *text);

int cli_publish(const ragws_config_t *cfg, const char *channel, const char *json)
{
    if (!channel_name_valid(channel, strlen(channel))) {
        fprintf(stderr, "ragws publish: bad channel \"%s\" (1-64 of A-Z a-z 0-9 _ . : -)\n",
                channel);
        return 2;
    }
    json_error_t je;
    json_t *msg = json_loads(json, 0, &je);
    if (!msg || !json_is_object(msg)) {
        fprintf(stderr, "ragws publish: message must be a JSON object (%s)\n",
                msg ? "got another JSON value" : je.text);
        json_decref(msg);
        return 2;
    }
    json_t *body = json_pack("{s:s, s:o}", "channel", channel, "message", msg);
    char *text = json_msg_dump(body);
    json_decref(body);
    if (!text) {
        fprintf(stderr, "ragws publish: the message could not be encoded (not UTF-8?)\n");
        return 2;
    }
    int ret = post_admin(cfg, "/api/broadcast", text);
    free(text);
    return ret;
}

/* POST a JSON body to an admin path of the running server. */
static int post_admin(const ragws_config_t *cfg, const char *path, const char *text)
{
    /* A wildcard listen address is reached through loopback. */
    const char *host = cfg->listen_host;
    char url[512];
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == 0) host = "127.0.0.1";
    if (strchr(host, ':')) {
        if (strcmp(host, "::") == 0) host = "::1";
        snprintf(url, sizeof url, "http://[%s]:%u%s", host, cfg->listen_port, path);
    } else {
        snprintf(url, sizeof url, "http://%s:%u%s", host, cfg->listen_port, path);
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[600];
    if (cfg->admin_token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->admin_token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, stdout);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int ret = 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "ragws publish: %s: %s\n", url, curl_easy_strerror(rc));
        ret = 1;
    } else if (status < 200 || status >= 300) {
        fprintf(stderr, "\nragws publish: server answered HTTP %ld\n", status);
        ret = 1;
    } else {
        fputc('\n', stdout);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return ret;
}

static int id_ok(const char *s) { return name_valid(s, strlen(s), 48, "_-"); }

int cli_publish_project(const ragws_config_t *cfg, int argc, char *const *argv)
{
    /* argv[0] is the subcommand: project | document-status | project-update */
    const char *what = argv[0];
    char path[256];
    json_t *body = NULL;
    json_error_t je;
    if (strcmp(what, "project") == 0 && argc == 4 && id_ok(argv[1])) {
        json_t *data = json_loads(argv[3], JSON_DECODE_ANY, &je);
        if (!data) {
            fprintf(stderr, "ragws publish project: DATA is not JSON (%s)\n", je.text);
            return 2;
        }
        snprintf(path, sizeof path, "/api/projects/%s/broadcast", argv[1]);
        body = json_pack("{s:s, s:o}", "event", argv[2], "data", data);
    } else if (strcmp(what, "document-status") == 0 && argc == 5 && id_ok(argv[1]) &&
               id_ok(argv[2])) {
        char *end;
        double progress = strtod(argv[4], &end);
        if (*end) {
            fprintf(stderr, "ragws publish document-status: PROGRESS must be a number\n");
            return 2;
        }
        snprintf(path, sizeof path, "/api/projects/%s/documents/%s/status", argv[1], argv[2]);
        body = json_pack("{s:s, s:f}", "status", argv[3], "progress", progress);
    } else if (strcmp(what, "project-update") == 0 && argc == 4 && id_ok(argv[1])) {
        json_t *data = json_loads(argv[3], JSON_DECODE_ANY, &je);
        if (!data) {
            fprintf(stderr, "ragws publish project-update: DATA is not JSON (%s)\n", je.text);
            return 2;
        }
        snprintf(path, sizeof path, "/api/projects/%s/updates", argv[1]);
        body = json_pack("{s:s, s:o}", "type", argv[2], "data", data);
    } else {
        fprintf(stderr,
                "usage: ragws publish project PROJECT_ID EVENT DATA_JSON\n"
                "       ragws publish document-status PROJECT_ID DOCUMENT_ID STATUS PROGRESS\n"
                "       ragws publish project-update PROJECT_ID TYPE DATA_JSON\n");
        return 2;
    }
    char *text = json_msg_dump(body);
    json_decref(body);
    if (!text) {
        fprintf(stderr, "ragws publish: the message could not be encoded (not UTF-8?)\n");
        return 2;
    }
    int ret = post_admin(cfg, path, text);
    free(text);
    return ret;
}
