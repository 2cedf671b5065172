FROM node:20 AS app
ONBUILD COPY . /app
ONBUILD RUN npm ci
ONBUILD RUN <<EOF
echo hi
EOF
LABEL a=b "c d"="e f"
USER 1000:1000
WORKDIR /app
VOLUME ["/data", "/logs"]
SHELL ["/bin/bash", "-c"]
ENTRYPOINT ["node"]
CMD server.js
