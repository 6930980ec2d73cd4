/*
 * boxrun-sv: the in-container supervisor.
 *
 * It runs as PID 1 of every sandbox container, as the same unprivileged user as the program it
 * supervises (on gVisor, with --user, as root with split uids: see separate_user). The host talks to it over the container's attached stdio, so no `docker exec`, no
 * archive API and no host path is ever involved:
 *
 *   host -> sv (container stdin):  frames  [type:u8][len:u32 BE][payload]
 *     'F' file      u32 mode BE, path NUL, content        'A' argv element
 *     'E' env "K=V"                                       'C' cwd (relative to the work dir)
 *     'L' limit "key=value" ("recycle=1": reset after it)   'O' output-file pattern
 *     'I' stdin bytes    'i' stdin EOF    'R' run    'K' kill (cancel)
 *   sv -> host (container stdout): frames of the same shape
 *     'S' started       'o' stdout bytes     'e' stderr bytes
 *     'f' file: u32 mode BE, path NUL, content            'x' refused file: path NUL reason
 *     'r' result JSON (last frame)                        '!' supervisor error text
 *
 * Why C and PID 1: it must exist in every image (no interpreter to rely on), start in well under a
 * millisecond, and being the namespace's init lets it kill(-1) the program's whole tree, reap every
 * orphan and read the container's own cgroup counters. It makes itself non-dumpable so the program,
 * which runs as the same uid, can neither ptrace it nor open /proc/1/fd; signals sent to it from
 * inside the namespace are dropped by the kernel because it installs no handlers (SIGCHLD arrives
 * through a signalfd).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORK_DIR "/box"
#define MAX_FRAME (1u << 30)
#define CHUNK 65536
#define MAX_LIST 4096

typedef struct {
  char *items[MAX_LIST];
  int n;
} list_t;

static list_t argv_list, env_list, out_patterns;
static char cwd_rel[4096] = "";
static long long timeout_ms, cpu_ms, output_bytes, files_bytes, file_size_bytes, stack_bytes, nofile, max_files, nproc;
/* Session mode (--session): the container outlives one job; files in the work dir persist between
 * jobs, every process of a job still dies when it ends. */
static int session_mode;
static const char *work_dir = WORK_DIR;
/* The host asked for this job's sandbox to be reused ('L' recycle=1): after the job, the supervisor
 * resets the container to its initial state and proves it ("reset between jobs" below), and only then
 * waits for another job. */
static int recycle_requested;
/* --user UID:GID (the gVisor tier, docs/backends.md): started as root with only CAP_SETUID and
 * CAP_SETGID, the supervisor keeps real and saved uid 0 and works as UID (effective, so files are
 * the program's), and the program runs with all three uids UID. A signal needs the sender's real or
 * effective uid to match the target's real or saved one, so the program can no longer signal PID 1
 * (gVisor, unlike Linux, does not drop signals sent to a namespace's init), while the supervisor,
 * effective UID, can still kill it. RLIMIT_NPROC counts the program's uid only: a fork bomb
 * cannot take the supervisor's process slots. */
static int separate_user;
static uid_t program_uid;
static gid_t program_gid;

static void reset_limits(void) {
  timeout_ms = 10000, cpu_ms = 0, output_bytes = 1 << 20, files_bytes = 64 << 20;
  file_size_bytes = 0, stack_bytes = 64LL << 20, nofile = 0, max_files = 1000, nproc = 0;
  recycle_requested = 0;
}

/* ---------- small helpers ---------- */

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        poll(&pf, 1, 100);
        continue;
      }
      _exit(3); /* the host went away: nothing left to report to */
    }
    p += w;
    len -= (size_t)w;
  }
}

static void send_frame2(char type, const void *a, uint32_t alen, const void *b, uint32_t blen) {
  uint32_t len = alen + blen;
  unsigned char hdr[5] = {(unsigned char)type, len >> 24, len >> 16, len >> 8, len};
  write_all(1, hdr, 5);
  if (alen) write_all(1, a, alen);
  if (blen) write_all(1, b, blen);
}

static void send_frame(char type, const void *p, uint32_t len) { send_frame2(type, p, len, NULL, 0); }

static void fail(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n >= (int)sizeof msg) n = sizeof msg - 1;
  send_frame('!', msg, (uint32_t)n);
  _exit(2);
}

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static long long read_counter(const char *path, const char *key) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  if (!key) return atoll(buf);
  size_t klen = strlen(key);
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ' ') return atoll(line + klen + 1);
  }
  return -1;
}

/* The container's own cgroup (its cgroup namespace's root). A probe build for the tests
 * (-DBOXRUN_SV_CGROUP_PROBE, see main) reads a fixture tree instead. */
static const char *cgroup_root = "/sys/fs/cgroup";

static long long read_cgroup(const char *file, const char *key) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", cgroup_root, file);
  return read_counter(path, key);
}

/* cgroup v1 and v2 both: hosts differ. Files only newer kernels have (memory.peak: 5.19) read -1
 * when absent, never a v1 value from a v2 tree. */
static long long cgroup_cpu_us(void) {
  long long v = read_cgroup("cpu.stat", "usage_usec");
  if (v >= 0) return v;
  v = read_cgroup("cpuacct/cpuacct.usage", NULL);
  if (v >= 0) return v / 1000;
  v = read_cgroup("cpu,cpuacct/cpuacct.usage", NULL);
  return v >= 0 ? v / 1000 : -1;
}

static long long cgroup_oom_kills(void) {
  long long v = read_cgroup("memory.events", "oom_kill");
  if (v >= 0) return v;
  return read_cgroup("memory/memory.oom_control", "oom_kill");
}

static long long cgroup_peak_bytes(void) {
  long long v = read_cgroup("memory.peak", NULL);
  if (v >= 0) return v;
  return read_cgroup("memory/memory.max_usage_in_bytes", NULL);
}

/* A relative path with no empty, "." or ".." component. */
static int safe_rel_path(const char *p) {
  if (!*p || *p == '/') return 0;
  const char *s = p;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!e) break;
    s = e + 1;
  }
  return 1;
}

static void mkdirs_for(char *path) {
  for (char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
    *s = 0;
    if (mkdir(path, 0755) < 0 && errno != EEXIST) fail("mkdir %s: %s", path, strerror(errno));
    *s = '/';
  }
}

static void list_add(list_t *l, const char *s, uint32_t len) {
  if (l->n >= MAX_LIST - 1) fail("too many list items");
  char *c = malloc(len + 1);
  if (!c) fail("out of memory");
  memcpy(c, s, len);
  c[len] = 0;
  l->items[l->n++] = c;
  l->items[l->n] = NULL;
}

static void set_limit(const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq) fail("bad limit %s", kv);
  long long v = atoll(eq + 1);
  size_t k = (size_t)(eq - kv);
#define IS(name) (k == strlen(name) && strncmp(kv, name, k) == 0)
  if (IS("timeout_ms")) timeout_ms = v;
  else if (IS("cpu_ms")) cpu_ms = v;
  else if (IS("output_bytes")) output_bytes = v;
  else if (IS("files_bytes")) files_bytes = v;
  else if (IS("file_size_bytes")) file_size_bytes = v;
  else if (IS("stack_bytes")) stack_bytes = v;
  else if (IS("nofile")) nofile = v;
  else if (IS("max_files")) max_files = v;
  else if (IS("nproc")) nproc = v;
  else if (IS("recycle")) recycle_requested = v != 0;
#undef IS
}

static void write_input_file(const unsigned char *p, uint32_t len) {
  if (len < 5) fail("short file frame");
  uint32_t mode = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
  const char *path = (const char *)p + 4;
  size_t plen = strnlen(path, len - 4);
  if (plen == len - 4) fail("unterminated file path");
  if (!safe_rel_path(path)) fail("unsafe file path");
  char *full = NULL;
  if (asprintf(&full, "%s", path) < 0) fail("out of memory");
  mkdirs_for(full);
  /* Nothing of the user's has run yet, but O_NOFOLLOW|O_EXCL keeps this honest anyway. */
  int fd = open(full, O_WRONLY | O_CREAT | (session_mode ? O_TRUNC : O_EXCL) | O_NOFOLLOW | O_CLOEXEC, mode & 0755);
  if (fd < 0) fail("create %s: %s", full, strerror(errno));
  write_all(fd, path + plen + 1, len - 4 - plen - 1);
  fchmod(fd, mode & 0755);
  close(fd);
  free(full);
}

/* ---------- the run ---------- */

typedef struct {
  unsigned char *buf;
  size_t len, cap;
} buf_t;

static void buf_append(buf_t *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + n) cap *= 2;
    b->buf = realloc(b->buf, cap);
    if (!b->buf) fail("out of memory");
    b->cap = cap;
  }
  memcpy(b->buf + b->len, p, n);
  b->len += n;
}

static void buf_consume(buf_t *b, size_t n) {
  memmove(b->buf, b->buf + n, b->len - n);
  b->len -= n;
}

static pid_t child_pid;
static int child_done, child_status;
/* Largest resident set of any process of the current job: each reaped process's (and its reaped
 * descendants') ru_maxrss. Unlike RUSAGE_CHILDREN it starts from zero with every job, so a job in a
 * reused container never reports an earlier job's peak. */
static long job_maxrss_kb;

/* Collects every exited child; returns 1 once no child is left at all. */
static int reap(void) {
  for (;;) {
    int st;
    struct rusage ru;
    pid_t p = wait4(-1, &st, WNOHANG, &ru);
    if (p <= 0) return p < 0 && errno == ECHILD;
    if (ru.ru_maxrss > job_maxrss_kb) job_maxrss_kb = ru.ru_maxrss;
    if (p == child_pid) {
      child_done = 1;
      child_status = st;
    }
  }
}

static void exec_child(int in_fd, int out_fd, int err_fd, int err_pipe) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  signal(SIGPIPE, SIG_DFL);
  setpgid(0, 0);
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  /* The OOM killer should pick the program, never the supervisor. Raising is unprivileged. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    write(oom, "1000", 4);
    close(oom);
  }
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = 0;
  setrlimit(RLIMIT_CORE, &rl);
  if (cpu_ms > 0) {
    /* Backstop for a single process; the tree's total is checked from the cgroup. */
    rl.rlim_cur = (rlim_t)((cpu_ms + 999) / 1000 + 1);
    rl.rlim_max = rl.rlim_cur + 1;
    setrlimit(RLIMIT_CPU, &rl);
  }
  if (file_size_bytes > 0) {
    rl.rlim_cur = rl.rlim_max = (rlim_t)file_size_bytes;
    setrlimit(RLIMIT_FSIZE, &rl);
  }
  if (stack_bytes > 0) {
    getrlimit(RLIMIT_STACK, &rl);
    rl.rlim_cur = (rlim_t)stack_bytes;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_STACK, &rl);
  }
  if (nofile > 0) {
    rl.rlim_cur = rl.rlim_max = (rlim_t)nofile;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (cwd_rel[0] && chdir(cwd_rel) < 0) {
    int e = errno;
    write(err_pipe, &e, sizeof e);
    _exit(127);
  }
  if (separate_user) {
    /* Every uid becomes the program's: the permitted capabilities go with uid 0, and
     * no-new-privileges (set on the container too) keeps exec from granting any back. */
    if (setresgid(program_gid, program_gid, program_gid) < 0 || setresuid(program_uid, program_uid, program_uid) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
      int e = errno;
      write(err_pipe, &e, sizeof e);
      _exit(127);
    }
    /* Per uid, and this uid is the program's alone (a kernel of the sandbox's own: gVisor). Less
     * one: the supervisor's slot, as it takes one of the container's pids limit under runc. */
    if (nproc > 0) {
      rl.rlim_cur = rl.rlim_max = (rlim_t)(nproc > 1 ? nproc - 1 : 1);
      setrlimit(RLIMIT_NPROC, &rl);
    }
  }
  /* Only 0-2 and the exec-error pipe survive into the program. */
  if (err_pipe > 3) close_range(3, (unsigned)err_pipe - 1, 0);
  close_range((unsigned)err_pipe + 1, ~0U, 0);
  /* err_pipe is close-on-exec, so a successful exec closes it and the parent reads EOF. */
  execvpe(argv_list.items[0], argv_list.items, env_list.items);
  int e = errno;
  write(err_pipe, &e, sizeof e);
  _exit(127);
}

static void json_escape(buf_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf_append(b, "\\", 1);
      buf_append(b, s, 1);
    } else if (c < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", c);
      buf_append(b, esc, 6);
    } else {
      buf_append(b, s, 1);
    }
  }
}

/* ---------- output files ---------- */

static long long files_sent_bytes;
static long long files_sent_count;

static int pattern_matches(const char *rel) {
  for (int i = 0; i < out_patterns.n; i++) {
    const char *p = out_patterns.items[i];
    size_t pl = strlen(p);
    if (strcmp(p, "**") == 0) return 1;
    if (pl >= 3 && strcmp(p + pl - 3, "/**") == 0 && strncmp(rel, p, pl - 2) == 0) return 1;
    if (fnmatch(p, rel, FNM_PATHNAME) == 0) return 1;
  }
  return 0;
}

static void refuse(const char *rel, const char *reason) {
  send_frame2('x', rel, (uint32_t)strlen(rel) + 1, reason, (uint32_t)strlen(reason));
}

static void send_file(int dirfd, const char *name, const char *rel, const struct stat *st) {
  if (st->st_nlink > 1) return refuse(rel, "hard link");
  if (files_sent_count >= max_files) return refuse(rel, "too many output files");
  if (files_sent_bytes + st->st_size > files_bytes) return refuse(rel, "output files exceed the size limit");
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return refuse(rel, "unreadable");
  struct stat st2;
  if (fstat(fd, &st2) < 0 || !S_ISREG(st2.st_mode) || st2.st_ino != st->st_ino) {
    close(fd);
    return refuse(rel, "changed while collecting");
  }
  size_t rl = strlen(rel) + 1;
  size_t total = 4 + rl + (size_t)st2.st_size;
  unsigned char *p = malloc(total);
  if (!p) fail("out of memory");
  uint32_t mode = st2.st_mode & 0777;
  p[0] = mode >> 24, p[1] = mode >> 16, p[2] = mode >> 8, p[3] = mode;
  memcpy(p + 4, rel, rl);
  if (st2.st_size > 0 && read_full(fd, p + 4 + rl, (size_t)st2.st_size) < 0) {
    free(p);
    close(fd);
    return refuse(rel, "short read");
  }
  close(fd);
  send_frame('f', p, (uint32_t)total);
  free(p);
  files_sent_bytes += st2.st_size;
  files_sent_count++;
}

static void walk(int dirfd, const char *prefix, int depth) {
  if (depth > 64) return;
  DIR *d = fdopendir(dirfd);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char rel[4096];
    snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name);
    struct stat st;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) walk(sub, rel, depth + 1);
      continue;
    }
    if (!pattern_matches(rel)) continue;
    if (S_ISLNK(st.st_mode)) refuse(rel, "symbolic link");
    else if (!S_ISREG(st.st_mode)) refuse(rel, "not a regular file");
    else send_file(dirfd, de->d_name, rel, &st);
  }
  closedir(d);
}

static void report_missing_literals(void) {
  for (int i = 0; i < out_patterns.n; i++) {
    const char *p = out_patterns.items[i];
    if (strpbrk(p, "*?[")) continue;
    struct stat st;
    if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) < 0) refuse(p, "not found");
  }
}

/* As the namespace's init, kill(-1) reaches every process but ourselves: the whole tree, even what
 * escaped the process group with setsid. Anywhere else (a test on a host) it would reach far too
 * much, so there only the program's process group is killed. */
static void kill_everything(void) {
  if (getpid() == 1) kill(-1, SIGKILL);
  else kill(-child_pid, SIGKILL);
}

/* ---------- reset between jobs (recycled sandboxes) ----------
 *
 * A reused container must be as clean as a fresh one, and the supervisor must be able to show it:
 * every process but itself gone, every writable filesystem back to what it held when the container
 * started (same entries, owners and modes; same free blocks and inodes for tmpfs), no SysV IPC
 * object left and the mount table unchanged. The state at start is recorded once, before the first
 * job's files arrive. Anything the reset cannot restore or cannot check makes it fail, and a failed
 * reset makes the host destroy the container: doubt is never resolved in favour of reuse. */

typedef struct {
  char *path;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  ino_t ino;
  dev_t rdev;
  off_t size;
  struct timespec ctime;
} fs_entry_t;

typedef struct {
  fs_entry_t *items;
  int n, cap;
  int overflow;
} fs_list_t;

typedef struct {
  char *path;
  int tmpfs;
  unsigned long long bfree, ffree;
} rw_mount_t;

#define MAX_FS_ENTRIES 8192
#define MAX_RW_MOUNTS 64

static fs_list_t baseline;
static rw_mount_t rw_mounts[MAX_RW_MOUNTS];
static int rw_mount_count;
static char *baseline_mountinfo;
/* Why this container can never be reset (e.g. a writable root filesystem); NULL when it can. */
static const char *baseline_error;

static char *read_text_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  buf_t b = {0};
  char chunk[8192];
  ssize_t r;
  while ((r = read(fd, chunk, sizeof chunk)) > 0) buf_append(&b, chunk, (size_t)r);
  close(fd);
  buf_append(&b, "", 1);
  return (char *)b.buf;
}

static void fs_list_free(fs_list_t *l) {
  for (int i = 0; i < l->n; i++) free(l->items[i].path);
  free(l->items);
  *l = (fs_list_t){0};
}

static void fs_list_add(fs_list_t *l, const char *path, const struct stat *st) {
  if (l->n >= MAX_FS_ENTRIES) {
    l->overflow = 1;
    return;
  }
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 256;
    l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
    if (!l->items) fail("out of memory");
  }
  char *copy = strdup(path);
  if (!copy) fail("out of memory");
  l->items[l->n++] = (fs_entry_t){copy, st->st_mode, st->st_uid, st->st_gid, st->st_ino, st->st_rdev, st->st_size, st->st_ctim};
}

static const fs_entry_t *fs_list_find(const fs_list_t *l, const char *path) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->items[i].path, path) == 0) return &l->items[i];
  return NULL;
}

/* Every entry under `path` on the same filesystem (a nested mount is listed on its own). */
static void list_tree(fs_list_t *l, const char *path, dev_t dev, int depth) {
  struct stat st;
  if (lstat(path, &st) < 0 || st.st_dev != dev) return;
  fs_list_add(l, path, &st);
  if (!S_ISDIR(st.st_mode)) return;
  if (depth > 64) {
    l->overflow = 1;
    return;
  }
  DIR *d = opendir(path);
  if (!d) {
    l->overflow = 1; /* unreadable: cannot be proven empty */
    return;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char child[4096];
    if (snprintf(child, sizeof child, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", de->d_name) >=
        (int)sizeof child) {
      l->overflow = 1;
      continue;
    }
    list_tree(l, child, dev, depth + 1);
  }
  closedir(d);
}

static void list_writable(fs_list_t *l) {
  for (int i = 0; i < rw_mount_count; i++) {
    struct stat st;
    if (lstat(rw_mounts[i].path, &st) == 0) list_tree(l, rw_mounts[i].path, st.st_dev, 0);
  }
}

/* mountinfo: id parent maj:min root mountpoint options [optional...] - fstype source superoptions */
static void record_baseline(void) {
  baseline_mountinfo = read_text_file("/proc/self/mountinfo");
  if (!baseline_mountinfo) {
    baseline_error = "cannot read the mount table";
    return;
  }
  char *copy = strdup(baseline_mountinfo);
  if (!copy) fail("out of memory");
  for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
    char mountpoint[4096], options[1024], fstype[256];
    const char *dash = strstr(line, " - ");
    if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mountpoint, options) != 2 ||
        sscanf(dash + 3, "%255s", fstype) != 1) {
      baseline_error = "cannot parse the mount table";
      break;
    }
    int rw = strncmp(options, "rw", 2) == 0 && (options[2] == 0 || options[2] == ',');
    if (!rw) continue;
    if (!strcmp(mountpoint, "/")) {
      baseline_error = "the root filesystem is writable";
      break;
    }
    /* The kernel's own views: nothing a job writes there outlives its processes. */
    if (!strcmp(fstype, "proc") || !strcmp(fstype, "sysfs") || !strncmp(fstype, "cgroup", 6) ||
        !strncmp(mountpoint, "/proc/", 6) || !strncmp(mountpoint, "/sys/", 5))
      continue;
    if (strchr(mountpoint, '\\') || rw_mount_count >= MAX_RW_MOUNTS) {
      baseline_error = "unsupported mount table";
      break;
    }
    rw_mount_t *m = &rw_mounts[rw_mount_count++];
    m->path = strdup(mountpoint);
    if (!m->path) fail("out of memory");
    m->tmpfs = !strcmp(fstype, "tmpfs");
    struct statfs sf;
    if (m->tmpfs && statfs(m->path, &sf) == 0) m->bfree = sf.f_bfree, m->ffree = sf.f_ffree;
  }
  free(copy);
  if (baseline_error) return;
  list_writable(&baseline);
  if (baseline.overflow) baseline_error = "too many files at start";
}

/* Removes `path` and everything under it; directories are first made ours to enter and empty. */
static void remove_tree(const char *path, uid_t me, int depth) {
  struct stat st;
  if (depth > 128 || lstat(path, &st) < 0) return; /* too deep: left, so the check fails */
  if (S_ISDIR(st.st_mode)) {
    if (st.st_uid == me) chmod(path, 0700);
    DIR *d = opendir(path);
    if (d) {
      struct dirent *de;
      while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char child[4096];
        if (snprintf(child, sizeof child, "%s/%s", path, de->d_name) < (int)sizeof child)
          remove_tree(child, me, depth + 1);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* Everything under a baseline directory that was not there at start goes; what was there gets its
 * mode back (when it is ours: nothing else can have been changed by a job). */
static void restore_tree(const char *path, dev_t dev, uid_t me, int depth) {
  struct stat st;
  if (lstat(path, &st) < 0 || st.st_dev != dev || depth > 64) return;
  const fs_entry_t *base = fs_list_find(&baseline, path);
  if (!base) return;
  if (st.st_uid == me && (st.st_mode & 07777) != (base->mode & 07777)) {
    /* Enter it first (a chmod 000 directory), then its own mode is put back below. */
    chmod(path, (base->mode & 07777) | (S_ISDIR(st.st_mode) ? 0700 : 0));
  }
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *de;
      while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char child[4096];
        if (snprintf(child, sizeof child, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", de->d_name) >=
            (int)sizeof child)
          continue;
        if (fs_list_find(&baseline, child)) restore_tree(child, dev, me, depth + 1);
        else remove_tree(child, me, 0);
      }
      closedir(d);
    }
  }
  if (st.st_uid == me) chmod(path, base->mode & 07777);
}

static const char *compare_with_baseline(void) {
  static char why[4200];
  fs_list_t now = {0};
  list_writable(&now);
  const char *result = NULL;
  if (now.overflow) result = "too many or unreadable files";
  for (int i = 0; !result && i < now.n; i++) {
    const fs_entry_t *e = &now.items[i];
    const fs_entry_t *b = fs_list_find(&baseline, e->path);
    if (!b) {
      snprintf(why, sizeof why, "left behind: %s", e->path);
      result = why;
    } else if (e->mode != b->mode || e->uid != b->uid || e->gid != b->gid) {
      snprintf(why, sizeof why, "owner or mode changed: %s", e->path);
      result = why;
    } else if (!S_ISDIR(e->mode) && (e->ino != b->ino || e->rdev != b->rdev)) {
      snprintf(why, sizeof why, "replaced: %s", e->path);
      result = why;
    } else if ((S_ISREG(e->mode) || S_ISLNK(e->mode)) &&
               (e->size != b->size || e->ctime.tv_sec != b->ctime.tv_sec || e->ctime.tv_nsec != b->ctime.tv_nsec)) {
      /* ctime cannot be set back by anyone unprivileged: any write or chmod shows. */
      snprintf(why, sizeof why, "modified: %s", e->path);
      result = why;
    }
  }
  if (!result && now.n != baseline.n) result = "a file present at start is gone";
  for (int i = 0; !result && i < rw_mount_count; i++) {
    struct statfs sf;
    if (!rw_mounts[i].tmpfs) continue;
    if (statfs(rw_mounts[i].path, &sf) < 0 || sf.f_bfree != rw_mounts[i].bfree || sf.f_ffree != rw_mounts[i].ffree) {
      snprintf(why, sizeof why, "space still in use on %s", rw_mounts[i].path);
      result = why;
    }
  }
  fs_list_free(&now);
  return result;
}

static int count_other_processes(void) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    long pid = strtol(de->d_name, &end, 10);
    if (*end == 0 && pid > 1) n++;
  }
  closedir(d);
  return n;
}

/* SysV objects live in the IPC namespace, not in a filesystem: listed in /proc/sysvipc, removed by
 * id (the job ran as our uid, so we own them). Returns how many are left after removal, -1 when a
 * list cannot be read. */
static int remove_sysv(const char *list, int kind) {
  int left = 0;
  for (int pass = 0; pass < 2; pass++) {
    char *text = read_text_file(list);
    if (!text) return -1;
    int n = 0;
    char *line = strchr(text, '\n'); /* the first line is a header */
    while (line && *++line) {
      int id;
      if (sscanf(line, "%*d %d", &id) == 1) {
        n++;
        if (pass == 0) {
          if (kind == 0) shmctl(id, IPC_RMID, NULL);
          else if (kind == 1) semctl(id, 0, IPC_RMID);
          else msgctl(id, IPC_RMID, NULL);
        }
      }
      line = strchr(line, '\n');
    }
    free(text);
    left = n;
  }
  return left;
}

/* NULL when the container is as it was at start; otherwise why it is not (then it must go).
 * `until`: when the kill must have succeeded (the host's backstop runs on the job's time). */
static const char *reset_container(long long until) {
  if (baseline_error) return baseline_error;
  if (getpid() != 1) return "not the namespace's init";
  /* SIGKILL reaches stopped, SIGTERM-ignoring and setsid'd processes alike; looping catches a fork
   * that raced the previous round. */
  for (;;) {
    kill(-1, SIGKILL);
    int none_left = reap();
    int others = count_other_processes();
    if (others < 0) return "cannot read /proc";
    if (none_left && others == 0) break;
    if (now_us() >= until) return "processes survived SIGKILL";
    usleep(500);
  }
  if (remove_sysv("/proc/sysvipc/shm", 0) != 0) return "SysV shared memory left";
  if (remove_sysv("/proc/sysvipc/sem", 1) != 0) return "SysV semaphores left";
  if (remove_sysv("/proc/sysvipc/msg", 2) != 0) return "SysV message queues left";
  uid_t me = geteuid(); /* the program's uid, also with --user */
  for (int i = 0; i < rw_mount_count; i++) {
    struct stat st;
    if (lstat(rw_mounts[i].path, &st) == 0) restore_tree(rw_mounts[i].path, st.st_dev, me, 0);
  }
  char *mounts = read_text_file("/proc/self/mountinfo");
  int same = mounts && strcmp(mounts, baseline_mountinfo) == 0;
  free(mounts);
  if (!same) return "the mount table changed";
  if (chdir(work_dir) < 0) return "work dir gone";
  return compare_with_baseline();
}

/* ---------- main ---------- */

static void list_clear(list_t *l) {
  for (int i = 0; i < l->n; i++) free(l->items[i]);
  l->n = 0;
  l->items[0] = NULL;
}

/* One read of the program's stdout or stderr, forwarded as frames up to the per-stream cap; past
 * it, the stream is marked as the one that hit the limit (the run loop then kills everything). */
static void pump_output(int *fd, char frame, const char *name, long long *sent, const char **limited) {
  char chunk[CHUNK];
  ssize_t r = read(*fd, chunk, sizeof chunk);
  if (r > 0) {
    long long room = output_bytes - *sent;
    if (r > room) {
      r = room > 0 ? room : 0;
      if (!*limited) *limited = name;
    }
    if (r > 0) send_frame(frame, chunk, (uint32_t)r), *sent += r;
  } else if (r == 0 || errno != EINTR) {
    close(*fd);
    *fd = -1;
  }
}

static int sfd = -1;
/* The last job was recycled and the reset proved the container clean: wait for the next one. */
static int recycle_continue;
static long long jobs_done;
static long long cpu_us_before_job;

static void run_job(void) {
  buf_t ctl = {0};
  buf_t pending_stdin = {0};
  /* Between two jobs of one container (a session, or a recycled sandbox after its first job), stdin
   * and cancel frames that arrive before the next job's own frames belonged to the previous job. */
  int between_jobs = session_mode || jobs_done > 0;
  int stdin_eof = 0, kill_requested = 0, job_started = !between_jobs;

  /* Setup: read frames until 'R'. Frames after 'R' are handled by the run loop. */
  for (;;) {
    unsigned char hdr[5];
    if (read_full(0, hdr, 5) < 0) _exit(0); /* host gone before a job: an idle pool container */
    uint32_t len = ((uint32_t)hdr[1] << 24) | ((uint32_t)hdr[2] << 16) | ((uint32_t)hdr[3] << 8) | hdr[4];
    if (len > MAX_FRAME) fail("frame too large");
    unsigned char *p = malloc(len + 1);
    if (!p) fail("out of memory");
    if (len && read_full(0, p, len) < 0) _exit(0);
    p[len] = 0;
    if (hdr[0] != 'I' && hdr[0] != 'i' && hdr[0] != 'K') job_started = 1;
    switch (hdr[0]) {
      case 'F': write_input_file(p, len); break;
      case 'A': list_add(&argv_list, (char *)p, len); break;
      case 'E': list_add(&env_list, (char *)p, len); break;
      case 'O': list_add(&out_patterns, (char *)p, len); break;
      case 'C':
        if (len && !safe_rel_path((char *)p)) fail("unsafe cwd");
        snprintf(cwd_rel, sizeof cwd_rel, "%s", (char *)p);
        if (cwd_rel[0]) {
          char tmp[4200];
          snprintf(tmp, sizeof tmp, "%s/", cwd_rel);
          mkdirs_for(tmp);
        }
        break;
      case 'L': set_limit((char *)p); break;
      /* Stdin the host sent just as the previous job ended arrives here, before any frame of the
       * next job: it belonged to that job, so it is dropped, not fed to this one. */
      case 'I':
        if (job_started) buf_append(&pending_stdin, p, len);
        break;
      case 'i':
        if (job_started) stdin_eof = 1;
        break;
      case 'K':
        if (!between_jobs) _exit(0);
        break;
      case 'X': _exit(0); /* end of a session */
      case 'R': free(p); goto run;
      default: fail("unknown frame type %d", hdr[0]);
    }
    free(p);
  }

run:
  if (argv_list.n == 0) fail("no command");
  if (sfd < 0) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  child_done = 0;
  job_maxrss_kb = 0;
  files_sent_bytes = files_sent_count = 0;

  int in_p[2], out_p[2], err_p[2], ex_p[2];
  if (pipe2(in_p, O_CLOEXEC) || pipe2(out_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC) || pipe2(ex_p, O_CLOEXEC))
    fail("pipe: %s", strerror(errno));
  long long oom_before = cgroup_oom_kills();
  long long cpu_before = cgroup_cpu_us();
  long long t0 = now_us();
  child_pid = fork();
  if (child_pid < 0) fail("fork: %s", strerror(errno));
  if (child_pid == 0) exec_child(in_p[0], out_p[1], err_p[1], ex_p[1]);
  close(in_p[0]);
  close(out_p[1]);
  close(err_p[1]);
  close(ex_p[1]);
  int exec_errno = 0;
  if (read(ex_p[0], &exec_errno, sizeof exec_errno) != sizeof exec_errno) exec_errno = 0;
  close(ex_p[0]);
  send_frame('S', NULL, 0);

  int in_fd = in_p[1], out_fd = out_p[0], err_fd = err_p[0];
  fcntl(in_fd, F_SETFL, O_NONBLOCK);
  fcntl(0, F_SETFL, O_NONBLOCK);
  if (stdin_eof && pending_stdin.len == 0) close(in_fd), in_fd = -1;

  long long out_n = 0, err_n = 0;
  int timed_out = 0, cpu_exceeded = 0, killed_all = 0, ctl_open = 1;
  const char *output_limited = NULL;
  long long deadline = t0 + timeout_ms * 1000LL;
  long long kill_time = 0;

  while (out_fd >= 0 || err_fd >= 0 || !child_done) {
    struct pollfd pf[5];
    int n = 0, i_out = -1, i_err = -1, i_in = -1, i_ctl = -1, i_sig;
    if (out_fd >= 0) pf[i_out = n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
    if (err_fd >= 0) pf[i_err = n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
    if (in_fd >= 0 && pending_stdin.len) pf[i_in = n++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
    if (ctl_open) pf[i_ctl = n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    pf[i_sig = n++] = (struct pollfd){.fd = sfd, .events = POLLIN};

    long long now = now_us();
    long long wait_ms = killed_all ? 50 : (deadline - now) / 1000 + 1;
    if (cpu_ms > 0 && wait_ms > 20) wait_ms = 20;
    if (wait_ms < 0) wait_ms = 0;
    poll(pf, n, (int)wait_ms);
    now = now_us();

    if (i_out >= 0 && pf[i_out].revents) pump_output(&out_fd, 'o', "stdout", &out_n, &output_limited);
    if (i_err >= 0 && pf[i_err].revents) pump_output(&err_fd, 'e', "stderr", &err_n, &output_limited);
    if (i_in >= 0 && pf[i_in].revents) {
      ssize_t w = write(in_fd, pending_stdin.buf, pending_stdin.len);
      if (w > 0) buf_consume(&pending_stdin, (size_t)w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR) pending_stdin.len = 0, stdin_eof = 1;
      if (stdin_eof && pending_stdin.len == 0) close(in_fd), in_fd = -1;
    }
    if (i_ctl >= 0 && pf[i_ctl].revents) {
      char tmp[CHUNK];
      ssize_t r = read(0, tmp, sizeof tmp);
      if (r > 0) buf_append(&ctl, tmp, (size_t)r);
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) ctl_open = 0, stdin_eof = 1;
      while (ctl.len >= 5) {
        uint32_t len = ((uint32_t)ctl.buf[1] << 24) | ((uint32_t)ctl.buf[2] << 16) | ((uint32_t)ctl.buf[3] << 8) | ctl.buf[4];
        if (ctl.len < 5 + (size_t)len) break;
        if (ctl.buf[0] == 'I') buf_append(&pending_stdin, ctl.buf + 5, len);
        else if (ctl.buf[0] == 'i') stdin_eof = 1;
        else if (ctl.buf[0] == 'K') kill_requested = 1;
        buf_consume(&ctl, 5 + len);
      }
      if (in_fd >= 0 && stdin_eof && pending_stdin.len == 0) close(in_fd), in_fd = -1;
    }
    if (pf[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
    }
    reap();

    if (!killed_all) {
      const char *why = NULL;
      if (now >= deadline) timed_out = 1, why = "timeout";
      if (cpu_ms > 0 && cpu_before >= 0) {
        long long used = cgroup_cpu_us() - cpu_before;
        if (used > cpu_ms * 1000LL) cpu_exceeded = 1, why = "cpu";
      }
      if (output_limited) why = "output";
      if (kill_requested) why = "cancel";
      /* When the program itself has exited, whatever it left running dies with it. */
      if (child_done) why = "exit";
      if (why) {
        kill_everything();
        killed_all = 1;
        kill_time = now;
      }
    } else if (now - kill_time > 2000000LL) {
      /* Writers are dead; a pipe still open after 2 s can only be an fd we leaked. Stop waiting. */
      break;
    }
  }
  long long t1 = now_us();
  /* Everything was SIGKILLed, but dying takes the kernel a moment: wait until every process (all
   * are our children, orphans included, as PID 1) is reaped, so none outlives the report and their
   * CPU time is counted. Bounded, for a process stuck in uninterruptible sleep. */
  for (long long until = now_us() + 2000000LL; !reap() && now_us() < until;) usleep(1000);

  struct rusage all;
  getrusage(RUSAGE_CHILDREN, &all);
  long long cpu_total = (long long)all.ru_utime.tv_sec * 1000000LL + all.ru_utime.tv_usec +
                       (long long)all.ru_stime.tv_sec * 1000000LL + all.ru_stime.tv_usec;
  /* RUSAGE_CHILDREN accumulates over a session's jobs. */
  long long cpu_us = cpu_total - cpu_us_before_job;
  cpu_us_before_job = cpu_total;
  long long oom_after = cgroup_oom_kills();
  long long oom_kills = (oom_before >= 0 && oom_after >= 0) ? oom_after - oom_before : -1;

  /* Every process of the user's is dead now, so nothing can swap a file for a symlink under us. */
  if (out_patterns.n > 0) {
    report_missing_literals();
    int root = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0) walk(root, "", 0);
  }

  /* A job that hit a limit or was canceled may have left the container in any state: it is not
   * reused, so there is nothing to reset. The host destroys it. */
  const char *reset = NULL;
  long long reset_us = 0;
  if (recycle_requested) {
    long long r0 = now_us();
    if (timed_out || cpu_exceeded || kill_requested) reset = "not reused after a limit or cancel";
    else if (oom_kills != 0) reset = "not reused after an OOM kill";
    /* The report must reach the host before its backstop (timeout + 5 s after the job was sent)
     * kills the container: a reset that could run into it is not tried. */
    else if (r0 > deadline + 2000000LL) reset = "not reused: no time left for a reset";
    else {
      long long kill_until = r0 + 2000000LL;
      if (kill_until > deadline + 3000000LL) kill_until = deadline + 3000000LL;
      reset = reset_container(kill_until);
    }
    reset_us = now_us() - r0;
  }

  buf_t js = {0};
  char num[512];
  int exited = child_done && WIFEXITED(child_status);
  int sig = child_done && WIFSIGNALED(child_status) ? WTERMSIG(child_status) : 0;
  snprintf(num, sizeof num,
           "{\"exitCode\":%d,\"signal\":%d,\"timedOut\":%s,\"cpuExceeded\":%s,\"canceled\":%s,"
           "\"oomKills\":%lld,\"cpuTimeUs\":%lld,\"maxRssKb\":%ld,\"cgroupPeakBytes\":%lld,"
           "\"durationUs\":%lld,\"stdoutBytes\":%lld,\"stderrBytes\":%lld,\"outputLimited\":",
           exited ? WEXITSTATUS(child_status) : -1, sig, timed_out ? "true" : "false",
           cpu_exceeded ? "true" : "false", kill_requested ? "true" : "false", oom_kills, cpu_us,
           job_maxrss_kb, cgroup_peak_bytes(), t1 - t0, out_n, err_n);
  buf_append(&js, num, strlen(num));
  if (output_limited) {
    buf_append(&js, "\"", 1);
    buf_append(&js, output_limited, strlen(output_limited));
    buf_append(&js, "\"", 1);
  } else {
    buf_append(&js, "null", 4);
  }
  buf_append(&js, ",\"execError\":", 13);
  if (exec_errno) {
    buf_append(&js, "\"", 1);
    json_escape(&js, strerror(exec_errno));
    buf_append(&js, "\"", 1);
  } else {
    buf_append(&js, "null", 4);
  }
  if (recycle_requested) {
    snprintf(num, sizeof num, ",\"resetUs\":%lld,\"reset\":\"", reset_us);
    buf_append(&js, num, strlen(num));
    json_escape(&js, reset ? reset : "clean");
    buf_append(&js, "\"", 1);
  }
  buf_append(&js, "}", 1);
  send_frame('r', js.buf, (uint32_t)js.len);
  free(js.buf);
  free(ctl.buf);
  free(pending_stdin.buf);
  if (in_fd >= 0) close(in_fd);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  fcntl(0, F_SETFL, 0);
  /* A container that could not be proven clean ends here, whatever the host does next. */
  recycle_continue = recycle_requested && reset == NULL;
  jobs_done++;
}

/* dockerd waits at most 2 s after a container's PID 1 exits for the attach streams to drain, then
 * closes them (daemon/monitor.go: StreamConfig.Wait with a 2 s timeout, then Reset): on a loaded
 * machine the last frames — the report and the output just before it — could be cut off. So a
 * one-shot supervisor stays alive after its report until the host, which has read it, closes the
 * connection (stdin EOF) or removes the container. Bounded, for a host that never closes. */
#define LINGER_US 60000000LL

static void linger_until_host_closes(void) {
  char buf[4096];
  for (long long until = now_us() + LINGER_US;;) {
    long long left_ms = (until - now_us()) / 1000;
    if (left_ms <= 0) return;
    struct pollfd pf = {.fd = 0, .events = POLLIN};
    int n = poll(&pf, 1, (int)left_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    /* Anything the host still sends (a late 'K') is moot: the job is over. */
    ssize_t r = read(0, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

#ifdef BOXRUN_SV_CGROUP_PROBE
/* Test build: the cgroup readers above against the tree at argv[1], as JSON. */
int main(int argc, char **argv) {
  if (argc > 1) cgroup_root = argv[1];
  printf("{\"cpuUs\":%lld,\"oomKills\":%lld,\"peakBytes\":%lld}\n", cgroup_cpu_us(), cgroup_oom_kills(),
         cgroup_peak_bytes());
  return 0;
}
#else
int main(int argc, char **argv) {
  int arg = 1;
  if (argc > arg && strcmp(argv[arg], "--session") == 0) session_mode = 1, arg++;
  if (argc > arg + 1 && strcmp(argv[arg], "--user") == 0) {
    unsigned uid, gid;
    if (sscanf(argv[arg + 1], "%u:%u", &uid, &gid) != 2 || uid == 0) fail("bad --user %s", argv[arg + 1]);
    separate_user = 1, program_uid = uid, program_gid = gid, arg += 2;
  }
  if (argc > arg) work_dir = argv[arg];
  if (separate_user) {
    /* Real and saved uid stay 0 (see separate_user); groups are the program's outright. */
    if (getuid() != 0) fail("--user needs the supervisor to start as root");
    if (setgroups(0, NULL) < 0 || setresgid(program_gid, program_gid, program_gid) < 0 ||
        setresuid(0, program_uid, 0) < 0)
      fail("--user: %s", strerror(errno));
  }
  prctl(PR_SET_DUMPABLE, 0);
  signal(SIGPIPE, SIG_IGN);
  umask(022);
  if (chdir(work_dir) < 0) fail("chdir %s: %s", work_dir, strerror(errno));
  /* Before any job's file exists: what a reset must bring the container back to. */
  if (!session_mode) record_baseline();
  do {
    reset_limits();
    list_clear(&argv_list);
    list_clear(&env_list);
    list_clear(&out_patterns);
    cwd_rel[0] = 0;
    run_job();
  } while (session_mode || recycle_continue);
  linger_until_host_closes();
  return 0;
}
#endif
