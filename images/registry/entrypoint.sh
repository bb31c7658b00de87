#!/bin/sh
# The upstream registry:2 entrypoint: a config file or a registry subcommand
# as arguments runs the registry; anything else runs as given.
set -e

case "$1" in
    *.yaml|*.yml) set -- registry serve "$@" ;;
    serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac

exec "$@"
