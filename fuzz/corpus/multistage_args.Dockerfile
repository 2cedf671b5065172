ARG IMG=debian
ARG TAG=${IMG}-slim
FROM ${IMG}:${TAG:-latest} AS build
ARG TAG
ENV P=/opt/${TAG} Q="${P#/opt}" R=${P%%-*}
FROM build AS test
COPY --from=build --chown=1:1 /a /b
FROM scratch
COPY --from=1 ${P/opt/srv} /
