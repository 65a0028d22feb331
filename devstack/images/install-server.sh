#!/bin/sh
# install-server.sh ENGINE VERSION [SUITE]: the Debian package of ENGINE's server (redis or valkey) at VERSION, from
# SUITE (e.g. bookworm-backports) when given, under a user of uid/gid 999 as in the official images; gosu to drop
# privileges; /data owned by that user. Fails when the suite's package is not VERSION.
set -eu
engine=$1 version=$2 suite=${3:-}

groupadd --system --gid 999 "$engine"
useradd --system --uid 999 --gid 999 --home-dir /data --no-create-home --shell /usr/sbin/nologin "$engine"
if [ -n "$suite" ]; then
	# the same mirror as the image's own suite
	sed -n "s|^deb \([^ ]*\) [^ ]* |deb \1 $suite |p" /etc/apt/sources.list | head -n 1 >/etc/apt/sources.list.d/extra.list
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${suite:+-t "$suite"} \
	"$engine-server" "$engine-tools" gosu >/dev/null
rm -rf /var/lib/apt/lists/* /etc/apt/sources.list.d/extra.list
"$engine-server" --version
"$engine-server" --version | grep -q " v=$version " || { echo "expected $engine $version" >&2; exit 1; }
mkdir -p /data
chown "$engine:$engine" /data
rm -f "$0"
