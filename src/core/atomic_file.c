#include "core/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

clip_status atomic_file_open(atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t len = strlen(path);
    af->final_path = malloc(len + 1);
    af->temp_path = malloc(len + 48);
    if (!af->final_path || !af->temp_path) {
        atomic_file_abort(af);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    memcpy(af->final_path, path, len + 1);
    /* The writer's pid in the name and an flock held until the rename let
     * a later commit tell a killed writer's leftover from a live one. */
    snprintf(af->temp_path, len + 48, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    int fd = mkstemp(af->temp_path);
    if (fd < 0) {
        clip_status st = clip_fail(CLIP_ERR_IO, "%s: cannot create temporary file: %s",
                                   path, strerror(errno));
        free(af->temp_path);
        af->temp_path = NULL;
        atomic_file_abort(af);
        return st;
    }
    flock(fd, LOCK_EX | LOCK_NB); /* nobody else knows the name yet: cannot block */
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

/* Whether the temporary file `name` (NAME.tmp.PID.XXXXXX in `dir_fd`) was
 * left by a writer that is gone: its process no longer exists (ESRCH; EPERM
 * means alive, someone else's) and nobody holds its lock, which also
 * covers a pid reused by an unrelated process or one from another pid
 * namespace. On success the lock is held on *fd. */
static int temp_is_stale(int dir_fd, const char *name, long pid, int *fd) {
    *fd = -1;
    if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) return 0;
    *fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) return 0;
    struct stat sb;
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode) || flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    return 1;
}

/* After a successful commit: removes siblings FINAL.tmp.PID.XXXXXX that
 * killed writers (SIGKILL, power loss) left behind, so they do not pile
 * up. Best effort: a failure here never fails the commit. */
static void remove_stale_temps(const char *final_path) {
    char *copy = strdup(final_path);
    if (!copy) return;
    const char *slash = strrchr(final_path, '/');
    const char *base = slash ? slash + 1 : final_path;
    char prefix[512];
    int plen = snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *dir = plen > 0 && (size_t)plen < sizeof prefix ? opendir(dirname(copy)) : NULL;
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (strncmp(e->d_name, prefix, (size_t)plen) != 0) continue;
            char *end;
            errno = 0;
            long pid = strtol(e->d_name + plen, &end, 10);
            /* Exactly PID.XXXXXX: another file's temporaries never match. */
            if (errno || end == e->d_name + plen || *end != '.' || strlen(end) != 7) continue;
            int fd;
            if (temp_is_stale(dirfd(dir), e->d_name, pid, &fd)) {
                unlinkat(dirfd(dir), e->d_name, 0);
                close(fd);
            }
        }
        closedir(dir);
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
        remove_stale_temps(af->final_path);
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
