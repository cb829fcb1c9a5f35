# Sourced by scripts/test.sh: a throw-away Kafka-protocol broker (Tansu, a Rust broker) on a
# free loopback port for the stream crate's end-to-end tests. Installs `tansu` into
# $SHOPSENSE_TOOLS/bin with `cargo install --locked tansu --features dynostore` when missing
# (idempotent; ≈10 min cold on 2 cores, then reused), runs it with in-memory storage, waits
# until the port answers, exports SHOPSENSE_KAFKA_BROKERS and appends its pid to SERVICE_PIDS.
# Also installs Chromium (apt) for the dashboard test when missing.
_tools="${SHOPSENSE_TOOLS:-$HOME/.cache/shopsense-tools}"
if [ ! -x "$_tools/bin/tansu" ]; then
  echo "kafka.sh: installing tansu (cargo install, takes ~10 min cold)"
  CARGO_TARGET_DIR="${SHOPSENSE_TANSU_TARGET:-$HOME/.cache/t-tansu}" \
    cargo install --locked tansu --version 0.6.0 --features dynostore --root "$_tools" >/dev/null \
    || { echo "kafka.sh: could not install tansu" >&2; return 1 2>/dev/null || exit 1; }
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "kafka.sh: installing chromium (apt) for the dashboard test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "kafka.sh: could not install chromium (the dashboard test will fail)" >&2
fi
_kafka_dir=$(mktemp -d "${TMPDIR:-/tmp}/shopsense-kafka.XXXXXX")
_kafka_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$_tools/bin/tansu" broker \
  --listener-url "tcp://127.0.0.1:$_kafka_port" \
  --advertised-listener-url "tcp://127.0.0.1:$_kafka_port" \
  --storage-engine "memory://tansu/" \
  >"$_kafka_dir/tansu.log" 2>&1 &
_kafka_pid=$!
SERVICE_PIDS+=("$_kafka_pid")
for _i in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$_kafka_port") 2>/dev/null; then break; fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$_kafka_port") 2>/dev/null; then
  echo "kafka.sh: tansu did not start (log: $_kafka_dir/tansu.log)" >&2
  return 1 2>/dev/null || exit 1
fi
export SHOPSENSE_KAFKA_BROKERS="127.0.0.1:$_kafka_port"
echo "kafka.sh: $SHOPSENSE_KAFKA_BROKERS (pid $_kafka_pid, log $_kafka_dir/tansu.log)"
unset _tools _kafka_dir _kafka_port _kafka_pid _i
