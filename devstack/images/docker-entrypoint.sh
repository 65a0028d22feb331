#!/bin/sh
# The entrypoint of the Redis and Valkey images, after the official images' docker-entrypoint.sh: options alone
# (`--port 7000`) or a configuration file run the server; started as root, the server drops to the image's user and
# takes ownership of /data; anything else (`redis-cli …`, `sh`) runs as given.
set -e

server=$(ls /usr/bin/valkey-server /usr/bin/redis-server 2>/dev/null | head -n 1)
server=${server##*/}
user=${server%-server}

# first arg is `-f` or `--some-option`, or a configuration file
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- "$server" "$@"
fi

# allow the container to be started with `--user`
if [ "$1" = "$server" ] && [ "$(id -u)" = '0' ]; then
	find . \! -user "$user" -exec chown "$user" '{}' +
	exec gosu "$user" "$0" "$@"
fi

if [ "$1" = "$server" ]; then
	# The official images build the server with protected mode off (a container is reached through its own
	# network); Debian's binary keeps the upstream default, so it is turned off here, before the user's own
	# options (which win) and after a configuration file (which must come first) unless that file sets it.
	shift
	config=
	if [ "${1%.conf}" != "${1:-}" ]; then
		config=$1
		shift
	fi
	if [ -n "$config" ] && grep -qE '^[[:space:]]*protected-mode[[:space:]]' "$config" 2>/dev/null; then
		set -- "$server" "$config" "$@"
	else
		set -- "$server" ${config:+"$config"} --protected-mode no "$@"
	fi
fi

um=$(umask)
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
