#!/bin/sh
# Make sure the local PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) answer: start
# whichever does not (the commands in GUIDE.md), wait for it, and fail loudly if it still does
# not answer. Usage: .ci/services.sh [postgresql] [mysql]   (default: both)
set -u

WAIT_SECONDS=${WAIT_SECONDS:-60}

# the clients that come with the servers; a login and a query, not just an open port
answers() {
	case "$1" in
	postgresql) PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 ;;
	mysql) mysql --connect-timeout=3 -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null 2>&1 ;;
	esac
}

start() {
	case "$1" in
	postgresql)
		for version in $(ls /etc/postgresql); do
			pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
		done
		;;
	mysql)
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
		;;
	esac
}

check() {
	client=psql
	[ "$1" = mysql ] && client=mysql
	if ! command -v "$client" >/dev/null 2>&1; then
		echo "services: ERROR: $client (the $1 client) is not installed" >&2
		return 1
	fi
	if answers "$1"; then
		echo "services: $1 answers"
		return 0
	fi
	echo "services: $1 does not answer: starting it"
	start "$1"
	i=0
	while [ "$i" -lt "$((WAIT_SECONDS * 4))" ]; do
		if answers "$1"; then
			echo "services: $1 answers"
			return 0
		fi
		sleep 0.25
		i=$((i + 1))
	done
	echo "services: ERROR: $1 still does not answer after ${WAIT_SECONDS}s (see GUIDE.md, 'Services on this machine kind')" >&2
	return 1
}

status=0
kinds=${*:-postgresql mysql}
for kind in $kinds; do
	case "$kind" in
	postgresql | mysql) check "$kind" || status=1 ;;
	*) echo "services: unknown service $kind (postgresql, mysql)" >&2; status=2 ;;
	esac
done
exit "$status"
