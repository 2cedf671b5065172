FROM busybox
ENV A="unterminated
