#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

clip_status atomic_file_open(atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t len = strlen(path);
    af->final_path = malloc(len + 1);
    af->temp_path = malloc(len + 32);
    if (!af->final_path || !af->temp_path) {
        atomic_file_abort(af);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    memcpy(af->final_path, path, len + 1);
    snprintf(af->temp_path, len + 32, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->temp_path);
    if (fd < 0) {
        clip_status st = clip_fail(CLIP_ERR_IO, "%s: cannot create temporary file: %s",
                                   path, strerror(errno));
        free(af->temp_path);
        af->temp_path = NULL;
        atomic_file_abort(af);
        return st;
    }
    /* mkstemp creates 0600; written artefacts should be readable like any file. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        atomic_file_abort(af);
        return clip_fail(CLIP_ERR_IO, "%s: fdopen failed", path);
    }
    return CLIP_OK;
}

static void fsync_parent_directory(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

clip_status atomic_file_commit(atomic_file *af) {
    clip_status st = CLIP_OK;
    if (fflush(af->fp) != 0 || ferror(af->fp) || fsync(fileno(af->fp)) != 0) {
        st = clip_fail(CLIP_ERR_IO, "%s: write failed: %s", af->final_path, strerror(errno));
    }
    if (fclose(af->fp) != 0 && st == CLIP_OK) {
        st = clip_fail(CLIP_ERR_IO, "%s: close failed: %s", af->final_path, strerror(errno));
    }
    af->fp = NULL;
    if (st == CLIP_OK && rename(af->temp_path, af->final_path) != 0) {
        st = clip_fail(CLIP_ERR_IO, "%s: rename failed: %s", af->final_path, strerror(errno));
    }
    if (st == CLIP_OK) {
        fsync_parent_directory(af->final_path);
        free(af->temp_path);
        af->temp_path = NULL;
    }
    atomic_file_abort(af);
    return st;
}

void atomic_file_abort(atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->temp_path) unlink(af->temp_path);
    free(af->temp_path);
    free(af->final_path);
    memset(af, 0, sizeof *af);
}

clip_status atomic_write_buffer(const char *path, const void *data, size_t size) {
    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) return st;
    if (size && fwrite(data, 1, size, af.fp) != size) {
        atomic_file_abort(&af);
        return clip_fail(CLIP_ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}
