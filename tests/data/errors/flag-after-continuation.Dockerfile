FROM busybox
RUN apt-get update && \
    apt-get install -y curl
COPY --chown=app:app \
     --bogus=1 \
     a b
