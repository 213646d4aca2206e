# Stand-in for the official postgres image: honours POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB, keeps data in /var/lib/postgresql/data,
# and has pg_isready on PATH for the compose healthcheck.
FROM ots-standin/debian:bookworm
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY standin-postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
