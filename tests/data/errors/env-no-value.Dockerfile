FROM busybox
	ENV PATH
