FROM a
HEALTHCHECK --interval=.. CMD x
