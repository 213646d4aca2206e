# Stand-in for the official redis image: listens on all interfaces, as it does.
FROM ots-standin/debian:bookworm
RUN printf '#!/bin/sh\nexec "$@" --bind 0.0.0.0 --protected-mode no\n' > /usr/local/bin/docker-entrypoint.sh \
    && chmod 0755 /usr/local/bin/docker-entrypoint.sh
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
