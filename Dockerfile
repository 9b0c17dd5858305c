# The ledgersync binary in a slim Debian image: migrate, worker, api and the NetSuite
# simulator are all `ledgersync <command>` (see docker-compose.yml).
#
#   docker build -t ledgersync:local .

ARG SWIFT_VERSION=6.1

FROM swift:${SWIFT_VERSION}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest first, so a source change does not re-fetch the dependencies.
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
# The manifest names the test targets; SwiftPM wants their folders even for a release build.
COPY Tests Tests
RUN swift build -c release --product ledgersync --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/ledgersync" /out/ledgersync

FROM debian:bookworm-slim AS runtime
# libpq5 (PostgreSQL), libcurl4 (outgoing HTTP), libssl3 (libcrypto: sealing, HMAC, TLS);
# the Swift runtime is linked in statically.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libcurl4 libssl3 libstdc++6 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home ledgersync
COPY --from=build /out/ledgersync /usr/local/bin/ledgersync
USER ledgersync
ENTRYPOINT ["ledgersync"]
CMD ["--help"]
