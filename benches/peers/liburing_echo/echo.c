/*
 * liburing_echo — a hand-tuned io_uring echo server, the "floor" the ringloop echo server is
 * compared with (benches/echo_compare.sh, server name `liburing`).
 *
 * What it uses: IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (6.1), multishot accept (5.19),
 * multishot recv from a provided-buffer ring (6.0), and it sends straight out of the ring buffer
 * the kernel filled (zero copies in user space), returning the buffer when the send completes.
 * No per-message allocation, no bookkeeping beyond the 64-bit user_data.
 *
 * A partial send is completed by resubmitting the rest. Sends on one socket are not serialised
 * (fine for the echo benchmark, where loadgen verifies every byte and would report a reordering).
 *
 * Build: cc -O2 -o liburing_echo echo.c -luring      (Debian: apt-get install liburing-dev)
 * Run:   ./liburing_echo --addr 127.0.0.1:7000
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define ENTRIES 4096
#define NBUFS 1024 /* power of two */
#define BUFSZ 4096
#define BGID 0

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

/* user_data: op (4 bits) | buffer id (16) | send offset (13) | send length (13) | fd (18) */
static inline uint64_t ud(unsigned op, unsigned bid, unsigned off, unsigned len, int fd) {
    return ((uint64_t)op << 60) | ((uint64_t)bid << 44) | ((uint64_t)off << 31) |
           ((uint64_t)len << 18) | (uint64_t)(fd & 0x3ffff);
}

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(int lfd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, 0, 0, 0, lfd));
}

static void arm_recv(int fd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ud(OP_RECV, 0, 0, 0, fd));
}

/* Sends bytes [off, len) of ring buffer `bid`; the buffer goes back to the ring once all is sent. */
static void send_buf(int fd, unsigned bid, unsigned off, unsigned len) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, fd, bufs + (size_t)bid * BUFSZ + off, len - off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(OP_SEND, bid, off, len, fd));
}

static void give_back(unsigned bid) {
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, bid, io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(br, 1);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:7000";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--addr") && i + 1 < argc) addr = argv[++i];
        else { fprintf(stderr, "usage: %s [--addr IP:PORT]\n", argv[0]); return 2; }
    }
    char host[64]; int port;
    if (sscanf(addr, "%63[^:]:%d", host, &port) != 2) { fprintf(stderr, "bad --addr %s\n", addr); return 2; }
    signal(SIGINT, on_signal); signal(SIGTERM, on_signal); signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096)) { perror("listen"); return 1; }

    struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                 .cq_entries = ENTRIES * 4 };
    p.flags |= IORING_SETUP_CQSIZE;
    int ret = io_uring_queue_init_params(ENTRIES, &ring, &p);
    if (ret) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret)); return 1; }

    size_t ring_sz = NBUFS * sizeof(struct io_uring_buf);
    br = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bufs = malloc((size_t)NBUFS * BUFSZ);
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID };
    if ((ret = io_uring_register_buf_ring(&ring, &reg, 0))) { fprintf(stderr, "buf ring: %s\n", strerror(-ret)); return 1; }
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, i, io_uring_buf_ring_mask(NBUFS), i);
    io_uring_buf_ring_advance(br, NBUFS);

    printf("LISTENING %s\n", addr);
    fflush(stdout);
    arm_accept(lfd);
    unsigned long msgs = 0;
    while (!stop) {
        ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR) { fprintf(stderr, "submit_and_wait: %s\n", strerror(-ret)); break; }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t u = cqe->user_data;
            unsigned op = u >> 60, bid = (u >> 44) & 0xffff, off = (u >> 31) & 0x1fff,
                     len = (u >> 18) & 0x1fff;
            int fd = u & 0x3ffff, res = cqe->res;
            if (op == OP_ACCEPT) {
                if (res >= 0) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(lfd);
            } else if (op == OP_RECV) {
                if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
                    unsigned b = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    msgs++;
                    /* echo straight out of the kernel-filled buffer; it returns on send completion */
                    send_buf(fd, b, 0, (unsigned)res);
                    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(fd);
                } else if (res == -ENOBUFS) {
                    arm_recv(fd);
                } else if (res <= 0) {
                    if (cqe->flags & IORING_CQE_F_BUFFER) give_back(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    if (!(cqe->flags & IORING_CQE_F_MORE)) close(fd);
                }
            } else if (op == OP_SEND) {
                if (res >= 0 && off + (unsigned)res < len)
                    send_buf(fd, bid, off + (unsigned)res, len); /* short send: the rest */
                else
                    give_back(bid); /* done, or the connection failed */
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    fprintf(stderr, "stopped after %lu messages\n", msgs);
    io_uring_queue_exit(&ring);
    return 0;
}
