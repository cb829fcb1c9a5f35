# Sourced by scripts/test.sh: a throw-away Redis on a free loopback port for the serve
# crate's two-replica test. Installs redis-server from apt when missing (idempotent), runs it
# with no persistence (--save '', --appendonly no) in a temporary directory, waits until it
# answers PING, exports SHOPSENSE_REDIS_URL and appends its pid to SERVICE_PIDS.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis.sh: installing redis-server (apt)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
    || { echo "redis.sh: could not install redis-server" >&2; return 1 2>/dev/null || exit 1; }
fi
_redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/shopsense-redis.XXXXXX")
_redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
redis-server --bind 127.0.0.1 --port "$_redis_port" --save '' --appendonly no \
  --dir "$_redis_dir" --daemonize no --loglevel warning \
  >"$_redis_dir/redis.log" 2>&1 &
_redis_pid=$!
SERVICE_PIDS+=("$_redis_pid")
for _i in $(seq 1 100); do
  if redis-cli -h 127.0.0.1 -p "$_redis_port" ping 2>/dev/null | grep -q PONG; then break; fi
  sleep 0.1
done
if ! redis-cli -h 127.0.0.1 -p "$_redis_port" ping 2>/dev/null | grep -q PONG; then
  echo "redis.sh: redis-server did not start (log: $_redis_dir/redis.log)" >&2
  return 1 2>/dev/null || exit 1
fi
export SHOPSENSE_REDIS_URL="redis://127.0.0.1:$_redis_port"
echo "redis.sh: $SHOPSENSE_REDIS_URL (pid $_redis_pid)"
unset _redis_dir _redis_port _redis_pid _i
