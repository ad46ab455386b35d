/*
 * The least a process can spend per VRRP advert on this machine: the floor under vipd's and
 * keepalived's CPU figures (benches/advert_floor.sh runs it).
 *
 *   advert_floor INTERVAL_US            a Master: one 12-byte VRRP-sized payload on a raw
 *                                       IPPROTO 112 socket to 224.0.0.18 out of eth0 at each
 *                                       absolute deadline of a timerfd (epoll_wait +
 *                                       timerfd_settime + sendto: vipd's system calls)
 *   advert_floor INTERVAL_US -e         the same, waiting in epoll_wait's millisecond
 *                                       timeout instead of a timerfd (keepalived's way)
 *   advert_floor INTERVAL_US -b         a Backup: joins 224.0.0.18 on eth0 and receives
 *                                       (epoll_wait + recv)
 *
 * No parsing, no checksum, no state: whatever a real daemon spends above these figures is its
 * own work. Runs until killed.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s INTERVAL_US [-e|-b]\n", argv[0]);
        return 2;
    }
    long us = atol(argv[1]);
    int backup = argc > 2 && !strcmp(argv[2], "-b");
    int epoll_timeout = argc > 2 && !strcmp(argv[2], "-e");
    int s = socket(AF_INET, SOCK_RAW, 112);
    int ep = epoll_create1(0);
    if (s < 0 || ep < 0) {
        perror("socket");
        return 1;
    }
    struct ip_mreqn group = {0};
    group.imr_ifindex = (int)if_nametoindex("eth0");
    struct epoll_event out[4];
    if (backup) {
        group.imr_multiaddr.s_addr = inet_addr("224.0.0.18");
        if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &group, sizeof group)) {
            perror("IP_ADD_MEMBERSHIP");
            return 1;
        }
        struct epoll_event e = {.events = EPOLLIN, .data.fd = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
        char buf[2048];
        for (;;) {
            if (epoll_wait(ep, out, 4, 1000) > 0) {
                recv(s, buf, sizeof buf, 0);
            }
        }
    }
    unsigned char ttl = 255;
    setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, 1);
    if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &group, sizeof group)) {
        perror("IP_MULTICAST_IF");
        return 1;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET};
    dst.sin_addr.s_addr = inet_addr("224.0.0.18");
    unsigned char payload[12] = {0x31, 51, 150, 1, 0, 100, 0, 0, 10, 200, 9, 100};
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.fd = tfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    long failed = 0;
    for (;;) {
        deadline.tv_nsec += us * 1000;
        while (deadline.tv_nsec >= 1000000000) {
            deadline.tv_nsec -= 1000000000;
            deadline.tv_sec++;
        }
        if (epoll_timeout) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long ms = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
            epoll_wait(ep, out, 4, ms > 0 ? (int)ms : 0);
        } else {
            struct itimerspec at = {.it_value = deadline};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &at, NULL);
            epoll_wait(ep, out, 4, -1);
        }
        if (sendto(s, payload, sizeof payload, 0, (struct sockaddr *)&dst, sizeof dst) < 0 && !failed++) {
            perror("sendto");
        }
    }
}
