# Stand-in for the official caddy:2 image, built from Debian's caddy package
# (no registry here): same config path, data and config directories, command.
FROM ots-standin/debian:bookworm
ENV XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
EXPOSE 80 443
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
