FROM a
ENV A="Ó x"
