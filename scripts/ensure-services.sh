#!/usr/bin/env bash
# Make sure the PostgreSQL and RabbitMQ that Hookline talks to are answering.
#
# For each of HOOKLINE_DATABASE_URL and HOOKLINE_AMQP_URL (defaults: local servers):
#   answering            -> nothing to do
#   local, installed     -> start it, wait until it answers
#   local, not installed -> on Debian as root: apt-get install, then start; else say what to install
#   remote host          -> only probe; a remote server is not ours to start
# Prints one line per service; exits non-zero if either is not answering at the end.
#
# HOOKLINE_ENSURE_TIMEOUT (seconds, default 60) bounds each wait.
set -euo pipefail

DATABASE_URL=${HOOKLINE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/hookline}
AMQP_URL=${HOOKLINE_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
WAIT_SECONDS=${HOOKLINE_ENSURE_TIMEOUT:-60}
LOG_DIR=${TMPDIR:-/tmp}
# pg_ctlcluster and rabbitmq-server live in sbin, which a non-login shell may lack.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

APT_UPDATED=0

say() { printf '%-10s %s\n' "$1" "$2"; }
fail() {
	say "$1" "$2" >&2
	exit 1
}

# url_host_port URL DEFAULT_PORT -> prints "host port"
url_host_port() {
	local rest=${1#*://}
	rest=${rest%%[/?#]*}
	rest=${rest##*@}
	local host port
	if [[ $rest == \[* ]]; then
		host=${rest%%]*}
		host=${host#[}
		port=${rest#*]}
		port=${port#:}
	elif [[ $rest == *:* ]]; then
		host=${rest%%:*}
		port=${rest##*:}
	else
		host=$rest
		port=
	fi
	printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$2}"
}

show_addr() {
	if [[ $1 == *:* ]]; then printf '[%s]:%s\n' "$1" "$2"; else printf '%s:%s\n' "$1" "$2"; fi
}

is_local_host() {
	case $1 in
	localhost | 127.* | ::1 | 0.0.0.0) return 0 ;;
	*) return 1 ;;
	esac
}

can_apt_install() {
	[[ -f /etc/debian_version && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null
}

apt_install() {
	if [[ $APT_UPDATED -eq 0 ]]; then
		say apt "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$LOG_DIR/hookline-apt.log" 2>&1 ||
			fail apt "apt-get update failed; see $LOG_DIR/hookline-apt.log"
		APT_UPDATED=1
	fi
	say apt "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null >>"$LOG_DIR/hookline-apt.log" 2>&1 ||
		fail apt "apt-get install $* failed; see $LOG_DIR/hookline-apt.log"
}

log_excerpt() { head -c 200 "$1" | tr -s '\n' ' ' | sed 's/ *$//'; }

# wait_until NAME SECONDS PROBE... -> 0 once PROBE succeeds, 1 after SECONDS
wait_until() {
	local deadline=$((SECONDS + $2))
	shift 2
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 1
	done
}

# --- PostgreSQL -------------------------------------------------------------------------------

pg_probe() {
	if command -v pg_isready >/dev/null; then
		pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 3
	else
		# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$PG_HOST" "$PG_PORT" 2>/dev/null
	fi
}

pg_cluster_version() {
	# Debian's layout: /etc/postgresql/<version>/main. The newest version wins if several.
	local versions
	# shellcheck disable=SC2012 # version directories are plain numbers
	versions=$(ls /etc/postgresql 2>/dev/null | sort -V) || true
	[[ -n $versions ]] && [[ -d /etc/postgresql/${versions##*$'\n'}/main ]] && printf '%s\n' "${versions##*$'\n'}"
}

# The dev URL carries no password; Debian's fresh cluster wants one over TCP. Only for a
# server this script just installed: loopback connections are trusted, as on the dev machines.
pg_trust_loopback() {
	local hba=/etc/postgresql/$1/main/pg_hba.conf
	sed -Ei 's#^(host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1/32|::1/128)[[:space:]]+)[a-z0-9-]+#\1trust#' "$hba"
	say postgresql "set loopback auth to trust in $hba (fresh dev install)"
}

ensure_postgres() {
	read -r PG_HOST PG_PORT < <(url_host_port "$DATABASE_URL" 5432)
	local where; where=$(show_addr "$PG_HOST" "$PG_PORT")

	if pg_probe; then
		say postgresql "$where up"
		return
	fi
	if ! is_local_host "$PG_HOST"; then
		fail postgresql "$where not answering (remote host from HOOKLINE_DATABASE_URL; not started here)"
	fi

	local version installed_now=0
	version=$(pg_cluster_version) || true
	if [[ -z $version || -z $(command -v pg_ctlcluster) ]]; then
		if command -v postgres >/dev/null || command -v pg_ctl >/dev/null; then
			fail postgresql "$where not answering; PostgreSQL is installed but not as a Debian cluster: start it yourself"
		fi
		can_apt_install || fail postgresql "$where not answering and PostgreSQL is not installed: install it (Debian/Ubuntu: sudo apt-get install postgresql) or set HOOKLINE_DATABASE_URL"
		apt_install postgresql
		version=$(pg_cluster_version) || fail postgresql "installed, but no cluster under /etc/postgresql/*/main (create one: pg_createcluster <version> main)"
		pg_trust_loopback "$version"
		installed_now=1
	fi

	local log=$LOG_DIR/hookline-postgresql-start.log
	local started=$SECONDS wait=$WAIT_SECONDS
	# pg_ctlcluster waits for startup itself, so a failed start gets a short wait only.
	# "Cluster is already running" fails too: a cluster on another port, or one that the
	# package's postinst just started (then reload it for the pg_hba.conf change).
	if ! pg_ctlcluster --skip-systemctl-redirect "$version" main start </dev/null >"$log" 2>&1; then
		wait=10
		if [[ $installed_now -eq 1 ]]; then
			pg_ctlcluster --skip-systemctl-redirect "$version" main reload </dev/null >>"$log" 2>&1 || true
		fi
	fi
	wait_until postgresql "$wait" pg_probe ||
		fail postgresql "$where still not answering after ${wait}s; see $log ($(log_excerpt "$log"))"
	say postgresql "$where started ($((SECONDS - started))s)"
}

# --- RabbitMQ ---------------------------------------------------------------------------------

# A listening socket is not enough: RabbitMQ accepts TCP early in boot. Send the AMQP 0-9-1
# protocol header; a ready broker answers with a Connection.Start method frame (type byte 1).
amqp_probe() {
	local reply
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
	reply=$(timeout 5 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "AMQP\x00\x00\x09\x01" >&3
		head -c 1 <&3 | od -An -tx1
	' _ "$MQ_HOST" "$MQ_PORT" 2>/dev/null) || return 1
	[[ ${reply//[[:space:]]/} == 01 ]]
}

# The default node's pid, if it runs (Debian's layout; RABBITMQ_PID_FILE overrides it).
rabbitmq_pid() {
	local file=${RABBITMQ_PID_FILE:-/var/lib/rabbitmq/mnesia/rabbit@$(hostname -s).pid} pid
	[[ -r $file ]] || file=/var/lib/rabbitmq/mnesia/rabbit@localhost.pid
	pid=$(cat "$file" 2>/dev/null) || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

stop_rabbitmq() {
	local pid
	timeout 30 rabbitmqctl stop </dev/null >"$1" 2>&1 || true
	pid=$(rabbitmq_pid) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_until rabbitmq 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || kill -KILL "$pid" 2>/dev/null || true
}

# Debian's open-files default of 1024 caps the broker's file handles at ~900; a test run
# declares hundreds of quorum queues and a spent budget hangs new connections. Debian's
# /usr/sbin/rabbitmq-server switches user with su, whose pam_limits puts the soft limit back
# to 1024, so as root start the node as its user with setpriv, which keeps the raised limit.
start_rabbitmq() {
	local server=/usr/lib/rabbitmq/bin/rabbitmq-server
	(
		ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
		if [[ $(id -u) -eq 0 && -x $server ]] && id rabbitmq >/dev/null 2>&1 && command -v setpriv >/dev/null; then
			cd /var/lib/rabbitmq &&
				setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq "$server" -detached
		else
			rabbitmq-server -detached
		fi
	) </dev/null >"$1" 2>&1
}

can_raise_rabbitmq_files() {
	[[ $(id -u) -eq 0 && -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && id rabbitmq >/dev/null 2>&1 &&
		command -v setpriv >/dev/null && rabbitmq_pid >/dev/null
}

# The running node's soft open-files limit ("?" when it can't be read).
rabbitmq_files() {
	local pid
	pid=$(rabbitmq_pid) && awk '/^Max open files/ {print $4}' "/proc/$pid/limits" 2>/dev/null || echo "?"
}

rabbitmq_files_ok() {
	local files; files=$(rabbitmq_files)
	[[ $files == unlimited || $files == "?" ]] || ((files >= 4096))
}

ensure_rabbitmq() {
	read -r MQ_HOST MQ_PORT < <(url_host_port "$AMQP_URL" "$([[ $AMQP_URL == amqps:* ]] && echo 5671 || echo 5672)")
	local where; where=$(show_addr "$MQ_HOST" "$MQ_PORT")

	if amqp_probe; then
		if ! is_local_host "$MQ_HOST" || ! can_raise_rabbitmq_files || rabbitmq_files_ok; then
			say rabbitmq "$where up"
			return
		fi
		# Started by the machine's boot (through su): ~900 file handles, which a test run's
		# quorum queues can spend, hanging the broker for later runs. Restart it raised once.
		local log=$LOG_DIR/hookline-rabbitmq-start.log started=$SECONDS
		say rabbitmq "$where up with an open-files limit of $(rabbitmq_files); restarting it with more (durable queues survive)"
		stop_rabbitmq "$log"
		start_rabbitmq "$log"
		wait_until rabbitmq "$WAIT_SECONDS" amqp_probe ||
			fail rabbitmq "$where still not answering after ${WAIT_SECONDS}s; see $log and /var/log/rabbitmq/ ($(log_excerpt "$log"))"
		say rabbitmq "$where restarted with an open-files limit of $(rabbitmq_files) ($((SECONDS - started))s)"
		return
	fi
	if ! is_local_host "$MQ_HOST"; then
		fail rabbitmq "$where not answering (remote host from HOOKLINE_AMQP_URL; not started here)"
	fi

	if ! command -v rabbitmq-server >/dev/null; then
		can_apt_install || fail rabbitmq "$where not answering and RabbitMQ is not installed: install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server) or set HOOKLINE_AMQP_URL"
		apt_install rabbitmq-server
		# Its postinst may have started the broker already.
		if wait_until rabbitmq 5 amqp_probe; then
			say rabbitmq "$where installed and up"
			return
		fi
	fi

	local log=$LOG_DIR/hookline-rabbitmq-start.log
	local started=$SECONDS wait=$WAIT_SECONDS
	# A node that runs but never finishes the AMQP handshake is hung (seen here: its
	# file-handle budget spent by hundreds of queues); starting another one would fail
	# with "node already running". One still booting answers within a short wait.
	if rabbitmq_pid >/dev/null; then
		if wait_until rabbitmq 20 amqp_probe; then
			say rabbitmq "$where up (was still starting)"
			return
		fi
		say rabbitmq "$where: the node runs but does not answer AMQP; restarting it (durable queues survive)"
		stop_rabbitmq "$log"
	fi
	# A failed start ("node already running", a broker still booting) is told by the probe;
	# a start that failed outright gets a short wait only.
	start_rabbitmq "$log" || wait=10
	wait_until rabbitmq "$wait" amqp_probe ||
		fail rabbitmq "$where still not answering after ${wait}s; see $log and /var/log/rabbitmq/ ($(log_excerpt "$log"))"
	say rabbitmq "$where started ($((SECONDS - started))s)"
}

ensure_postgres
ensure_rabbitmq
