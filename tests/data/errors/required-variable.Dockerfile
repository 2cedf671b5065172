FROM busybox
LABEL version="${VERSION:?set VERSION with --build-arg}"
