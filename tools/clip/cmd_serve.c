/* clip serve: the HTTP API and search page (src/server does the work). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "clip_index.h"
#include "commands.h"
#include "server/server.h"

static void usage(FILE *out) {
    fputs("usage: clip serve -m MODEL [--index INDEX] [--host 127.0.0.1] [--port 8080] [--threads N]\n"
          "                  [--http-threads N] [--max-body-mb N] [--timeout S] [--max-queue N]\n"
          "                  [--queue-wait-ms MS] [--vocab PATH] [--log]\n\n"
          "Serves POST /v1/embed, /v1/classify, /v1/search, GET /v1/health, /v1/info, /v1/thumb/ID and a\n"
          "search page at /. --threads sets the inference threads (0 = all cores); --port 0 picks a free\n"
          "port. Prints \"listening on http://HOST:PORT/\" once ready; SIGTERM or SIGINT stops it after the\n"
          "requests in flight finish. Listens on loopback unless --host says otherwise. --max-body-mb\n"
          "defaults to the max_http_body limit (32 MiB; CLIP_LIMIT_MAX_HTTP_BODY, clip --limit).\n",
          out);
}

int cmd_serve(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},        {"index", required_argument, NULL, 'x'},
        {"host", required_argument, NULL, 'H'},         {"port", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 'j'},      {"http-threads", required_argument, NULL, 'T'},
        {"max-body-mb", required_argument, NULL, 'B'},  {"timeout", required_argument, NULL, 't'},
        {"max-queue", required_argument, NULL, 'Q'},    {"queue-wait-ms", required_argument, NULL, 'W'},
        {"vocab", required_argument, NULL, 'v'},        {"log", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *index_path = NULL, *vocab = NULL;
    long port = 8080, threads = 0, http_threads = 4, body_mb = 0, timeout = 30, queue = 32, wait_ms = 15000;
    clip_server_options o = {.host = "127.0.0.1"};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:p:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'x': index_path = optarg; break;
        case 'H': o.host = optarg; break;
        case 'v': vocab = optarg; break;
        case 'l': o.access_log = stderr; break;
        case 'p': if (!cli_parse_int("--port", optarg, 0, 65535, &port)) return 2; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'T': if (!cli_parse_int("--http-threads", optarg, 1, 256, &http_threads)) return 2; break;
        case 'B': if (!cli_parse_int("--max-body-mb", optarg, 1, 1024, &body_mb)) return 2; break;
        case 't': if (!cli_parse_int("--timeout", optarg, 1, 3600, &timeout)) return 2; break;
        case 'Q': if (!cli_parse_int("--max-queue", optarg, 1, 100000, &queue)) return 2; break;
        case 'W': if (!cli_parse_int("--queue-wait-ms", optarg, 1, 600000, &wait_ms)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    /* Before any thread exists, so every thread inherits the blocked mask. */
    sigset_t signals;
    clip_server_block_signals(&signals);
    clip_model *model = NULL;
    clip_index *index = NULL;
    if (!cli_load_model("serve", model_path, (int)threads, vocab, &model)) return 1;
    if (index_path && clip_index_open(index_path, &index) != CLIP_OK) {
        cli_error("serve", NULL);
        clip_model_free(model);
        return 1;
    }
    if (index) clip_index_set_threads(index, (int)threads);
    o.port = (int)port;
    o.http_threads = (int)http_threads;
    o.max_body_bytes = (size_t)body_mb << 20; /* 0: clip_limits.max_http_body */
    o.timeout_s = (int)timeout;
    o.max_queue = (int)queue;
    o.queue_wait_ms = (int)wait_ms;
    o.model = model;
    o.index = index;
    o.index_path = index_path;
    clip_server *server = NULL;
    if (clip_server_start(&o, &server) != CLIP_OK) {
        cli_error("serve", NULL);
        clip_index_free(index);
        clip_model_free(model);
        return 1;
    }
    const char *host = o.host;
    int v6 = strchr(host, ':') != NULL;
    printf("listening on http://%s%s%s:%d/\n", v6 ? "[" : "", host, v6 ? "]" : "", clip_server_port(server));
    fflush(stdout);
    int sig = clip_server_wait_signal(&signals);
    fprintf(stderr, "clip serve: %s received, finishing requests in flight\n", strsignal(sig));
    clip_server_stop(server, 10000);
    clip_index_free(index);
    clip_model_free(model);
    fprintf(stderr, "clip serve: stopped\n");
    return 0;
}
