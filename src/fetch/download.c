#include "fetch/download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "fetch/sha256.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

clip_status fetch_make_dirs(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return clip_fail(CLIP_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
            *p = saved;
            if (!saved) break;
        }
    }
    return CLIP_OK;
}

typedef struct transfer {
    FILE *fp;
    const char *name;
    long status;         /* of the latest response (redirects included) */
    int resuming, restart_pending, progress;
    curl_off_t offset;   /* bytes already in the .part file */
    char linked_sha[65]; /* Hugging Face's X-Linked-Etag of a large file */
    struct timespec last_print;
    int write_failed;
} transfer;

static size_t on_header(char *buf, size_t size, size_t n, void *user) {
    transfer *t = user;
    size_t len = size * n;
    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', len);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        /* A server that ignores Range answers 200 with the whole file. */
        t->restart_pending = t->resuming && t->status == 200;
    } else if (len > 15 && strncasecmp(buf, "x-linked-etag:", 14) == 0) {
        const char *p = buf + 14;
        while (p < buf + len && (*p == ' ' || *p == '"')) p++;
        size_t hex = 0;
        while (p + hex < buf + len && hex < 64 && strchr("0123456789abcdef", p[hex]) && p[hex]) hex++;
        if (hex == 64) {
            memcpy(t->linked_sha, p, 64);
            t->linked_sha[64] = '\0';
        }
    }
    return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *user) {
    transfer *t = user;
    if (t->status >= 400) return size * n; /* an error page, not the file */
    if (t->restart_pending) {
        t->restart_pending = 0;
        t->offset = 0;
        if (ftruncate(fileno(t->fp), 0) != 0) {
            t->write_failed = 1;
            return 0;
        }
    }
    if (fwrite(data, size, n, t->fp) != n) {
        t->write_failed = 1;
        return 0;
    }
    return size * n;
}

static int on_progress(void *user, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
    (void)ut, (void)un;
    transfer *t = user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double since = (double)(ts.tv_sec - t->last_print.tv_sec) + (ts.tv_nsec - t->last_print.tv_nsec) / 1e9;
    if (since < 0.25 && now != total) return 0;
    t->last_print = ts;
    double done = (double)(t->offset + now) / 1e6, all = (double)(t->offset + total) / 1e6;
    if (total > 0)
        fprintf(stderr, "\rclip pull: %s %5.1f%% %.1f/%.1f MB   ", t->name, 100.0 * done / all, done, all);
    else
        fprintf(stderr, "\rclip pull: %s %.1f MB   ", t->name, done);
    return 0;
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static int retryable(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR || rc == CURLE_COULDNT_CONNECT;
}

static clip_status attempt(const char *url, const char *part, transfer *t, int *retry) {
    *retry = 0;
    long have = file_size(part);
    t->fp = fopen(part, have > 0 ? "ab" : "wb");
    if (!t->fp) return clip_fail(CLIP_ERR_IO, "%s: cannot write: %s", part, strerror(errno));
    t->offset = have > 0 ? have : 0;
    t->resuming = have > 0;
    t->status = 0;
    t->write_failed = 0;
    CURL *curl = curl_easy_init();
    if (!curl) {
        fclose(t->fp);
        return clip_fail(CLIP_ERR_NO_MEMORY, "libcurl init failed");
    }
    struct curl_slist *headers = NULL;
    const char *token = getenv("HF_TOKEN");
    if (token && *token && strstr(url, "huggingface.co")) {
        char auth[1024];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "clip.c/" CLIP_VERSION_STRING);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (t->resuming) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)have);
    if (t->progress) {
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
    }
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    int closed = fclose(t->fp) == 0;
    if (t->progress) fputc('\n', stderr);
    if (t->write_failed || !closed) return clip_fail(CLIP_ERR_IO, "%s: write failed: %s", part, strerror(errno));
    /* 416: the range starts at the end, so the .part is already whole. */
    if (status == 416 && t->resuming) return CLIP_OK;
    if (status >= 400) {
        if (status >= 500) *retry = 1;
        if (file_size(part) == 0 || status == 404 || status == 410) unlink(part);
        return clip_fail(CLIP_ERR_IO, "%s: HTTP %ld", url, status);
    }
    if (rc != CURLE_OK) {
        *retry = retryable(rc);
        return clip_fail(CLIP_ERR_IO, "%s: %s", url, curl_easy_strerror(rc));
    }
    return CLIP_OK;
}

static clip_status verify(const char *part, const char *expected, const char *url) {
    char got[65];
    if (!sha256_file_hex(part, got)) return clip_fail(CLIP_ERR_IO, "%s: cannot read back", part);
    if (strcasecmp(got, expected) != 0) {
        unlink(part);
        return clip_fail(CLIP_ERR_FORMAT,
                         "%s: SHA-256 mismatch (expected %s, got %s); the download was removed, nothing was cached",
                         url, expected, got);
    }
    return CLIP_OK;
}

static clip_status commit(const char *part, const char *path) {
    int fd = open(part, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(part, path) != 0) return clip_fail(CLIP_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return CLIP_OK;
}

clip_status fetch_download(const char *url, const char *path, const download_options *opts) {
    pthread_once(&curl_once, init_curl);
    download_options defaults = {0};
    if (!opts) opts = &defaults;
    char dir[4096], part[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        clip_status st = fetch_make_dirs(dir);
        if (st != CLIP_OK) return st;
    }
    snprintf(part, sizeof part, "%s.part", path);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    transfer t = {.name = name, .progress = opts->progress};
    int attempts = opts->max_attempts > 0 ? opts->max_attempts : 5;
    clip_status st = CLIP_OK;
    for (int i = 0; i < attempts; i++) {
        int retry = 0;
        st = attempt(url, part, &t, &retry);
        if (st == CLIP_OK || !retry) break;
        if (i + 1 < attempts) {
            struct timespec pause = {0, 200000000L * (i + 1)};
            nanosleep(&pause, NULL);
        }
    }
    if (st != CLIP_OK) {
        if (opts->optional && t.status == 404) return CLIP_ERR_IO;
        return st;
    }
    const char *expected = opts->sha256 ? opts->sha256 : t.linked_sha[0] ? t.linked_sha : NULL;
    if (expected && (st = verify(part, expected, url)) != CLIP_OK) return st;
    return commit(part, path);
}
