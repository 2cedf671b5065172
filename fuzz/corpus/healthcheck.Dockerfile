FROM nginx
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1.5s --retries=3 CMD ["curl","-f","http://localhost/"]
HEALTHCHECK NONE
STOPSIGNAL SIGTERM
EXPOSE 80/tcp 443
