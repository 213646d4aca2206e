# Stand-in for the official redis image: its working directory /data is a
# volume owned by redis, and its entrypoint drops from root to redis.
FROM ots-standin/debian:bookworm
COPY standin-redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
    && install -d -o redis -g redis /data
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
