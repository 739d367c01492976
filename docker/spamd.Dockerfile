# SpamAssassin's spamd for routes with spam_check (compose.yaml, profile "spamd"). Local rules only;
# run sa-update in it to fetch current ones.
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends spamd spamassassin \
  && rm -rf /var/lib/apt/lists/*
EXPOSE 783
CMD ["/usr/sbin/spamd", "--listen", "0.0.0.0:783", "--allowed-ips", "0.0.0.0/0", "--max-children", "2", "--username", "debian-spamd", "--syslog", "stderr"]
