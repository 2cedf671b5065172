# escape=`
# syntax=docker/dockerfile:1
FROM mcr.microsoft.com/windows AS w
RUN dir `
    c:\\ `
    /s
ENV A=`$B C="x`"y"
ADD --chmod=644 --link --keep-git-dir=true https://x/y.git c:\\y
