# Stand-in for python:3.12-slim, built from Debian packages (no registry here).
FROM ots-standin/debian:bookworm
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
