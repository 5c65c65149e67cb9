/* LD_PRELOAD shim for the bench's load generators (wrk): every IPv4 connect() to a
 * loopback address is made from the next of BENCH_SRCADDR_COUNT loopback source addresses
 * starting at BENCH_SRCADDR_BASE (an address ending in .0; .0 and .255 are skipped), so
 * the gateway sees many clients, as its per-address rate limits expect, instead of one.
 * wrk has no option for this; vegeta has -laddr. Without the variables it does nothing.
 *
 *   BENCH_SRCADDR_BASE=127.16.0.0 BENCH_SRCADDR_COUNT=128 LD_PRELOAD=libbench-srcaddr.so wrk ...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
static unsigned long next_index;

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static connect_fn real_connect;
    if (!real_connect) real_connect = (connect_fn)dlsym(RTLD_NEXT, "connect");
    const char *base_text = getenv("BENCH_SRCADDR_BASE");
    const char *count_text = getenv("BENCH_SRCADDR_COUNT");
    if (base_text && count_text && addr && addr->sa_family == AF_INET) {
        const struct sockaddr_in *dest = (const struct sockaddr_in *)addr;
        struct in_addr base;
        unsigned long count = strtoul(count_text, NULL, 10);
        if ((ntohl(dest->sin_addr.s_addr) >> 24) == 127 && count > 0 &&
            inet_pton(AF_INET, base_text, &base) == 1) {
            unsigned long i = __atomic_fetch_add(&next_index, 1, __ATOMIC_RELAXED) % count;
            uint32_t host = (ntohl(base.s_addr) & 0xffffff00u) + (uint32_t)((i / 254) * 256 + i % 254 + 1);
            struct sockaddr_in local = {0};
            local.sin_family = AF_INET;
            local.sin_addr.s_addr = htonl(host);
            int one = 1;
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            /* An already bound socket keeps its address (bind fails with EINVAL). */
            bind(fd, (struct sockaddr *)&local, sizeof local);
        }
    }
    return real_connect(fd, addr, len);
}
