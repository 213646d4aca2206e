#!/bin/sh
# As the official image's entrypoint: started as root, it gives its working
# directory to the redis user and drops to it (setpriv here, gosu there), so the
# capabilities the compose file grants are tried by the same steps. Listens on
# all interfaces, as the official image does.
set -e
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . ! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@" --bind 0.0.0.0 --protected-mode no
