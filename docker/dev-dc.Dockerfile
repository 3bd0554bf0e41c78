# Development Samba AD DC for docker-compose.yml: the same packages CI installs and the same
# provisioning and fixture scripts the tests use (scripts/dev-dc). Never for production.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends samba-ad-dc samba-ad-provision ldap-utils \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/dev-dc/ /opt/dev-dc/
COPY docker/dev-dc-entry.sh /opt/dev-dc-entry.sh
VOLUME ["/var/lib/dev-dc"]
EXPOSE 636
ENTRYPOINT ["/opt/dev-dc-entry.sh"]
