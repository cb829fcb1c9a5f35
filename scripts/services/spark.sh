# Sourced by scripts/test.sh (see README.md here): a real Spark standalone cluster on loopback —
# one master, TWO workers (separate JVMs, 1 core each) and a Spark Connect server
# (the driver) attached to the master. Exports SHOPSENSE_SPARK_REMOTE=sc://127.0.0.1:PORT and
# SHOPSENSE_SPARK_UI (the driver's REST API, used by the executor-kill test); appends every pid
# to SERVICE_PIDS.
#
# SHOPSENSE_SPARK_MASTER=local[2] skips the standalone cluster and runs the Connect server in
# Spark local mode (the benchmark's "Spark local mode"). Memory: SHOPSENSE_SPARK_WORKER_MEMORY
# (per worker, default 1400m), SHOPSENSE_SPARK_EXECUTOR_MEMORY (default 1g) and
# SHOPSENSE_SPARK_DRIVER_MEMORY (default 2g: the tests run several feature jobs at once and the
# driver holds their broadcast tables); the benchmark raises them. The session table comes
# back through the driver (Spark Connect collect), so spark.driver.maxResultSize is unlimited
# by default (SHOPSENSE_SPARK_MAX_RESULT_SIZE) and the driver's memory is the bound.
#
# Spark comes from PyPI: pyspark 4.x ships a full Spark home (jars incl. spark-connect) that
# runs on the installed Java 17; pyspark 3.5 lacks the Connect server jar.

_spark_main() {
  local tools="${SHOPSENSE_TOOLS:-$HOME/.cache/shopsense-tools}"
  local venv="$tools/venv-spark"
  if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pyspark' 2>/dev/null; then
    echo "spark.sh: installing pyspark 4.3.0 into $venv" >&2
    python3 -m venv "$venv" && "$venv/bin/pip" install -q 'pyspark==4.3.0' || return 1
  fi
  local home
  home="$("$venv/bin/python" -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')"
  [ -x "$home/bin/spark-class" ] || { echo "spark.sh: no Spark home in $home" >&2; return 1; }
  export SPARK_HOME="$home"
  local run="${TMPDIR:-/tmp}/shopsense-spark-$$"
  mkdir -p "$run"
  export SPARK_LOG_DIR="$run" SPARK_LOCAL_DIRS="$run/local" SPARK_LOCAL_IP=127.0.0.1
  local base="${SHOPSENSE_SPARK_PORT_BASE:-17000}"
  local mport=$((base + 77)) mui=$((base + 80)) cport=$((base + 2)) uiport=$((base + 40))
  local t0=$SECONDS master="${SHOPSENSE_SPARK_MASTER:-}"
  if [ -z "$master" ]; then
    master="spark://127.0.0.1:$mport"
    "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$mport" --webui-port "$mui" >"$run/master.log" 2>&1 &
    SERVICE_PIDS+=($!)
    local w
    for w in 1 2; do
      SPARK_WORKER_DIR="$run/worker$w" "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
        --host 127.0.0.1 --cores 1 --memory "${SHOPSENSE_SPARK_WORKER_MEMORY:-1400m}" --webui-port $((mui + w)) \
        --work-dir "$run/worker$w" "$master" >"$run/worker$w.log" 2>&1 &
      SERVICE_PIDS+=($!)
    done
    local i
    for i in $(seq 1 120); do
      curl -s "http://127.0.0.1:$mui/json/" 2>/dev/null | grep -q '"aliveworkers" *: *2' && break
      sleep 0.5
    done
  fi
  "$home/bin/spark-submit" --class org.apache.spark.sql.connect.service.SparkConnectServer \
    --name "shopsense Spark Connect" --master "$master" \
    --driver-memory "${SHOPSENSE_SPARK_DRIVER_MEMORY:-2g}" \
    --conf spark.executor.memory="${SHOPSENSE_SPARK_EXECUTOR_MEMORY:-1g}" \
    --conf spark.executor.cores=1 \
    --conf spark.connect.grpc.binding.port="$cport" \
    --conf spark.connect.grpc.binding.address=127.0.0.1 \
    --conf spark.ui.port="$uiport" \
    --conf spark.sql.shuffle.partitions="${SHOPSENSE_SPARK_SHUFFLE_PARTITIONS:-8}" \
    --conf spark.sql.session.timeZone=UTC \
    --conf spark.task.maxFailures=4 \
    --conf spark.driver.maxResultSize="${SHOPSENSE_SPARK_MAX_RESULT_SIZE:-0}" \
    spark-internal >"$run/connect.log" 2>&1 &
  SERVICE_PIDS+=($!)
  local ok=
  for i in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$cport") 2>/dev/null; then ok=1; break; fi
    sleep 0.5
  done
  if [ -z "$ok" ]; then
    echo "spark.sh: Spark Connect did not open port $cport; see $run/connect.log" >&2
    return 1
  fi
  if [ -z "${SHOPSENSE_SPARK_MASTER:-}" ]; then
    # Both executors registered with the driver (one per worker).
    for i in $(seq 1 120); do
      local n
      n=$(curl -s "http://127.0.0.1:$uiport/api/v1/applications" 2>/dev/null | grep -o '"id" *: *"[^"]*"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
      if [ -n "$n" ] && [ "$(curl -s "http://127.0.0.1:$uiport/api/v1/applications/$n/executors" | grep -c '"hostPort"')" -ge 3 ]; then break; fi
      sleep 0.5
    done
  fi
  export SHOPSENSE_SPARK_REMOTE="sc://127.0.0.1:$cport"
  export SHOPSENSE_SPARK_UI="http://127.0.0.1:$uiport"
  echo "spark.sh: $SHOPSENSE_SPARK_REMOTE (master $master) ready in $((SECONDS - t0)) s; logs in $run" >&2
}
_spark_main
