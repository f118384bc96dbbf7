/*
 * agent - the workload of cloudvamp's test guest (runs inside the guest).
 *
 * Talks to the host over the virtio-serial port "org.cloudvamp.test.0"
 * (a unix socket on the host side): one command line in, one reply line out,
 * starting with "ok" or "err".
 *
 *   ping            ok pong uptime=S
 *   status          ok uptime=S counter=N held=MiB dirty=MiB/s memtotal_kib=K
 *                   memfree_kib=K memavail_kib=K alloc_failures=N restarts=N
 *                   boot_id=UUID
 *   hold MiB        hold exactly MiB of anonymous memory (1 MiB chunks, every
 *                   page written so the host really backs it); replies once
 *                   done. Stops short, and says so, when the guest runs out
 *                   of memory instead of waking the OOM killer.
 *   dirty MiB/s     keep rewriting the held memory at this rate (0 = off)
 *   spin S          a child process busy-loops for S seconds (CPU contention)
 *   grab MiB        like hold, without stopping short: past what the guest
 *                   has, the kernel must find memory (balloon deflate-on-OOM)
 *                   or the OOM killer takes the agent (see restarts)
 *
 * `counter` goes up every tick (50 ms) for as long as the agent runs: a
 * guest that was migrated and kept running shows the same boot_id and a
 * larger counter. /init restarts the agent if the OOM killer takes it and
 * passes the number of restarts (--restarts N).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "org.cloudvamp.test.0"
#define CHUNK (1UL << 20)
#define PAGE 4096UL
#define TICK 0.05           /* seconds */
#define RESERVE_KIB 8192    /* hold stops when MemAvailable would drop below */

static char **chunks;
static long held, capacity;
static unsigned long counter;
static double dirty_rate, dirty_credit;
static long dirty_pos;
static unsigned long dirty_round;
static long alloc_failures, restarts;
static char boot_id[64] = "unknown";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...)
{
    va_list ap;
    printf("agent: [%8.2f] ", now());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static long meminfo_kib(const char *key)
{
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') { v = atol(line + n + 1); break; }
    fclose(f);
    return v;
}

/* ---- memory ------------------------------------------------------------- */

/* write one word in every page of chunk i (makes the page dirty/resident) */
static void touch(long i, unsigned long round)
{
    char *p = chunks[i];
    for (unsigned long off = 0; off < CHUNK; off += PAGE)
        *(unsigned long *)(p + off) = round << 40 | (unsigned long)i << 20 | off | 1;
}

static int no_reserve; /* grab: allocate past MemAvailable */

static int grow_one(void)
{
    if (!no_reserve && meminfo_kib("MemAvailable") < RESERVE_KIB + (long)(CHUNK >> 10)) return -1;
    if (held == capacity) {
        long c = capacity ? capacity * 2 : 256;
        char **n = realloc(chunks, c * sizeof *chunks);
        if (!n) return -1;
        chunks = n;
        capacity = c;
    }
    void *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    chunks[held] = p;
    touch(held, 0);
    held++;
    return 0;
}

/* 0 when exactly mib MiB are held, -1 when memory ran out first */
static int hold(long mib)
{
    while (held > mib) munmap(chunks[--held], CHUNK);
    if (dirty_pos >= held) dirty_pos = 0;
    while (held < mib) {
        if (grow_one() < 0) { alloc_failures++; return -1; }
    }
    return 0;
}

/* rewrite held memory at dirty_rate MiB/s; called every tick */
static void dirty_tick(double dt)
{
    if (dirty_rate <= 0 || held == 0) { dirty_credit = 0; return; }
    dirty_credit += dirty_rate * dt;
    while (dirty_credit >= 1) {
        if (dirty_pos >= held) { dirty_pos = 0; dirty_round++; }
        touch(dirty_pos++, dirty_round + 1);
        dirty_credit -= 1;
    }
}

/* ---- port --------------------------------------------------------------- */

static int port_fd = -1;

/* the /dev/vportNpM whose name is PORT_NAME */
static int open_port(void)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    int fd = -1;
    if (!d) return -1;
    while (fd < 0 && (e = readdir(d))) {
        char path[300], name[128] = "";
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = 0;
        fclose(f);
        if (strcmp(name, PORT_NAME)) continue;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) say("port %s is %s", PORT_NAME, path);
    }
    closedir(d);
    return fd;
}

static void reply(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    /* A request can arrive before the guest kernel has seen the "host
       connected" message; until then writes fail with EAGAIN. Retry a while
       rather than drop the reply. */
    double give_up = now() + 1;
    for (int off = 0; off < n;) {
        ssize_t w = write(port_fd, buf + off, n - off);
        if (w > 0) { off += w; continue; }
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || now() > give_up) return;
        usleep(5000);
    }
}

static void command(char *line)
{
    char *cmd = strtok(line, " \t\r");
    char *arg = strtok(NULL, " \t\r");
    char *end = NULL;
    if (!cmd) return;
    if (!strcmp(cmd, "ping")) {
        reply("ok pong uptime=%.2f", now());
    } else if (!strcmp(cmd, "status")) {
        reply("ok uptime=%.2f counter=%lu held=%ld dirty=%g memtotal_kib=%ld memfree_kib=%ld memavail_kib=%ld "
              "alloc_failures=%ld restarts=%ld boot_id=%s",
              now(), counter, held, dirty_rate, meminfo_kib("MemTotal"), meminfo_kib("MemFree"),
              meminfo_kib("MemAvailable"), alloc_failures, restarts, boot_id);
    } else if (!strcmp(cmd, "hold") && arg) {
        long mib = strtol(arg, &end, 10);
        if (*end || mib < 0) { reply("err hold: bad size '%s' (MiB)", arg); return; }
        if (hold(mib) == 0) {
            say("holding %ld MiB", held);
            reply("ok held=%ld", held);
        } else {
            say("hold %ld MiB: out of memory at %ld MiB", mib, held);
            reply("err hold: out of memory at held=%ld (wanted %ld, MemAvailable %ld KiB)", held, mib,
                  meminfo_kib("MemAvailable"));
        }
    } else if (!strcmp(cmd, "grab") && arg) {
        long mib = strtol(arg, &end, 10);
        if (*end || mib < 0) { reply("err grab: bad size '%s' (MiB)", arg); return; }
        no_reserve = 1;
        int r = hold(mib);
        no_reserve = 0;
        if (r == 0) reply("ok held=%ld", held);
        else reply("err grab: failed at held=%ld (wanted %ld)", held, mib);
    } else if (!strcmp(cmd, "spin") && arg) {
        long s = strtol(arg, &end, 10);
        if (*end || s < 0) { reply("err spin: bad seconds '%s'", arg); return; }
        pid_t child = fork();
        if (child == 0) {
            double until = now() + s;
            volatile unsigned long x = 0;
            while (now() < until) x++;
            _exit(0);
        }
        if (child < 0) reply("err spin: fork failed");
        else reply("ok spin=%ld", s);
    } else if (!strcmp(cmd, "dirty") && arg) {
        double rate = strtod(arg, &end);
        if (*end || rate < 0) { reply("err dirty: bad rate '%s' (MiB/s)", arg); return; }
        dirty_rate = rate;
        say("rewriting held memory at %g MiB/s", rate);
        reply("ok dirty=%g", rate);
    } else {
        reply("err unknown command '%s' (ping | status | hold MiB | grab MiB | dirty MiB/s | spin S)", cmd);
    }
}

/* read what the host sent and run every complete line */
static void serve(void)
{
    static char in[1024];
    static size_t len;
    ssize_t r;
    while ((r = read(port_fd, in + len, sizeof in - 1 - len)) > 0) {
        len += r;
        char *nl;
        while ((nl = memchr(in, '\n', len))) {
            *nl = 0;
            command(in);
            len -= nl + 1 - in;
            memmove(in, nl + 1, len);
        }
        if (len == sizeof in - 1) len = 0; /* overlong line: drop it */
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--restarts")) restarts = atol(argv[2]);
    signal(SIGCHLD, SIG_IGN); /* spin children reap themselves */
    /* be the OOM killer's first choice, so init survives and restarts us */
    FILE *f = fopen("/proc/self/oom_score_adj", "w");
    if (f) { fputs("1000", f); fclose(f); }
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) { if (fgets(boot_id, sizeof boot_id, f)) boot_id[strcspn(boot_id, "\n")] = 0; fclose(f); }
    say("started (restarts=%ld)", restarts);

    double next_tick = now(), next_open = 0;
    for (;;) {
        double t = now();
        if (port_fd < 0 && t >= next_open) {
            port_fd = open_port();
            next_open = t + 1;
        }
        if (t >= next_tick) {
            counter++;
            dirty_tick(TICK);
            next_tick = t + TICK;
        }
        int wait_ms = (int)((next_tick - t) * 1000) + 1;
        struct pollfd p = { port_fd, POLLIN, 0 };
        int n = port_fd >= 0 ? poll(&p, 1, wait_ms) : 0;
        if (n > 0 && (p.revents & POLLIN)) serve();
        else if (n != 0 || port_fd < 0) usleep(wait_ms * 1000); /* no host connected: POLLHUP at once */
    }
}
