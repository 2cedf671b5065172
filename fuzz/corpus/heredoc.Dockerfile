FROM alpine AS base
ARG NAME=world
RUN <<EOF
echo "hello $NAME"
EOF
RUN 3<<-'END' cat /proc/self/fd/3
	literal $NAME
	END
COPY <<A <<"B" /etc/
a=${NAME:-x}
A
b=$NAME
B
