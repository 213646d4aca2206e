# ots: the API image. Multi-stage: the build stage installs the package into a
# venv; the final stage copies only that venv (no compilers, no build cache).
# BASE_IMAGE must provide python3 with the venv module (the official
# python:*-slim images do; so does Debian with python3-venv).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
# Every dependency is a file named in requirements.lock, with its hash: pip
# refuses any other version, any other file, and anything not listed
# (--require-hashes, --no-deps), and takes only wheels (no sdist may run its
# own build). docs/operations.md, "The image and its lock files", says how to regenerate the lock.
COPY requirements.lock requirements-build.lock ./
RUN python3 -m venv /opt/ots \
    && /opt/ots/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: \
        -r requirements.lock
# ots itself: a wheel built by the hashed hatchling of requirements-build.lock in a
# throw-away venv (no build isolation, which would fetch an unpinned one), installed
# with no dependency resolution; pip check proves the lock held all it needs.
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: \
        -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY ots ./ots
COPY migrations ./migrations
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation -w /tmp/dist . \
    && /opt/ots/bin/pip install --no-cache-dir --no-deps /tmp/dist/ots-*.whl \
    && /opt/ots/bin/pip check

FROM ${BASE_IMAGE}
# A fixed, unprivileged user; the SQLite default (if no PostgreSQL is given)
# lives in its home, which compose can put on a volume.
# keys/ holds the server keyring; a named volume mounted there starts with this
# owner and mode 0700, so the first api container can create the key in it.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/ots ots \
    && install -d -m 0700 -o ots -g ots /var/lib/ots/keys
COPY --from=build /opt/ots /opt/ots
ENV PATH=/opt/ots/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OTS_HOST=0.0.0.0 \
    OTS_PORT=8080 \
    OTS_DATABASE_URL=sqlite:///var/lib/ots/ots.sqlite3
USER 10001:10001
WORKDIR /var/lib/ots
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status != 200)"]
# Exec form: ots is PID 1 (or runs under compose's init) and receives SIGTERM;
# Sanic stops cleanly on it. `ots serve` applies pending migrations first.
ENTRYPOINT ["ots"]
CMD ["serve"]
