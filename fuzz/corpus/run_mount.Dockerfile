FROM busybox
ARG ID=c1
RUN --mount=type=cache,target=/c,id=${ID},sharing=locked,mode=0755,uid=1 \
    --mount=type=tmpfs,target=/t,size=64m \
    --mount=type=secret,id=tok,required,env=TOK \
    --network=none --security=sandbox ["sh","-c","ls /c"]
