#define _GNU_SOURCE
#include "CSystem.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int cs_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static int epoll_op(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cs_epoll_add(int epfd, int fd, uint32_t events, uint64_t data) {
    return epoll_op(epfd, EPOLL_CTL_ADD, fd, events, data);
}

int cs_epoll_mod(int epfd, int fd, uint32_t events, uint64_t data) {
    return epoll_op(epfd, EPOLL_CTL_MOD, fd, events, data);
}

int cs_epoll_del(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int cs_epoll_wait(int epfd, cs_epoll_event *events, int maxevents, int timeout_ms) {
    struct epoll_event evs[256];
    if (maxevents > 256) maxevents = 256;
    int n = epoll_wait(epfd, evs, maxevents, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i].events = evs[i].events;
        events[i].data = evs[i].data.u64;
    }
    return n;
}

static void fill_set(sigset_t *set, const int *sigs, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, sigs[i]);
}

int cs_block_signals(const int *sigs, int count) {
    sigset_t set;
    fill_set(&set, sigs, count);
    return sigprocmask(SIG_BLOCK, &set, NULL);
}

int cs_unblock_all_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    return sigprocmask(SIG_SETMASK, &set, NULL);
}

int cs_signalfd(const int *sigs, int count) {
    sigset_t set;
    fill_set(&set, sigs, count);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cs_signalfd_read(int fd, int *signo, int *pid) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n != (ssize_t)sizeof info) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return n < 0 ? -1 : 0;
    }
    *signo = (int)info.ssi_signo;
    *pid = (int)info.ssi_pid;
    return 1;
}

int cs_timerfd_create(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
}

int cs_timerfd_set_abs(int fd, uint64_t deadline_ns) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ull);
    spec.it_value.tv_nsec = (long)(deadline_ns % 1000000000ull);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

int cs_timerfd_drain(int fd) {
    uint64_t expirations;
    return read(fd, &expirations, sizeof expirations) == sizeof expirations ? 0 : -1;
}

uint64_t cs_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t cs_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + (int64_t)ts.tv_nsec;
}

int cs_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cs_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof one) == sizeof one ? 0 : -1;
}

int cs_eventfd_drain(int fd) {
    uint64_t value;
    return read(fd, &value, sizeof value) == sizeof value ? 0 : -1;
}

int cs_set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}

int cs_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, flags);
}

int cs_pipe(int fds[2], int nonblock_read, int nonblock_write) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    if (nonblock_read && cs_set_nonblocking(fds[0], 1) != 0) goto fail;
    if (nonblock_write && cs_set_nonblocking(fds[1], 1) != 0) goto fail;
    return 0;
fail:
    close(fds[0]);
    close(fds[1]);
    return -1;
}

int cs_accept(int fd, int nonblock) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
}

int cs_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int cs_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

static int cs_spawn_now(pid_t *pid, const char *path, char *const argv[], char *const envp[],
             const char *dir, int fd0, int fd1, int fd2,
             int new_session, int new_pgroup, int search_path);

int cs_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
             const char *dir, int fd0, int fd1, int fd2,
             int new_session, int new_pgroup, int search_path,
             const int *cpus, int ncpus) {
    /* A CPU affinity is inherited through fork and kept across exec:
       the calling thread takes the child's mask for the call and gets its
       own back, so the child runs pinned from its first instruction. */
    cpu_set_t saved, wanted;
    if (ncpus > 0) {
        CPU_ZERO(&wanted);
        for (int i = 0; i < ncpus; i++) {
            if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_SET(cpus[i], &wanted);
        }
        if (sched_getaffinity(0, sizeof saved, &saved) != 0) return errno;
        if (sched_setaffinity(0, sizeof wanted, &wanted) != 0) return errno;
    }
    int rc = cs_spawn_now(pid, path, argv, envp, dir, fd0, fd1, fd2, new_session, new_pgroup, search_path);
    if (ncpus > 0) (void)sched_setaffinity(0, sizeof saved, &saved);
    return rc;
}

static int cs_spawn_now(pid_t *pid, const char *path, char *const argv[], char *const envp[],
             const char *dir, int fd0, int fd1, int fd2,
             int new_session, int new_pgroup, int search_path) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }

    int fds[3] = {fd0, fd1, fd2};
    for (int target = 0; target < 3 && rc == 0; target++) {
        if (fds[target] >= 0) rc = posix_spawn_file_actions_adddup2(&actions, fds[target], target);
    }
    if (rc == 0 && dir != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, dir);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_session) flags |= POSIX_SPAWN_SETSID;
    else if (new_pgroup) flags |= POSIX_SPAWN_SETPGROUP;
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &empty);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0 && !new_session && new_pgroup) rc = posix_spawnattr_setpgroup(&attr, 0);

    if (rc == 0) {
        rc = search_path ? posix_spawnp(pid, path, &actions, &attr, argv, envp)
                         : posix_spawn(pid, path, &actions, &attr, argv, envp);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int cs_wifexited(int status) { return WIFEXITED(status); }
int cs_wexitstatus(int status) { return WEXITSTATUS(status); }
int cs_wifsignaled(int status) { return WIFSIGNALED(status); }
int cs_wtermsig(int status) { return WTERMSIG(status); }
int cs_wcoredump(int status) { return WCOREDUMP(status); }

pid_t cs_reap_one(int *status) {
    pid_t pid;
    do {
        pid = waitpid(-1, status, WNOHANG);
    } while (pid < 0 && errno == EINTR);
    if (pid < 0 && errno == ECHILD) return 0;
    return pid;
}

int cs_affinity_list(int *cpus, int max) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    }
    return n;
}

int cs_cpu_count_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    return CPU_COUNT(&set);
}

int cs_errno(void) { return errno; }

const char *cs_signal_name(int sig) { return sigabbrev_np(sig); }

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/un.h>
#include <poll.h>
#include <string.h>

int cs_accept_peer(int fd, char *ip, int iplen) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int c = accept4(fd, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return -1;
    if (ip && iplen > 0) {
        ip[0] = 0;
        if (addr.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, ip, iplen);
        } else if (addr.ss_family == AF_INET6) {
            struct in6_addr *a6 = &((struct sockaddr_in6 *)&addr)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, &a6->s6_addr[12], ip, iplen);
            else inet_ntop(AF_INET6, a6, ip, iplen);
        }
    }
    return c;
}

static int cs_fill_inet(const char *host, int port, struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return AF_INET6;
    }
    errno = EINVAL;
    return -1;
}

int cs_listen_tcp(const char *host, int port, int backlog) {
    struct sockaddr_storage addr;
    socklen_t len;
    int family = cs_fill_inet(host, port, &addr, &len);
    if (family < 0) return -1;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int cs_finish_connect(int fd, int rc, int *in_progress) {
    *in_progress = 0;
    if (rc == 0) return fd;
    if (errno == EINPROGRESS || errno == EINTR || errno == EAGAIN) { *in_progress = 1; return fd; }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int cs_connect_tcp(const char *host, int port, int *in_progress) {
    struct sockaddr_storage addr;
    socklen_t len;
    int family = cs_fill_inet(host, port, &addr, &len);
    if (family < 0) return -1;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return cs_finish_connect(fd, connect(fd, (struct sockaddr *)&addr, len), in_progress);
}

int cs_connect_unix(const char *path, int *in_progress) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    return cs_finish_connect(fd, connect(fd, (struct sockaddr *)&addr, sizeof addr), in_progress);
}

int cs_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int cs_set_quickack(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

int cs_set_linger_zero(int fd) {
    struct linger l = { 1, 0 };
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

int cs_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

int cs_shutdown_write(int fd) { return shutdown(fd, SHUT_WR); }

int cs_local_port(int fd) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return -1;
    if (addr.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return -1;
}

int cs_poll_readable(int fd) {
    struct pollfd p = { fd, POLLIN | POLLRDHUP, 0 };
    int n = poll(&p, 1, 0);
    if (n < 0) return 1;
    return n > 0 ? 1 : 0;
}

#include <sys/ioctl.h>
#include <linux/sockios.h>
long cs_socket_unsent(int fd) {
    int n = 0;
    if (ioctl(fd, SIOCOUTQ, &n) != 0) return -1;
    return n;
}

#include <sys/random.h>
uint64_t cs_random_u64(void) {
    uint64_t value = 0;
    if (getrandom(&value, sizeof value, GRND_NONBLOCK) != sizeof value) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        value = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    return value;
}

#include <sys/resource.h>
long cs_raise_nofile(long want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (want > 0 && (rlim_t)want > rl.rlim_cur) {
        rlim_t target = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) target = rl.rlim_max;
        if (target > rl.rlim_cur) {
            struct rlimit next = { target, rl.rlim_max };
            if (setrlimit(RLIMIT_NOFILE, &next) == 0) rl.rlim_cur = target;
        }
    }
    return (long)rl.rlim_cur;
}

long cs_send_with_fds(int fd, const void *buf, unsigned long len, const int *fds, int count) {
    if (count < 0 || count > 8) { errno = EINVAL; return -1; }
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union { struct cmsghdr header; char space[CMSG_SPACE(8 * sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (count > 0) {
        message.msg_control = control.space;
        message.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(header), fds, count * sizeof(int));
    }
    return (long)sendmsg(fd, &message, MSG_NOSIGNAL);
}

/* One family's LISTEN sockets on `port`; -1 when the kernel refuses. */
static int listen_inodes_of_family(int family, int port, uint64_t *inodes, int max, int count) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -1;
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = (uint8_t)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 1u << 10; /* TCP_LISTEN */
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        close(fd);
        return -1;
    }
    /* Aligned for nlmsghdr; a dump comes in as many datagrams as it needs. */
    static __thread uint64_t buffer[8192 / sizeof(uint64_t)];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            return n == 0 ? count : -1;
        }
        int length = (int)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, length); h = NLMSG_NEXT(h, length)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                close(fd);
                return count;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                close(fd);
                return -1;
            }
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
            struct inet_diag_msg *socket_info = NLMSG_DATA(h);
            if (ntohs(socket_info->id.idiag_sport) == port && socket_info->idiag_inode != 0 && count < max) {
                inodes[count++] = socket_info->idiag_inode;
            }
        }
    }
}

int cs_tcp_listen_inodes(int port, uint64_t *inodes, int max) {
    int v4 = listen_inodes_of_family(AF_INET, port, inodes, max, 0);
    int v6 = listen_inodes_of_family(AF_INET6, port, inodes, max, v4 < 0 ? 0 : v4);
    if (v4 < 0 && v6 < 0) return -1;
    return v6 < 0 ? v4 : v6;
}
