// Thin C shims for Linux syscalls and macros that Glibc does not expose to
// Swift. Each returns -1 and leaves errno set on failure unless noted.
#ifndef CSYSTEM_H
#define CSYSTEM_H

#include <stdint.h>
#include <sys/types.h>
#include <signal.h>

typedef struct {
    uint32_t events;
    uint64_t data;
} cs_epoll_event;

enum {
    CS_EPOLLIN = 0x001,
    CS_EPOLLOUT = 0x004,
    CS_EPOLLERR = 0x008,
    CS_EPOLLHUP = 0x010,
    CS_EPOLLRDHUP = 0x2000,
    CS_EPOLLET = (int)(1u << 31),
};

int cs_epoll_create(void);
int cs_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int cs_epoll_mod(int epfd, int fd, uint32_t events, uint64_t data);
int cs_epoll_del(int epfd, int fd);
int cs_epoll_wait(int epfd, cs_epoll_event *events, int maxevents, int timeout_ms);

// Signals: block `sigs` in the calling thread (before any other thread
// exists, so every later thread inherits the mask) and open a signalfd.
int cs_block_signals(const int *sigs, int count);
int cs_unblock_all_signals(void);
int cs_signalfd(const int *sigs, int count);
// Reads one siginfo; returns 1 and fills signo/pid, 0 when none is pending.
int cs_signalfd_read(int fd, int *signo, int *pid);

int cs_timerfd_create(void);
// Arms the timer at an absolute CLOCK_MONOTONIC time; 0 disarms it.
int cs_timerfd_set_abs(int fd, uint64_t deadline_ns);
int cs_timerfd_drain(int fd);
uint64_t cs_monotonic_ns(void);
int64_t cs_realtime_ns(void);

int cs_eventfd(void);
int cs_eventfd_signal(int fd);
int cs_eventfd_drain(int fd);

int cs_pipe(int fds[2], int nonblock_read, int nonblock_write);
int cs_accept(int fd, int nonblock);
int cs_set_nonblocking(int fd, int on);
int cs_set_cloexec(int fd, int on);

int cs_set_child_subreaper(void);
int cs_set_pdeathsig(int sig);

// Spawns `path` with posix_spawn(p) in a new session (or process group when
// new_session is 0 and new_pgroup is 1), with the given fds as 0/1/2 (-1 =
// inherit), `dir` as cwd (NULL = inherit), every other fd closed, the signal
// mask emptied and every signal reset to its default, and, when ncpus > 0,
// the CPU affinity `cpus` from its start. Returns 0 or an errno.
int cs_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
             const char *dir, int fd0, int fd1, int fd2,
             int new_session, int new_pgroup, int search_path,
             const int *cpus, int ncpus);

int cs_wifexited(int status);
int cs_wexitstatus(int status);
int cs_wifsignaled(int status);
int cs_wtermsig(int status);
int cs_wcoredump(int status);
// waitpid(-1, WNOHANG): returns the pid (>0), 0 when none is ready, -1 on error.
pid_t cs_reap_one(int *status);

int cs_cpu_count_affinity(void);
// The CPUs of this thread's affinity mask, ascending, at most `max`; -1 on error.
int cs_affinity_list(int *cpus, int max);
int cs_errno(void);
const char *cs_signal_name(int sig);

// Sockets for the proxy and listeners. Addresses are text: an IPv4 or IPv6
// literal (no brackets) and a port, or a unix path.
// Accepts one connection (non-blocking, close-on-exec) and writes the peer's
// address as text into ip (empty for unix peers).
int cs_accept_peer(int fd, char *ip, int iplen);
// A bound, listening, non-blocking TCP socket; errno set on failure.
int cs_listen_tcp(const char *host, int port, int backlog);
// Starts a non-blocking connect; *in_progress is 1 when it is still going.
int cs_connect_tcp(const char *host, int port, int *in_progress);
int cs_connect_unix(const char *path, int *in_progress);
int cs_set_nodelay(int fd);
// TCP_QUICKACK: acknowledge what was received now, not up to 40 ms later
// (a worker with Nagle on waits for that ACK before its next small write).
int cs_set_quickack(int fd);
// SO_LINGER 0: close() sends RST (an aborted response must not look complete).
int cs_set_linger_zero(int fd);
int cs_socket_error(int fd);
int cs_shutdown_write(int fd);
// The port a TCP socket is bound to (either family), or -1.
int cs_local_port(int fd);
// Whether the socket has unread input or EOF waiting, without blocking:
// 1 readable/EOF/error, 0 quiet (the pooled-connection check).
int cs_poll_readable(int fd);
// Bytes written to a socket that the peer has not taken yet (SIOCOUTQ); -1 on error.
long cs_socket_unsent(int fd);
// 64 bits from the kernel's random pool (getrandom), for request ids.
uint64_t cs_random_u64(void);
// Raises the soft RLIMIT_NOFILE to `want` (capped at the hard limit);
// returns the soft limit in force afterwards.
long cs_raise_nofile(long want);
// The inodes of TCP sockets listening on `port` (IPv4 and IPv6), asked of
// the kernel over NETLINK_SOCK_DIAG for LISTEN sockets only: a handful of
// entries, where /proc/net/tcp lists every connection (16k TIME_WAIT rows
// after a load test took 100 ms to read). Returns how many were written
// (at most max), or -1 when the kernel does not answer (then read /proc).
int cs_tcp_listen_inodes(int port, uint64_t *inodes, int max);

// send(2) with `count` (at most 8) descriptors attached as SCM_RIGHTS to
// the first byte sent; MSG_NOSIGNAL. Returns bytes sent or -1 (errno).
long cs_send_with_fds(int fd, const void *buf, unsigned long len, const int *fds, int count);

#endif
